"""The store: migrations, connection settings, optimistic locking, the schema guard."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from outpost.app import App
from store import KNOWN_REVISIONS, MIGRATIONS, SCHEMA_HEAD, migrate, open_store
from tests.conftest import ORG_FILE, local, outpost
from workflow.errors import Conflict, SchemaMismatch


def test_schema_head_is_alembics_head() -> None:
    """The code's SCHEMA_HEAD is the newest migration Alembic knows."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    assert script.get_heads() == [SCHEMA_HEAD]
    assert [r.revision for r in reversed(list(script.walk_revisions()))] == list(KNOWN_REVISIONS)


def test_init_is_idempotent(db_url: str) -> None:
    """`init` twice: created, then nothing to do."""
    assert migrate(db_url) == (None, SCHEMA_HEAD)
    assert migrate(db_url) == (SCHEMA_HEAD, SCHEMA_HEAD)


@pytest.mark.parametrize("old", KNOWN_REVISIONS[:-1])
def test_upgrade_from_an_older_revision_keeps_live_cases_working(db_url: str, make_app: Callable[..., App],
                                                                 old: str) -> None:
    """A database at each older migration, with a pending leave in it, upgrades with `init`; then a tick fires
    the case's due reminder and escalation, and the case is approved."""
    from alembic import command
    from alembic.config import Config

    from store.engine import make_engine

    engine = make_engine(db_url, create=True)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, old)
    engine.dispose()
    # a case opened by the code of that time: through the service, whose tables `old` already has
    before = make_app(db_url, org=None)  # make_app upgrades; so roll the version back by hand afterwards
    before.load_org(ORG_FILE)
    case = before.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"})
    before.close()
    engine = make_engine(db_url)
    with engine.begin() as conn:  # back to `old` through the migrations' own downgrades
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, old)
    engine.dispose()
    with pytest.raises(SchemaMismatch, match="older"):
        open_store(db_url)
    assert migrate(db_url) == (old, SCHEMA_HEAD)
    app = make_app(db_url, org=None)
    report = app.ticker.tick(local(2027, 1, 7, 10, 0))  # reminder and escalation: ends of 5 and 6 Jan
    assert sorted(f["kind"] for f in report.fired if f["case"] == case.id) == ["escalate", "remind_approver"]
    app.service.advance(case.id, "approve", "wang")
    view = app.case_view(case.id)
    assert view["state"] == "approved"
    assert [h["trigger"] for h in view["history"]].count("escalate") == 1
    assert app.verify().ok


def test_a_database_newer_than_this_outpost_is_refused(db_url: str) -> None:
    """An Outpost older than its database refuses to start, saying so."""
    migrate(db_url)
    store = open_store(db_url)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    store.close()
    with pytest.raises(SchemaMismatch, match="newer than this Outpost"):
        open_store(db_url)
    with pytest.raises(SchemaMismatch, match="newer"):
        migrate(db_url)


def test_the_cli_and_the_daemon_refuse_a_database_newer_than_this_outpost_in_one_line(db_url: str,
                                                                                     tmp_path: Path) -> None:
    """`outpost case list` and `outpost daemon` on a database stamped with a revision this Outpost does not
    know: exit 2, one line on stderr saying the database is newer, no traceback."""

    migrate(db_url)
    store = open_store(db_url)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    store.close()
    for args in (["case", "list"], ["daemon"]):
        done = outpost(args, tmp_path, url=db_url)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, (args, done.stderr)
        assert done.stderr.startswith("outpost: ") and "9999, newer than this Outpost" in done.stderr, done.stderr


def test_uninitialised_database_asks_for_init(db_url: str) -> None:
    """Any command on an empty database says: run `outpost init`."""
    with pytest.raises(SchemaMismatch, match="outpost init"):
        open_store(db_url)


def test_sqlite_file_is_private_wal_with_foreign_keys(sqlite_url: str, tmp_path: Path) -> None:
    """The SQLite file (and its WAL and shared-memory files) is readable by its owner only, under the usual
    umask 022; connections use WAL, a busy timeout and foreign keys."""
    previous = os.umask(0o022)  # the usual umask, which would give 0644 to a file created naively
    try:
        migrate(sqlite_url)
        store = open_store(sqlite_url)
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.glob("outpost.db*")}
        store.close()
    finally:
        os.umask(previous)
    assert set(modes) == {"outpost.db", "outpost.db-wal", "outpost.db-shm"}
    assert set(modes.values()) == {0o600}, modes


def test_stale_version_is_a_conflict_and_writes_nothing(app: App) -> None:
    """Writing a case back with an outdated version raises Conflict; the transaction rolls back whole."""
    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"})
    before = app.case_view(case.id)
    with pytest.raises(Conflict), app.store.transaction() as tx:
        fresh = tx.get_case(case.id)
        assert fresh is not None
        fresh.state = "approved"
        fresh.version += 1
        tx.set_meta("probe", {"x": 1})
        tx.update_case(fresh, expected_version=fresh.version + 5)
    assert app.case_view(case.id) == before
    with app.store.transaction(write=False) as tx:
        assert tx.get_meta("probe") is None


def test_naive_datetimes_are_refused_by_the_store(app: App) -> None:
    """A naive datetime never reaches a UTC column."""
    from sqlalchemy import exc as sa_exc

    with pytest.raises((ValueError, sa_exc.StatementError)), app.store.transaction() as tx:
        tx.conn.execute(text("SELECT 1"))
        from store.schema import meta_t

        tx.conn.execute(meta_t.insert().values(key="x", value={}))
        from store.schema import deadline_t

        tx.conn.execute(deadline_t.update().values(due_at=datetime(2027, 1, 1)))
    assert local(2027, 1, 1, 0, 0).tzinfo is not None


def test_the_deadline_queue_claims_only_inside_its_stores_transaction(app: App) -> None:
    """The SQL deadline queue's claim_in/take (typed by the port's CaseTx) refuse a transaction that is not
    a SQL store's with a TypeError naming it, instead of failing deep inside on a missing attribute."""
    class Elsewhere:
        pass

    queue = app.ticker.queue
    with pytest.raises(TypeError, match="not Elsewhere"):
        queue.claim_in(Elsewhere(), "test", local(2027, 3, 1, 0, 0), timedelta(minutes=5), 1)
    with pytest.raises(TypeError, match="not Elsewhere"):
        queue.take(Elsewhere(), 1, "test", local(2027, 3, 1, 0, 0))


def test_the_runtime_schema_is_rendered_from_the_sqlmodel_tables() -> None:
    """store/schema.py (plain Core, for a fast start) is exactly what store/tables.py renders today."""
    import store.tables

    assert (MIGRATIONS.parent / "schema.py").read_text(encoding="utf-8") == store.tables.render_schema()


def test_the_cli_and_the_store_do_not_import_sqlmodel_or_the_postgresql_dialect() -> None:
    """Starting `outpost case show` on SQLite loads neither SQLModel, the ORM, nor the PostgreSQL dialect."""
    import subprocess
    import sys

    code = ("import sys; from outpost.cli import run; import store.sql, outpost.app; "
            "bad = [m for m in ('sqlmodel', 'sqlalchemy.orm', 'sqlalchemy.dialects.postgresql') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_hot_reads_use_their_indexes(sqlite_url: str, make_app: Callable[..., App]) -> None:
    """The prepared statements the engine runs on every request and tick are planned on their indexes:
    a person's open leave (R-2.5) by (subject, process), never by scanning every leave case; due
    deadlines by the partial index on pending ones, never by scanning every deadline; a case's
    deadlines by its id."""
    import sqlite3

    application = make_app(sqlite_url)
    case = application.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"})
    application.service.advance(case.id, "approve", "wang")
    application.ticker.queue.claim("test", local(2027, 3, 1, 0, 0), timedelta(minutes=5), 10)
    prepared = application.store.prepared
    wanted = {"cases_of:3": "USING INDEX ix_cases_subject_process", "claim": "USING INDEX ix_deadline_pending_due",
              "cancel_deadlines": "SEARCH deadline USING INDEX"}  # the unique key's first column, case_id
    assert set(wanted) <= set(prepared)
    db = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    try:
        for key, index in wanted.items():
            sql = prepared[key].sql
            plan = " ".join(str(r[-1]) for r in db.execute(f"EXPLAIN QUERY PLAN {sql}", [None] * sql.count("?")))
            assert index in plan, (key, plan)
            assert "SCAN cases" not in plan and "SCAN deadline" not in plan, (key, plan)
    finally:
        db.close()


def test_a_failed_commit_leaves_no_transaction_open(sqlite_url: str) -> None:
    """A COMMIT that fails and leaves SQLite's transaction open (here a deferred foreign key) is a
    `Conflict`, and the connection does not go back holding the write lock: another process and this
    store write again at once. (SqlStore begins and commits on the driver's connection itself.)"""
    import sqlite3

    migrate(sqlite_url)
    store = open_store(sqlite_url)
    try:
        with pytest.raises(Conflict), store.transaction() as tx:
            tx.conn.execute(text("PRAGMA defer_foreign_keys=ON"))
            tx.conn.execute(text("INSERT INTO person_role (person, role) VALUES ('nobody', 'staff')"))
        other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=0.5, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if the failed transaction were kept
            other.execute("ROLLBACK")
        finally:
            other.close()
        with store.transaction() as tx:
            tx.set_meta("probe", {"ok": True})
        with store.transaction(write=False) as tx:
            assert tx.get_meta("probe") == {"ok": True}
    finally:
        store.close()


def test_sqlite_values_are_written_as_sqlalchemy_writes_them(app: App) -> None:
    """The hot path's own SQLite conversions (store/fast.py) write what SQLAlchemy's types write, for the
    values SQLAlchemy accepts (a datetime or a freezegun date in a DATE column gives its date), and an
    empty set of states asks for nothing."""
    from datetime import date

    from freezegun import freeze_time
    from sqlalchemy import Date
    from sqlalchemy.dialects import sqlite

    from store.fast import _date_to_sqlite

    dialect = sqlite.dialect()
    sa_date = Date().dialect_impl(dialect).bind_processor(dialect)
    assert sa_date is not None
    with freeze_time("2027-01-05"):
        faked = date.today()  # freezegun's FakeDate, a date subclass
    for value in (date(2027, 1, 5), datetime(2027, 1, 5, 9, 30), faked, date(5, 1, 1), None):
        assert _date_to_sqlite(value) == sa_date(value), value
    with app.store.transaction(write=False) as tx:
        assert tx.cases_of("leave", "zhao", ()) == []


def test_a_prepared_statement_fills_its_literals_and_converts_each_column() -> None:
    """store/fast.py writes a function per statement for its parameters and one for its rows: a literal of
    the statement that is not written into its text is filled in (positional on SQLite, by name on
    PostgreSQL), a value given overrides nothing else, and each column of a row goes through its own
    converter."""
    from sqlalchemy import bindparam, select
    from sqlalchemy.dialects import postgresql, sqlite

    from store.fast import Prepared
    from store.schema import cases_t, meta_t

    stmt = select(meta_t.c.value).where(meta_t.c.key == "two words", meta_t.c.value != bindparam("v"))
    lite = Prepared(stmt, sqlite.dialect())
    assert lite.params({"v": {"a": 1}}) == ("two words", '{"a":1}')
    pg = Prepared(stmt, postgresql.psycopg.dialect())
    assert set(pg.params({"v": {"a": 1}}).values()) >= {"two words"}
    with pytest.raises(KeyError):
        lite.params({})  # a value the statement needs is never guessed
    row = Prepared(select(cases_t.c.id, cases_t.c.data, cases_t.c.opened_at), sqlite.dialect()).row(
        (7, '{"名": "赵", "n": [1, 2]}', "2027-01-04 01:00:00.000000"))
    assert row == {"id": 7, "data": {"名": "赵", "n": [1, 2]},
                   "opened_at": datetime.fromisoformat("2027-01-04T01:00:00+00:00")}


def test_a_json_column_sqlalchemy_wrote_is_read_back_by_a_prepared_statement(app: App) -> None:
    """A JSON column is written with orjson by the prepared statements and by SQLAlchemy alike: what
    SQLAlchemy wrote, a prepared statement reads; keys that are not strings come back as strings (as
    json.dumps wrote them), a datetime is refused as json.dumps refused it; on SQLite, Chinese text is
    stored as it is, not as \\u escapes."""
    data = {"理由": "探亲", 3: "three", "nested": {"list": [1, 2.5, None, True]}}
    with app.store.transaction() as tx:
        tx.set_meta("probe", data)  # SQLAlchemy Core's JSON type
    with app.store.transaction(write=False) as tx:
        assert tx.get_meta("probe") == {"理由": "探亲", "3": "three", "nested": {"list": [1, 2.5, None, True]}}
        raw = tx.conn.exec_driver_sql("SELECT value FROM meta WHERE key = 'probe'").scalar_one()
    if app.store.dialect == "sqlite":
        assert "探亲" in raw and "\\u" not in raw
    from store.types import json_dumps

    with pytest.raises(TypeError):  # as json.dumps: never written as text and read back as a string
        json_dumps({"when": datetime(2027, 1, 4, 9, 0)})
