"""The SQL store: SQLite (WAL) or PostgreSQL through SQLAlchemy Core, on the tables of store/schema.py
(rendered from the SQLModel schema in store/tables.py).

This module holds the store's connections and transactions. The rest is split by job: store/engine.py
(engine set-up, driver errors), store/rows.py (rows to model objects), and one repository part of the
transaction per aggregate (store/cases.py, store/org.py, store/presence.py, store/meta.py,
store/mailbox.py); store/deadlines.py is the deadline queue, store/reports.py the compliance report.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from store import cases, mailbox, meta
from store.cases import CaseRepo
from store.delegations import DelegationRepo
from store.engine import BUSY_TIMEOUT_MS, db_errors, make_engine, translate_db_error
from store.fast import Prepared
from store.mailbox import MailTx
from store.org import OrgRepo
from store.presence import PresenceRepo
from store.records import RecordRepo
from store.schema import cases_t, deadline_t, history_t, mail_t
from store.web import LinkRepo
from workflow.model import Case, HistoryEntry, Mail, Org
from workflow.ports import CaseFilter, CaseStore

__all__ = ["SqlStore", "SqlTx"]


class _RolledBack(Exception):
    """Ends a rehearsal's transaction without committing it (not an error)."""


class SqlTx(CaseRepo, OrgRepo, PresenceRepo, RecordRepo, DelegationRepo, MailTx, LinkRepo):
    """One transaction on a connection (implements `workflow.ports.Tx`): the repository parts of each
    aggregate (store/txbase.py says how they share the connection) over one SQL transaction."""


class SqlStore:
    """Implements `workflow.ports.CaseStore` on a SQLAlchemy engine."""

    def __init__(self, url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS, create: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout_ms, create=create)
        self.dialect = self.engine.dialect.name
        self.org_cache: tuple[int, Org] | None = None  # see store.org.OrgRepo.org
        self.prepared: dict[str, Prepared] = {}  # store/fast.py's statements, compiled once
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
        with self.transaction(write=False) as tx:
            return cases.list_cases(tx.conn, flt)

    def iter_history_chains(self) -> Iterator[tuple[Case, list[HistoryEntry]]]:
        with self.transaction(write=False) as tx:
            yield from cases.history_chains(tx.conn)

    def mails(self, status: str | None = None, case_id: int | None = None) -> list[Mail]:
        with self.transaction(write=False) as tx:
            return mailbox.mails(tx.conn, status=status, case_id=case_id)

    def mail_counts(self) -> dict[str, int]:
        with self.transaction(write=False) as tx:
            return mailbox.mail_counts(tx.conn)

    def meta_like(self, prefix: str) -> dict[str, dict[str, Any]]:
        with self.transaction(write=False) as tx:
            return meta.meta_like(tx.conn, prefix)

    def count(self, table: str) -> int:
        t = {"cases": cases_t, "history": history_t, "deadline": deadline_t, "mail": mail_t}[table]
        with self.transaction(write=False) as tx:
            return int(tx.conn.execute(select(func.count()).select_from(t)).scalar_one())

    def holidays(self) -> dict[date, tuple[bool, str]]:
        with self.transaction(write=False) as tx:
            return meta.holidays(tx.conn)

    def replace_holidays(self, year: int, days: dict[date, tuple[bool, str]]) -> int:
        """A year's official notice replaces whatever was loaded for that year (idempotent)."""
        with self.transaction() as tx:
            return meta.replace_holidays(tx.conn, year, days)

    def close(self) -> None:
        with self._lock:
            conns, self._connections = self._connections, []
        for conn in conns:
            with contextlib.suppress(Exception):  # closing what may already be broken
                conn.close()
        self._local = threading.local()
        self.engine.dispose()


if TYPE_CHECKING:  # mypy holds the store to the engine's port (and so SqlTx to workflow.ports.Tx)
    _implements: type[CaseStore] = SqlStore
