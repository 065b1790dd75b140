"""The processes' own records (`workflow.ports.RecordTx`: an office's budget, R-7.2), an office's cases by
state, and `hold`, which serialises the writers that add something up across cases.

Records are appended and never updated: the newest of a (process, kind, key) is in force, the older ones
are its history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, text

from store.rows import case_from
from store.schema import cases_t, process_record_t
from store.txbase import TxBase
from workflow.model import Case, Record

__all__ = ["RecordRepo", "record_from", "year_records"]


def record_from(row: Any) -> Record:
    return Record(process=row.process, kind=row.kind, key=row.key, data=dict(row.data or {}), actor=row.actor,
                  at=row.at, id=row.id)


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class RecordRepo(TxBase):
    """Records, an office's cases by state, and named holds, in one transaction."""

    _holds: frozenset[str] = frozenset()  # the names `hold` has locked in this transaction

    def add_record(self, record: Record) -> int:
        done = self.conn.execute(insert(process_record_t).values(
            process=record.process, kind=record.kind, key=record.key, data=dict(record.data),
            actor=record.actor, at=record.at))
        key = done.inserted_primary_key
        assert key is not None
        return int(key[0])

    def records(self, process: str, kind: str | None = None, key_prefix: str = "") -> list[Record]:
        t = process_record_t
        cond = [t.c.process == process]
        if kind is not None:
            cond.append(t.c.kind == kind)
        if key_prefix:
            cond.append(t.c.key.like(_like_prefix(key_prefix), escape="\\"))
        return [record_from(r) for r in self.conn.execute(select(t).where(*cond).order_by(t.c.id))]

    def cases_in(self, process: str, office: str | None, states: Sequence[str]) -> list[Case]:
        if not states:
            return []
        office_cond = cases_t.c.office.is_(None) if office is None else cases_t.c.office == office
        rows = self.conn.execute(select(cases_t).where(cases_t.c.process == process, office_cond,
                                                       cases_t.c.state.in_(sorted(set(states))))
                                 .order_by(cases_t.c.id))
        return [case_from(r) for r in rows]

    def hold(self, name: str) -> None:
        """Until commit, no other writing transaction holds `name`. SQLite's BEGIN IMMEDIATE already runs
        one writer at a time; PostgreSQL (READ COMMITTED) takes a transaction-level advisory lock."""
        if not self.write or self.store.dialect != "postgresql" or name in self._holds:
            return
        self._holds = self._holds | {name}
        self.conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name})


def year_records(conn: Connection, processes: Sequence[str], year: int) -> list[Record]:
    """Every record of `processes` whose key begins with the year (`2027/…`), for the compliance report."""
    if not processes:
        return []
    t = process_record_t
    return [record_from(r) for r in conn.execute(
        select(t).where(t.c.process.in_(list(processes)), t.c.key.like(f"{year}/%")).order_by(t.c.id))]
