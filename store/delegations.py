"""Dated delegations (issue 15.4) in a transaction: who acts for whom, from which day to which.

Few rows are in force at any time; the in-force read (every step that queues mail asks it once) is one
indexed query on the day."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update

from store.rows import by_name
from store.schema import delegation_t
from store.txbase import TxBase
from workflow.model import Delegation

__all__ = ["DelegationRepo", "delegation_from"]


def delegation_from(row: Any) -> Delegation:
    r = by_name(row)
    return Delegation(id=r["id"], absent=r["absent"], acting=r["acting"], start=r["start"], end=r["end"],
                      reason=r["reason"], set_by=r["set_by"], set_at=r["set_at"], ended_at=r["ended_at"],
                      ended_by=r["ended_by"])


class DelegationRepo(TxBase):
    """Delegations in one transaction (`workflow.ports.DelegationTx`)."""

    def delegations(self, person: str | None = None, on: date | None = None,
                    ended: bool = False) -> list[Delegation]:
        if person is None and on is not None and not ended:  # the hot read: what is in force today
            rows = self.run.fetch("delegations_on", lambda: select(delegation_t).where(
                delegation_t.c.ended_at.is_(None), delegation_t.c.start <= bindparam("day"),
                delegation_t.c.end >= bindparam("day")).order_by(delegation_t.c.id), {"day": on})
            return [delegation_from(r) for r in rows]
        query = select(delegation_t).order_by(delegation_t.c.id)
        if person is not None:
            query = query.where(or_(delegation_t.c.absent == person, delegation_t.c.acting == person))
        if on is not None:
            query = query.where(delegation_t.c.start <= on, delegation_t.c.end >= on)
        if not ended:
            query = query.where(delegation_t.c.ended_at.is_(None))
        return [delegation_from(r) for r in self.conn.execute(query)]

    def get_delegation(self, delegation_id: int) -> Delegation | None:
        row = self.conn.execute(select(delegation_t).where(delegation_t.c.id == delegation_id)).first()
        return delegation_from(row) if row is not None else None

    def add_delegation(self, row: Delegation) -> int:
        done = self.conn.execute(insert(delegation_t).values(
            absent=row.absent, acting=row.acting, start=row.start, end=row.end, reason=row.reason,
            set_by=row.set_by, set_at=row.set_at, ended_at=None, ended_by=None).returning(delegation_t.c.id))
        return int(done.scalar_one())

    def end_delegation(self, delegation_id: int, at: datetime, by: str) -> None:
        self.conn.execute(update(delegation_t).where(delegation_t.c.id == delegation_id,
                                                     delegation_t.c.ended_at.is_(None))
                          .values(ended_at=at, ended_by=by))
