"""The SQL store: SQLAlchemy Core statements on the tables of store/schema.py (rendered from the SQLModel
schema in store/tables.py), SQLite (WAL) or PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from store.fast import Prepared, Runner
from store.schema import (
    cases_t,
    deadline_t,
    history_t,
    holiday_t,
    item_t,
    mail_t,
    meta_t,
    office_t,
    offsite_t,
    person_t,
    role_t,
)
from workflow.errors import BadInput, Busy, Conflict, DatabaseUnavailable, SchemaMismatch, TransactionLost
from workflow.model import (
    LEADING_CADRE_ROLES,
    Case,
    Deadline,
    HistoryEntry,
    Item,
    Mail,
    Office,
    OffSite,
    Org,
    Person,
)
from workflow.ports import CaseFilter, OrgChange

# The tables are re-exported: store/deadlines.py, store/mailbox.py and store/reports.py build on them.
__all__ = ["SqlStore", "SqlTx", "cases_t", "deadline_t", "history_t", "holiday_t", "item_t", "mail_t", "make_engine",
           "meta_t", "office_t", "offsite_t", "person_t", "role_t", "translate_db_error"]

BUSY_TIMEOUT_MS = 5000
ORG_META_KEY = "org"
OFFICE_META_PREFIX = "office:"  # an office's lifetime (since/until), see SqlTx.replace_org


def make_engine(url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS, create: bool = False) -> Engine:
    """An engine with Outpost's connection settings (WAL, busy timeout, foreign keys on SQLite).

    Only `create` (outpost init) makes a missing SQLite file; any other command on a path with no file
    says so and leaves the disk alone (a mistyped path must not leave an empty database behind)."""
    try:
        parsed = make_url(url)
    except (sa_exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise BadInput("database_url: not a database URL (expected e.g. sqlite:////path/outpost.db or "
                       "postgresql+psycopg://user@host:5432/name)") from None
    try:
        return _engine_for(parsed, busy_timeout_ms, create)
    except sa_exc.NoSuchModuleError:
        raise BadInput(f"database_url: unknown database kind {parsed.drivername!r} "
                       "(sqlite or postgresql+psycopg)") from None
    except ImportError as exc:  # the driver named by the URL is not installed
        raise BadInput(f"database_url: the {parsed.drivername} driver is not installed ({exc.name or exc}); "
                       "for PostgreSQL install Outpost's postgres extra (psycopg)") from None


def redact_url(url: str) -> str:
    """The database URL as it may be shown: no password, neither user:password@ nor ?password=."""
    try:
        parsed = make_url(url)
    except (sa_exc.ArgumentError, ValueError):
        return "(a database URL that does not parse)"
    if "password" in parsed.query:
        parsed = parsed.update_query_dict({"password": "***"})
    return parsed.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


def _engine_for(parsed: Any, busy_timeout_ms: int, create: bool) -> Engine:
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = parsed.database
        if path and path != ":memory:":
            if Path(path).is_dir():
                raise DatabaseUnavailable(f"database_url: {path} is a folder, not a database file")
            if create:
                _create_private_file(Path(path))
            elif not Path(path).exists():
                raise SchemaMismatch(f"no database at {path}; run `outpost init` to create it")
        engine = create_engine(parsed, poolclass=NullPool if path in (None, "", ":memory:") else None,
                               connect_args={"timeout": busy_timeout_ms / 1000})
        _sqlite_setup(engine, busy_timeout_ms)
        return engine
    if backend == "postgresql":
        engine = create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # the PostgreSQL twin of SQLite's busy timeout: a lock wait longer than this is "busy"
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET lock_timeout = {int(busy_timeout_ms)}")
            dbapi_conn.commit()

        return engine
    raise BadInput(f"database_url: unsupported database {backend!r} (use sqlite or postgresql+psycopg)")


def _create_private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (it holds people's leave and e-mail)."""
    if path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot create the database file {path}: {exc.strerror or exc}") from None
    os.close(fd)


def _sqlite_setup(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so writers take the lock up front.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # BEGIN IMMEDIATE: a writer waits (busy timeout) for the lock before it reads, so it never
        # decides on a snapshot that another writer has already changed.
        dbapi_conn = conn.connection.dbapi_connection
        assert dbapi_conn is not None
        if dbapi_conn.in_transaction:
            return  # SqlStore began it on the driver's connection; SQLAlchemy is joining it (autobegin)
        mode = "DEFERRED" if conn.get_execution_options().get("outpost_readonly") else "IMMEDIATE"
        dbapi_conn.execute(f"BEGIN {mode}")  # straight to sqlite3: this runs once per transaction


# Driver messages that mean "this database cannot be used as configured", not a bug of ours.
_UNAVAILABLE = (
    ("unable to open database file", "cannot be opened (no such folder, or no permission)"),
    ("file is not a database", "file is not an SQLite database"),
    ("database disk image is malformed", "file is damaged"),
    ("readonly database", "is read-only here"),  # "attempt to write a readonly database"
    ("disk i/o error", "cannot be read or written (disk I/O error)"),
    ("database or disk is full", "cannot be written: the disk is full"),
    ("connection refused", "server does not answer"),
    ("could not translate host name", "server's host name is unknown"),
    ("failed to resolve host", "server's host name is unknown"),  # psycopg 3's wording
    ("password authentication failed", "server refused the login"),
)
_NO_SUCH_DATABASE = re.compile(r'database "[^"]*" does not exist')


def db_errors(engine: Engine) -> tuple[type[Exception], ...]:
    """SQLAlchemy's wrapped errors and the driver's own (raised bare from connection events and from the
    SQLite transactions SqlStore begins on the driver's connection)."""
    return (sa_exc.DBAPIError, engine.dialect.loaded_dbapi.Error)


def translate_db_error(exc: Exception) -> Exception:
    """Map driver errors to the error tree: lock waits are `Busy`, races on unique keys `Conflict`.

    Takes SQLAlchemy's wrapper or the driver's own exception (the hot path talks to the driver)."""
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    text = str(orig if orig is not None else exc).lower()
    if "database is locked" in text or "database is busy" in text or "lock timeout" in text:
        return Busy(text)
    first = text.splitlines()[0][:200] if text else type(exc).__name__
    for marker, what in _UNAVAILABLE:
        if marker in text:
            return DatabaseUnavailable(f"the database {what} ({first}); nothing written")
    if _NO_SUCH_DATABASE.search(text):
        return DatabaseUnavailable(f"the database named in database_url does not exist ({first})")
    integrity = isinstance(exc, sa_exc.IntegrityError) or type(orig).__name__ in ("IntegrityError", "UniqueViolation")
    if integrity or "could not serialize" in text or "deadlock" in text:
        return Conflict(f"the case changed meanwhile, nothing written; retry ({text.splitlines()[0][:120]})")
    return exc


def _case_from(row: Any) -> Case:
    return Case(
        id=row.id, process=row.process, definition_version=row.definition_version, office=row.office,
        subject=row.subject, period=row.period, state=row.state, version=row.version,
        data=dict(row.data or {}), opened_at=row.opened_at, opened_by=row.opened_by,
        updated_at=row.updated_at, history_count=row.history_count, history_head=row.history_head,
    )


def _item_from(row: Any) -> Item:
    return Item(id=row.id, case_id=row.case_id, kind=row.kind, status=row.status, data=dict(row.data or {}),
                created_at=row.created_at, created_by=row.created_by, updated_at=row.updated_at)


def _history_from(row: Any) -> HistoryEntry:
    return HistoryEntry(
        id=row.id, case_id=row.case_id, seq=row.seq, trigger=row.trigger, from_state=row.from_state,
        to_state=row.to_state, actor=row.actor, at=row.at, comment=row.comment,
        override_reason=row.override_reason, definition_version=row.definition_version,
        details=dict(row.details or {}), prev_hash=row.prev_hash, hash=row.hash,
    )


def _deadline_from(row: Any) -> Deadline:
    return Deadline(
        id=row.id, case_id=row.case_id, kind=row.kind, due_at=row.due_at, rule_id=row.rule_id,
        why=row.why, action=row.action, for_state=row.for_state, created_at=row.created_at,
        occurrence=row.occurrence, created_seq=row.created_seq, payload=dict(row.payload or {}), status=row.status,
        fired_at=row.fired_at, attempts=row.attempts, last_error=row.last_error,
    )


def _mail_from(row: Any) -> Mail:
    return Mail(
        id=row.id, case_id=row.case_id, event=row.event, dedupe_key=row.dedupe_key,
        message_id=row.message_id, recipients=list(row.recipients or []), params=dict(row.params or {}),
        lang=row.lang, created_at=row.created_at, next_attempt_at=row.next_attempt_at,
        subject=row.subject, status=row.status, attempts=row.attempts, last_error=row.last_error,
        sent_at=row.sent_at,
    )


def _deadline_values(d: Deadline) -> dict[str, Any]:
    return {
        "case_id": d.case_id, "kind": d.kind, "action": d.action, "for_state": d.for_state,
        "created_seq": d.created_seq, "occurrence": d.occurrence, "due_at": d.due_at,
        "rule_id": d.rule_id, "why": d.why, "payload": d.payload, "status": d.status,
        "created_at": d.created_at, "fired_at": d.fired_at, "attempts": d.attempts,
        "last_error": d.last_error, "lock_owner": None, "lock_expires_at": None,
    }


class _Row(dict[str, Any]):
    """A fetched row with attribute access, like SQLAlchemy's Row."""

    __getattr__ = dict.__getitem__


def _insert_all(table: Any, skip: tuple[str, ...] = ("id",)) -> Callable[[], Any]:
    return lambda: insert(table).values({c.key: bindparam(c.key) for c in table.c if c.key not in skip})


class _RolledBack(Exception):
    """Ends a rehearsal's transaction without committing it (not an error)."""


class SqlTx:
    """One transaction on a connection (implements `workflow.ports.Tx`).

    The hot statements run through `store.fast.Runner` (compiled once per dialect); the rest use
    SQLAlchemy Core as usual. Both share the connection and its transaction.
    """

    def __init__(self, store: SqlStore, conn: Connection, write: bool = True) -> None:
        self.store = store
        self.conn = conn
        self.write = write
        self._runner: Runner | None = None
        self._held: set[str] = set()

    @property
    def run(self) -> Runner:
        if self._runner is None:
            self._runner = Runner(self.conn, self.store._prepared)
        return self._runner

    def _one(self, key: str, build: Callable[[], Any], values: dict[str, Any]) -> _Row | None:
        row = self.run.fetch_one(key, build, values)
        return _Row(row) if row is not None else None

    # -- organisation -------------------------------------------------------------------------
    def org(self) -> Org:
        row = self._one("org_version", lambda: select(meta_t.c.value).where(meta_t.c.key == bindparam("key")),
                        {"key": ORG_META_KEY})
        version = int(row["value"].get("version", 0)) if row else 0
        cached = self.store._org_cache
        if cached is not None and cached[0] == version:
            return cached[1]
        org = self._load_org()
        self.store._org_cache = (version, org)
        return org

    def _load_org(self) -> Org:
        lives = {str(r.key)[len(OFFICE_META_PREFIX):]: r.value or {} for r in self.conn.execute(
            select(meta_t.c.key, meta_t.c.value).where(meta_t.c.key.like(OFFICE_META_PREFIX + "%")))}
        offices = {}
        for r in self.conn.execute(select(office_t)):
            life = lives.get(r.code, {})
            offices[r.code] = Office(code=r.code, name=r.name, city=r.city, covers=tuple(r.covers or ()),
                                     since=date.fromisoformat(life["since"]) if life.get("since") else None,
                                     active=not life.get("until"))
        roles: dict[str, set[str]] = {}
        for r in self.conn.execute(select(role_t)):
            roles.setdefault(r.person, set()).add(r.role)
        people = {
            r.id: Person(id=r.id, name=r.name, email=r.email, office=r.office,
                         roles=frozenset(roles.get(r.id, ())), active=bool(r.active))
            for r in self.conn.execute(select(person_t))
        }
        return Org(offices=offices, people=people)

    def replace_org(self, offices: Sequence[Office], people: Sequence[Person], today: date) -> OrgChange:
        """Make the stored organisation equal to the given one; write only what differs.

        An office stays in the table once it has cases (they refer to it); its lifetime is kept in meta
        (`office:CODE`): `since` when it was added to an organisation that already had offices, `until`
        when a file left it out. Either starts or ends the office's periodic duties (workflow/ticker.py)."""
        current = self._load_org()
        offices_added, offices_changed = [], []
        first_load = not current.offices
        for o in offices:
            old = current.offices.get(o.code)
            values = {"name": o.name, "city": o.city, "covers": list(o.covers)}
            if old is None:
                self.conn.execute(insert(office_t).values(code=o.code, **values))
                offices_added.append(o.code)
                if not first_load:
                    self.set_meta(OFFICE_META_PREFIX + o.code, {"since": today.isoformat()})
            elif not old.active:  # back in the file: its duties start again from today
                self.conn.execute(update(office_t).where(office_t.c.code == o.code).values(**values))
                self.set_meta(OFFICE_META_PREFIX + o.code, {"since": today.isoformat()})
                offices_added.append(o.code)
            elif (old.name, old.city, old.covers) != (o.name, o.city, o.covers):
                self.conn.execute(update(office_t).where(office_t.c.code == o.code).values(**values))
                offices_changed.append(o.code)
        given_offices = {o.code for o in offices}
        for code, old in sorted(current.offices.items()):
            if code not in given_offices and old.active:
                life = {"since": old.since.isoformat()} if old.since else {}
                self.set_meta(OFFICE_META_PREFIX + code, {**life, "until": today.isoformat()})
                offices_changed.append(code)
        added, changed, removed = [], [], []
        cadre: list[tuple[str, str | None, frozenset[str], frozenset[str]]] = []
        given = {p.id: p for p in people}
        for p in people:
            old_p = current.people.get(p.id)
            person_values: dict[str, Any] = {"name": p.name, "email": p.email, "office": p.office, "active": True}
            if old_p is None:
                self.conn.execute(insert(person_t).values(id=p.id, **person_values))
                added.append(p.id)
            elif (old_p.name, old_p.email, old_p.office, old_p.active) != (p.name, p.email, p.office, True):
                self.conn.execute(update(person_t).where(person_t.c.id == p.id).values(**person_values))
                changed.append(p.id)
            old_roles = old_p.roles if old_p is not None and old_p.active else frozenset()
            if old_p is not None and old_p.roles != p.roles:
                self.conn.execute(delete(role_t).where(role_t.c.person == p.id))
                if p.id not in changed:
                    changed.append(p.id)
            if (old_p is None or old_p.roles != p.roles) and p.roles:
                self.conn.execute(insert(role_t), [{"person": p.id, "role": r} for r in sorted(p.roles)])
            lost = (old_roles & LEADING_CADRE_ROLES) - p.roles
            moved = old_p is not None and old_p.office != p.office and bool(old_roles & LEADING_CADRE_ROLES)
            if lost or moved:
                cadre.append((p.id, old_p.office if old_p else None, old_roles, p.roles))
        for pid, old_p in sorted(current.people.items()):
            if pid in given or not old_p.active:
                continue
            self.conn.execute(update(person_t).where(person_t.c.id == pid).values(active=False))
            self.conn.execute(delete(role_t).where(role_t.c.person == pid))
            removed.append(pid)
            if old_p.roles & LEADING_CADRE_ROLES:
                cadre.append((pid, old_p.office, old_p.roles, frozenset()))
        change = OrgChange(tuple(offices_added), tuple(offices_changed), tuple(added), tuple(changed),
                           tuple(removed), tuple(cadre))
        if change.changed:
            meta = self.get_meta(ORG_META_KEY) or {"version": 0}
            self.set_meta(ORG_META_KEY, {"version": int(meta.get("version", 0)) + 1})
        return change

    # -- cases ---------------------------------------------------------------------------------
    def get_case(self, case_id: int) -> Case | None:
        row = self._one("get_case", lambda: select(cases_t).where(cases_t.c.id == bindparam("id")), {"id": case_id})
        return _case_from(row) if row is not None else None

    def find_case(self, process: str, office: str | None, period: str) -> Case | None:
        cond = [cases_t.c.process == process, cases_t.c.period == period]
        cond.append(cases_t.c.office.is_(None) if office is None else cases_t.c.office == office)
        row = self.conn.execute(select(cases_t).where(*cond)).first()
        return _case_from(row) if row is not None else None

    def cases_of(self, process: str, subject: str, states: Sequence[str] | None = None) -> list[Case]:
        """The subject's cases of `process` (in `states` only, when given), oldest first. Rules ask for
        the open ones: a person's finished cases pile up over the years and are never read here."""
        wanted = sorted(set(states)) if states is not None else []
        if states is not None and not wanted:
            return []

        def build() -> Any:  # prepared: the leave opener asks this on every request
            cond = [cases_t.c.process == bindparam("process"), cases_t.c.subject == bindparam("subject")]
            if states is not None:
                cond.append(cases_t.c.state.in_([bindparam(f"s{i}") for i in range(len(wanted))]))
            return select(cases_t).where(*cond).order_by(cases_t.c.id)

        key = "cases_of" if states is None else f"cases_of:{len(wanted)}"
        values: dict[str, Any] = {"process": process, "subject": subject}
        values.update((f"s{i}", state) for i, state in enumerate(wanted))
        return [_case_from(_Row(r)) for r in self.run.fetch(key, build, values)]

    def insert_case(self, case: Case) -> int:
        row = self.run.fetch_one("insert_case", lambda: _insert_all(cases_t)().returning(cases_t.c.id), {
            "process": case.process, "definition_version": case.definition_version, "office": case.office,
            "subject": case.subject, "period": case.period, "state": case.state, "version": case.version,
            "data": case.data, "opened_at": case.opened_at, "opened_by": case.opened_by,
            "updated_at": case.updated_at, "history_count": case.history_count, "history_head": case.history_head,
        })
        assert row is not None
        return int(row["id"])

    def update_case(self, case: Case, expected_version: int) -> None:
        def build() -> Any:
            return (update(cases_t)
                    .where(cases_t.c.id == bindparam("case_id"), cases_t.c.version == bindparam("expected"))
                    .values(state=bindparam("state"), version=bindparam("version"), data=bindparam("data"),
                            updated_at=bindparam("updated_at"), history_count=bindparam("history_count"),
                            history_head=bindparam("history_head")))
        # office, process and subject are fixed at open: leaving them out of SET spares SQLite rewriting
        # their index entries on every step (measured: 17 µs instead of 32–40 µs per update + commit)

        done = self.run.execute("update_case", build, {
            "case_id": case.id, "expected": expected_version, "state": case.state, "version": case.version,
            "data": case.data, "updated_at": case.updated_at, "history_count": case.history_count,
            "history_head": case.history_head})
        if done != 1:
            raise Conflict(f"case {case.id} changed meanwhile (expected version {expected_version}); "
                           "nothing written, retry")

    # -- history -------------------------------------------------------------------------------
    def append_history(self, entry: HistoryEntry) -> None:
        self.run.execute("append_history", _insert_all(history_t), {
            "case_id": entry.case_id, "seq": entry.seq, "trigger": entry.trigger, "from_state": entry.from_state,
            "to_state": entry.to_state, "actor": entry.actor, "at": entry.at, "comment": entry.comment,
            "override_reason": entry.override_reason, "definition_version": entry.definition_version,
            "details": entry.details, "prev_hash": entry.prev_hash, "hash": entry.hash})

    def history(self, case_id: int) -> list[HistoryEntry]:
        rows = self.conn.execute(select(history_t).where(history_t.c.case_id == case_id)
                                 .order_by(history_t.c.seq))
        return [_history_from(r) for r in rows]

    # -- deadlines -----------------------------------------------------------------------------
    def deadlines(self, case_id: int, pending_only: bool = False) -> list[Deadline]:
        def build() -> Any:
            stmt = select(deadline_t).where(deadline_t.c.case_id == bindparam("case_id"))
            if pending_only:
                stmt = stmt.where(deadline_t.c.status == "pending")
            return stmt.order_by(deadline_t.c.due_at, deadline_t.c.id)

        rows = self.run.fetch(f"deadlines_{pending_only}", build, {"case_id": case_id})
        return [_deadline_from(_Row(r)) for r in rows]

    def add_deadlines(self, rows: Sequence[Deadline]) -> None:
        if not rows:
            return
        self.run.execute_many("add_deadlines", _insert_all(deadline_t), [_deadline_values(d) for d in rows])

    def cancel_deadlines(self, case_id: int, at: datetime, keep: int | None = None) -> int:
        def build() -> Any:
            return (update(deadline_t)
                    .where(deadline_t.c.case_id == bindparam("case_id"), deadline_t.c.status == "pending",
                           deadline_t.c.id != bindparam("keep"))
                    .values(status="cancelled", fired_at=bindparam("at")))

        return self.run.execute("cancel_deadlines", build, {"case_id": case_id, "keep": keep or 0, "at": at})

    def set_deadline_status(self, deadline: Deadline, status: str, at: datetime) -> None:
        def build() -> Any:
            return (update(deadline_t).where(deadline_t.c.id == bindparam("deadline_id"))
                    .values(status=bindparam("status"), fired_at=bindparam("at"), lock_owner=None,
                            lock_expires_at=None))

        self.run.execute("set_deadline_status", build, {"deadline_id": deadline.id, "status": status, "at": at})

    def superseded(self, deadline: Deadline, now: datetime, other_kinds: Sequence[str] = ()) -> bool:
        stmt = select(deadline_t.c.id).where(
            deadline_t.c.case_id == deadline.case_id, deadline_t.c.kind.in_([deadline.kind, *other_kinds]),
            # a later one already fired (by another daemon, or before a retry of this one) supersedes too
            deadline_t.c.status.in_(("pending", "fired")), deadline_t.c.id != deadline.id,
            deadline_t.c.due_at <= now, deadline_t.c.due_at > deadline.due_at).limit(1)
        return self.conn.execute(stmt).first() is not None

    def offices_with_case(self, process: str, period: str) -> set[str]:
        rows = self.conn.execute(select(cases_t.c.office).where(cases_t.c.process == process,
                                                                 cases_t.c.period == period))
        return {r[0] for r in rows if r[0] is not None}

    # -- mail ----------------------------------------------------------------------------------
    def queue_mail(self, rows: Sequence[Mail]) -> int:
        """Insert each row unless its dedupe key is already there (ON CONFLICT DO NOTHING)."""
        dialect = self.store.dialect

        def build() -> Any:
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert as ins
            else:
                from sqlalchemy.dialects.postgresql import insert as ins  # type: ignore[assignment]
            stmt = ins(mail_t).values({c.key: bindparam(c.key) for c in mail_t.c if c.key != "id"})
            return stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])

        added = 0
        for m in rows:
            added += self.run.execute("queue_mail", build, {
                "case_id": m.case_id, "event": m.event, "dedupe_key": m.dedupe_key, "message_id": m.message_id,
                "recipients": m.recipients, "params": m.params, "lang": m.lang, "subject": m.subject,
                "status": m.status, "attempts": m.attempts, "next_attempt_at": m.next_attempt_at,
                "created_at": m.created_at, "sent_at": None, "last_error": m.last_error, "lock_owner": None,
                "lock_expires_at": None})
        return added

    # -- items logged against a case -----------------------------------------------------------
    def add_item(self, item: Item) -> int:
        result = self.conn.execute(insert(item_t).values(
            case_id=item.case_id, kind=item.kind, status=item.status, data=item.data,
            created_at=item.created_at, created_by=item.created_by, updated_at=item.updated_at,
        ).returning(item_t.c.id))
        item.id = int(result.scalar_one())
        return item.id

    def get_item(self, item_id: int) -> Item | None:
        row = self.conn.execute(select(item_t).where(item_t.c.id == item_id)).first()
        return _item_from(row) if row is not None else None

    def items(self, case_id: int, kind: str | None = None) -> list[Item]:
        stmt = select(item_t).where(item_t.c.case_id == case_id)
        if kind is not None:
            stmt = stmt.where(item_t.c.kind == kind)
        return [_item_from(r) for r in self.conn.execute(stmt.order_by(item_t.c.id))]

    def update_item(self, item: Item) -> None:
        self.conn.execute(update(item_t).where(item_t.c.id == item.id)
                          .values(status=item.status, data=item.data, updated_at=item.updated_at))

    @contextmanager
    def savepoint(self, name: str = "outpost_step") -> Iterator[None]:
        """Undo the block's writes, and only them, when it raises (the transaction stays usable)."""
        self.conn.exec_driver_sql(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException as exc:
            try:  # SQLite ends the whole transaction on some errors (disk full, I/O): the savepoint is gone,
                self.conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")  # and what follows would commit
            except Exception as undo:
                raise TransactionLost(f"the database ended the transaction ({exc}); nothing of it is kept") from undo
            raise
        self.conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")

    # -- off-site days (R-2.5) -----------------------------------------------------------------
    def hold_person(self, person: str) -> None:
        """Make the rules that add up one person's days across cases (R-2.5) see every other writer's
        days: until commit, no other writing transaction adds up this person's days. SQLite's BEGIN
        IMMEDIATE already runs one writer at a time; PostgreSQL (READ COMMITTED) locks the person row.
        FOR NO KEY UPDATE does not block rows that merely refer to the person (their foreign keys)."""
        if not self.write or self.store.dialect != "postgresql" or person in self._held:
            return
        self._held.add(person)
        self.run.fetch("hold_person", lambda: select(person_t.c.id).where(person_t.c.id == bindparam("person"))
                       .with_for_update(key_share=True), {"person": person})

    def off_site(self, person: str, year: int) -> list[OffSite]:
        def build() -> Any:
            return select(offsite_t).where(offsite_t.c.person == bindparam("person"),
                                           offsite_t.c.start <= bindparam("last"),
                                           offsite_t.c.end >= bindparam("first"))

        rows = self.run.fetch("off_site", build, {"person": person, "first": date(year, 1, 1),
                                                  "last": date(year, 12, 31)})
        return [OffSite(person=r["person"], start=r["start"], end=r["end"], case_id=r["case_id"],
                        source=r["source"]) for r in rows]

    def off_site_on(self, person: str, day: date) -> bool:
        def build() -> Any:
            return select(offsite_t.c.id).where(offsite_t.c.person == bindparam("person"),
                                                offsite_t.c.start <= bindparam("day"),
                                                offsite_t.c.end >= bindparam("day")).limit(1)

        return bool(self.run.fetch("off_site_on", build, {"person": person, "day": day}))

    def add_off_site(self, row: OffSite) -> None:
        self.run.execute("add_off_site", _insert_all(offsite_t), {
            "person": row.person, "case_id": row.case_id, "start": row.start, "end": row.end,
            "source": row.source})

    def remove_off_site(self, case_id: int) -> None:
        self.run.execute("remove_off_site",
                         lambda: delete(offsite_t).where(offsite_t.c.case_id == bindparam("case_id")),
                         {"case_id": case_id})

    def trim_off_site(self, case_id: int, last_day: date) -> None:
        values = {"case_id": case_id, "last_day": last_day}
        self.run.execute("trim_off_site_delete", lambda: delete(offsite_t).where(
            offsite_t.c.case_id == bindparam("case_id"), offsite_t.c.start > bindparam("last_day")), values)
        self.run.execute("trim_off_site_update", lambda: update(offsite_t).where(
            offsite_t.c.case_id == bindparam("case_id"), offsite_t.c.end > bindparam("last_day"))
            .values(end=bindparam("last_day")), values)

    # -- meta ----------------------------------------------------------------------------------
    def get_meta(self, key: str) -> dict[str, Any] | None:
        row = self._one("org_version", lambda: select(meta_t.c.value).where(meta_t.c.key == bindparam("key")),
                        {"key": key})
        return dict(row["value"]) if row is not None else None

    def set_meta(self, key: str, value: dict[str, Any]) -> None:
        done = self.conn.execute(update(meta_t).where(meta_t.c.key == key).values(value=value))
        if done.rowcount == 0:
            self.conn.execute(insert(meta_t).values(key=key, value=value))


class SqlStore:
    """Implements `workflow.ports.CaseStore` on a SQLAlchemy engine."""

    def __init__(self, url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS, create: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout_ms, create=create)
        self.dialect = self.engine.dialect.name
        self._org_cache: tuple[int, Org] | None = None
        self._prepared: dict[str, Prepared] = {}
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Connection] = []
        self._db_errors = db_errors(self.engine)

    def _connection(self) -> Connection:
        """One connection per thread, kept between transactions (a pool checkout per step is not free)."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self.engine.connect()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _drop_connection(self) -> None:
        conn: Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            with contextlib.suppress(Exception):  # a broken connection is being thrown away anyway
                conn.close()

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[SqlTx]:
        conn = self._connection()
        raw = conn.connection.driver_connection if self.dialect == "sqlite" else None
        if conn.in_transaction() or (raw is not None and raw.in_transaction):
            with self.engine.connect() as other:  # a nested use on this thread: give it its own connection
                yield from self._run(other, write)
            return
        try:
            if raw is not None:
                yield from self._run_sqlite(conn, raw, write)
            else:
                yield from self._run(conn, write)
        except BaseException:
            self._drop_connection()  # never reuse a connection whose state is in doubt
            raise

    @contextmanager
    def rehearsal(self) -> Iterator[SqlTx]:
        """A writing transaction that is always rolled back (`tick --dry-run`, `mail preview`): what the
        steps played in it would do is seen, nothing is written. An error in the body propagates."""
        try:
            with self.transaction() as tx:
                yield tx
                raise _RolledBack
        except _RolledBack:
            pass

    def _run_sqlite(self, conn: Connection, raw: Any, write: bool) -> Iterator[SqlTx]:
        """SQLite: BEGIN and COMMIT straight on the driver's connection, as `_run` does through
        SQLAlchemy's transaction (which costs ~7 µs a step). A Core statement inside still works: it
        makes SQLAlchemy begin too (the "begin" listener sees the open transaction and adds nothing),
        and then SQLAlchemy commits or rolls back."""
        try:
            raw.execute("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")
            try:
                yield SqlTx(self, conn, write)
                if conn.in_transaction():
                    conn.commit()
                else:
                    raw.commit()
            except BaseException:
                # the body or the COMMIT failed (a COMMIT can fail and leave SQLite's transaction open:
                # busy, a deferred foreign key): end it, or the connection would keep the write lock
                with contextlib.suppress(Exception):
                    if conn.in_transaction():
                        conn.rollback()
                with contextlib.suppress(Exception):
                    if raw.in_transaction:
                        raw.rollback()
                raise
        except self._db_errors as exc:
            raise translate_db_error(exc) from exc

    def _run(self, conn: Connection, write: bool) -> Iterator[SqlTx]:
        readonly = not write
        if conn.get_execution_options().get("outpost_readonly") is not readonly:  # set only when it changes
            conn.execution_options(outpost_readonly=readonly)
        try:
            with conn.begin():
                yield SqlTx(self, conn, write)
        except self._db_errors as exc:
            raise translate_db_error(exc) from exc

    def list_cases(self, flt: CaseFilter) -> list[Case]:
        stmt = select(cases_t)
        if flt.process:
            stmt = stmt.where(cases_t.c.process == flt.process)
        if flt.office:
            stmt = stmt.where(cases_t.c.office == flt.office)
        if flt.state:
            stmt = stmt.where(cases_t.c.state == flt.state)
        if flt.overdue_at is not None:
            stmt = stmt.where(exists().where(
                and_(deadline_t.c.case_id == cases_t.c.id, deadline_t.c.status.in_(("pending", "fired")),
                     deadline_t.c.kind.like("%overdue%") | (deadline_t.c.kind == "due"),
                     deadline_t.c.due_at <= flt.overdue_at)
            ))
        stmt = stmt.order_by(cases_t.c.id)
        if flt.limit:
            stmt = stmt.limit(flt.limit)
        with self.transaction(write=False) as tx:
            return [_case_from(r) for r in tx.conn.execute(stmt)]

    def iter_history_chains(self) -> Iterator[tuple[Case, list[HistoryEntry]]]:
        with self.transaction(write=False) as tx:
            cases = [_case_from(r) for r in tx.conn.execute(select(cases_t).order_by(cases_t.c.id))]
            by_case: dict[int, list[HistoryEntry]] = {}
            for r in tx.conn.execute(select(history_t).order_by(history_t.c.case_id, history_t.c.seq,
                                                                 history_t.c.id)):
                by_case.setdefault(r.case_id, []).append(_history_from(r))
            known = {c.id for c in cases}
            for case in cases:
                yield case, by_case.get(case.id, [])
            for case_id in sorted(set(by_case) - known):
                yield cast(Case, None), by_case[case_id]

    def mails(self, status: str | None = None, case_id: int | None = None) -> list[Mail]:
        stmt = select(mail_t).order_by(mail_t.c.id)
        if status:
            stmt = stmt.where(mail_t.c.status == status)
        if case_id is not None:
            stmt = stmt.where(mail_t.c.case_id == case_id)
        with self.transaction(write=False) as tx:
            return [_mail_from(r) for r in tx.conn.execute(stmt)]

    def mail_counts(self) -> dict[str, int]:
        with self.transaction(write=False) as tx:
            rows = tx.conn.execute(select(mail_t.c.status, func.count()).group_by(mail_t.c.status))
            return {str(status): int(n) for status, n in rows}

    def meta_like(self, prefix: str) -> dict[str, dict[str, Any]]:
        with self.transaction(write=False) as tx:
            rows = tx.conn.execute(select(meta_t).where(meta_t.c.key.like(prefix + "%")))
            return {r.key: dict(r.value) for r in rows}

    def count(self, table: str) -> int:
        t = {"cases": cases_t, "history": history_t, "deadline": deadline_t, "mail": mail_t}[table]
        with self.transaction(write=False) as tx:
            return int(tx.conn.execute(select(func.count()).select_from(t)).scalar_one())

    def holidays(self) -> dict[date, tuple[bool, str]]:
        with self.transaction(write=False) as tx:
            return {r.day: (bool(r.workday), r.name) for r in tx.conn.execute(select(holiday_t))}

    def replace_holidays(self, year: int, days: dict[date, tuple[bool, str]]) -> int:
        """A year's official notice replaces whatever was loaded for that year (idempotent)."""
        with self.transaction() as tx:
            current = {r.day: (bool(r.workday), r.name)
                       for r in tx.conn.execute(select(holiday_t).where(holiday_t.c.year == year))}
            if current == days:
                return 0
            tx.conn.execute(delete(holiday_t).where(holiday_t.c.year == year))
            tx.conn.execute(insert(holiday_t), [{"day": d, "year": year, "workday": w, "name": n}
                                                for d, (w, n) in sorted(days.items())])
            return len(days)

    def close(self) -> None:
        with self._lock:
            conns, self._connections = self._connections, []
        for conn in conns:
            with contextlib.suppress(Exception):  # closing what may already be broken
                conn.close()
        self._local = threading.local()
        self.engine.dispose()
