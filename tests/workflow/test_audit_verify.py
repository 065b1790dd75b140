"""`outpost audit verify` proves the history untouched, and names the first bad row after any tampering.

Each tampering is done directly in SQL (bypassing the store), checked through the real CLI, then undone
so that the next one starts from a database that verifies again. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, delete, insert, select, update

from outpost.app import App
from outpost.cli import run
from store.tables import CaseRow, HistoryRow
from tests.conftest import local, point_cli_at, set_time
from workflow.hashing import history_hash

history_t = HistoryRow.__table__  # type: ignore[attr-defined]
cases_t = CaseRow.__table__  # type: ignore[attr-defined]


@dataclass
class Db:
    url: str
    engine: Engine
    cases: dict[str, int]  # staff, director, rejected, recorded
    capsys: pytest.CaptureFixture[str]

    def rows(self, case: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(history_t).where(history_t.c.case_id == self.cases[case])
                                     .order_by(history_t.c.seq)))

    def verify(self, *extra: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        rc = run(["audit", "verify", *extra])
        captured = self.capsys.readouterr()
        return rc, captured.out, captured.err


@pytest.fixture
def db(make_app: Callable[..., App], db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
       capsys: pytest.CaptureFixture[str]) -> Iterator[Db]:
    """Four leave cases with 1–3 history rows each; the newest row of all is the staff case's withdrawal."""
    app = make_app(db_url, at=local(2027, 1, 4, 9, 0))
    staff = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02", "reason": "探亲"}).id
    director = app.service.open("leave", "wang", {"start": "2027-04-01", "end": "2027-04-10"}).id
    rejected = app.service.open("leave", "huang", {"start": "2027-05-03", "end": "2027-05-04"}).id
    recorded = app.service.open("leave", "chen", {"start": "2027-06-01", "end": "2027-06-03"}).id
    set_time(app, local(2027, 1, 4, 10, 30))
    app.service.advance(staff, "approve", "wang", comment="同意")
    app.service.advance(director, "approve", "liu", comment="同意，注意安全")
    app.service.advance(rejected, "reject", "chen", comment="月底事多")
    set_time(app, local(2027, 1, 5, 16, 0))
    app.service.advance(staff, "withdraw", "zhao", comment="不去了")
    app.close()
    point_cli_at(monkeypatch, db_url, tmp_path, outbox=False)
    engine = create_engine(db_url)
    try:
        yield Db(db_url, engine, {"staff": staff, "director": director, "rejected": rejected,
                                  "recorded": recorded}, capsys)
    finally:
        engine.dispose()


# A tampering edits the database and returns what the first bad row is: (history id or None, case, seq or None).
Tamper = Callable[[Db, Connection], tuple[int | None, int, int | None]]


def edit(column: str, value: Any, case: str, index: int) -> Tamper:
    def tamper(db: Db, conn: Connection) -> tuple[int | None, int, int | None]:
        row = db.rows(case)[index]
        conn.execute(update(history_t).where(history_t.c.id == row.id).values({column: value}))
        return row.id, row.case_id, row.seq
    return tamper


def shift_at(case: str, index: int, delta: timedelta) -> Tamper:
    def tamper(db: Db, conn: Connection) -> tuple[int | None, int, int | None]:
        row = db.rows(case)[index]
        conn.execute(update(history_t).where(history_t.c.id == row.id).values(at=row.at + delta))
        return row.id, row.case_id, row.seq
    return tamper


def delete_middle(db: Db, conn: Connection) -> tuple[int | None, int, int | None]:
    rows = db.rows("staff")
    conn.execute(delete(history_t).where(history_t.c.id == rows[1].id))
    return rows[2].id, rows[2].case_id, rows[2].seq  # the row after the gap no longer fits


def delete_newest(db: Db, conn: Connection) -> tuple[int | None, int, int | None]:
    rows = db.rows("staff")
    conn.execute(delete(history_t).where(history_t.c.id == rows[-1].id))
    return None, rows[-1].case_id, None  # the chain now ends one row short of what the case records


def delete_whole_history(db: Db, conn: Connection) -> tuple[int | None, int, int | None]:
    case = db.cases["director"]
    conn.execute(delete(history_t).where(history_t.c.case_id == case))
    return None, case, None


def forge_row(valid_hash: bool) -> Tamper:
    """Append a forged approval to the rejected case; with `valid_hash`, chained exactly as the engine would."""

    def tamper(db: Db, conn: Connection) -> tuple[int | None, int, int | None]:
        last = db.rows("rejected")[-1]
        at = last.at + timedelta(hours=1)
        fields = dict(case_id=last.case_id, seq=last.seq + 1, trigger="approve", from_state="pending",
                      to_state="approved", actor="chen", at=at, comment="forged", override_reason=None,
                      definition_version=last.definition_version, details={})
        digest = history_hash(last.hash, fields["case_id"], fields["seq"], "approve", "pending", "approved",
                              "chen", at, "forged", None, last.definition_version, {}) if valid_hash else "f" * 64
        new_id = conn.execute(insert(history_t).values(**fields, prev_hash=last.hash if valid_hash else "e" * 64,
                                                       hash=digest).returning(history_t.c.id)).scalar_one()
        return new_id, last.case_id, last.seq + 1
    return tamper


def renumber_newest(db: Db, conn: Connection) -> tuple[int | None, int, int | None]:
    last = db.rows("staff")[-1]
    conn.execute(update(history_t).where(history_t.c.id == last.id).values(seq=last.seq + 5))
    return last.id, last.case_id, last.seq + 5


def two_edits(db: Db, conn: Connection) -> tuple[int | None, int, int | None]:
    rows = db.rows("staff")
    conn.execute(update(history_t).where(history_t.c.id == rows[2].id).values(actor="wang"))
    conn.execute(update(history_t).where(history_t.c.id == rows[1].id).values(comment="不同意"))
    return rows[1].id, rows[1].case_id, rows[1].seq  # the earlier of the two is named


def edit_case_state(db: Db, conn: Connection) -> tuple[int | None, int, int | None]:
    case = db.cases["rejected"]
    conn.execute(update(cases_t).where(cases_t.c.id == case).values(state="approved"))
    return None, case, None


TAMPERINGS: list[tuple[str, Tamper]] = [
    ("comment-of-a-middle-row", edit("comment", "同意（已改）", "staff", 1)),
    ("actor-of-a-middle-row", edit("actor", "chen", "staff", 1)),
    ("comment-of-the-newest-row", edit("comment", "还是去了", "staff", -1)),
    ("actor-of-the-newest-row", edit("actor", "wang", "staff", -1)),
    ("comment-added-to-the-first-row", edit("comment", "补记", "recorded", 0)),
    ("to-state-of-the-newest-row", edit("to_state", "approved", "staff", -1)),
    ("override-reason-added", edit("override_reason", "特批", "director", 1)),
    ("details-edited", edit("details", {"route": "forged"}, "director", 0)),
    ("at-of-a-middle-row", shift_at("staff", 1, timedelta(minutes=1))),
    ("at-of-the-first-row", shift_at("director", 0, timedelta(days=-1))),
    ("at-of-the-newest-row-by-a-microsecond", shift_at("staff", -1, timedelta(microseconds=1))),
    ("delete-a-middle-row", delete_middle),
    ("delete-the-newest-row", delete_newest),
    ("delete-a-whole-history", delete_whole_history),
    ("insert-a-forged-row-chained-correctly", forge_row(valid_hash=True)),
    ("insert-a-forged-row-with-a-bad-hash", forge_row(valid_hash=False)),
    ("renumber-the-newest-row", renumber_newest),
    ("two-edits-name-the-earlier", two_edits),
    ("case-state-edited-beside-its-history", edit_case_state),
]


def snapshot(engine: Engine) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with engine.connect() as conn:
        history = [dict(r._mapping) for r in conn.execute(select(history_t).order_by(history_t.c.id))]
        cases = [dict(r._mapping) for r in conn.execute(select(cases_t).order_by(cases_t.c.id))]
    return history, cases


def restore(engine: Engine, saved: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    history, cases = saved
    with engine.begin() as conn:
        conn.execute(delete(history_t))
        conn.execute(insert(history_t), history)
        for c in cases:
            conn.execute(update(cases_t).where(cases_t.c.id == c["id"]).values(**c))


def test_audit_verify_passes_on_an_untouched_database(db: Db) -> None:
    """On a database written only by Outpost, `audit verify` exits 0 and counts every case and row."""
    rc, out, err = db.verify()
    assert (rc, err) == (0, "")
    assert "audit ok: 8 history rows in 4 cases" in out
    rc, out, err = db.verify("--json")
    assert rc == 0
    shown = json.loads(out)  # keys may be added (README, "JSON output"), never removed or changed
    assert {k: shown.get(k) for k in ("ok", "cases", "rows", "problem")} == {"ok": True, "cases": 4, "rows": 8,
                                                                           "problem": None}


def test_audit_verify_names_the_first_bad_row_after_each_tampering(db: Db, subtests: pytest.Subtests) -> None:
    """Each edit, insertion or deletion in SQL makes `audit verify` fail, naming the first bad row (id, case, seq)."""
    saved = snapshot(db.engine)
    for name, tamper in TAMPERINGS:
        with subtests.test(msg=name):
            with db.engine.begin() as conn:
                row_id, case_id, seq = tamper(db, conn)
            try:
                rc, out, err = db.verify()
                assert rc != 0, f"tampering not detected: {out.strip()}"
                assert "Traceback" not in err
                lines = err.splitlines()
                assert len(lines) == 1, err
                line = lines[0]
                assert "FAILED" in line
                if row_id is not None:
                    assert f"history row id={row_id} " in line, line
                assert f"case {case_id}" in line, line
                if seq is not None:
                    assert f"seq {seq})" in line, line
                rc_json, out_json, _ = db.verify("--json")
                report = json.loads(out_json)
                assert rc_json != 0 and report["ok"] is False and f"case {case_id}" in report["problem"]
            finally:
                restore(db.engine, saved)
            rc, out, err = db.verify()
            assert rc == 0, f"restoring after {name} failed: {err}"
