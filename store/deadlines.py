"""The deadline queue: what is due now, claimed so that two daemons never fire the same row.

A claim (lock owner + lock expiry, like Camunda's job table) spreads work between daemons; the fire
itself is a conditional `pending → fired` update inside the transaction that does the work, so a
deadline fires once even when a claim expires under a slow daemon or a daemon dies mid-way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select, text, update

from store.rows import deadline_from
from store.schema import deadline_t
from store.sql import SqlStore, SqlTx
from workflow.model import Deadline
from workflow.ports import CaseTx

# Literal, not a bound parameter: the planner can then use the partial index `... WHERE status = 'pending'`.
_PENDING = text("deadline.status = 'pending'")


class SqlDeadlineQueue:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def _due(self, now: datetime) -> object:
        return and_(_PENDING, deadline_t.c.due_at <= now)

    def due(self, now: datetime, limit: int = 1000) -> list[Deadline]:
        """Due and pending, in due order; claims nothing (for inspection: the tick claims, the dry run
        plays the tick)."""
        stmt = (select(deadline_t).where(self._due(now))  # type: ignore[arg-type]
                .order_by(deadline_t.c.due_at, deadline_t.c.id).limit(limit))
        with self.store.transaction(write=False) as tx:
            return [deadline_from(r) for r in tx.conn.execute(stmt)]

    def count_due(self, now: datetime) -> int:
        stmt = select(func.count()).select_from(deadline_t).where(self._due(now))  # type: ignore[arg-type]
        with self.store.transaction(write=False) as tx:
            return int(tx.conn.execute(stmt).scalar_one())

    def claim(self, owner: str, now: datetime, lease: timedelta, limit: int) -> list[Deadline]:
        """Claim up to `limit` due rows for `owner` (committed at once), oldest first."""
        with self.store.transaction() as tx:
            return self.claim_in(tx, owner, now, lease, limit)

    def claim_in(self, tx: CaseTx, owner: str, now: datetime, lease: timedelta, limit: int) -> list[Deadline]:
        """`claim` inside the caller's transaction (the tick fires the first claimed row in it as well)."""
        dialect = self.store.dialect

        def build() -> Any:
            now_p = bindparam("now", type_=deadline_t.c.due_at.type)
            # free: never claimed, claim run out, or left by this same owner (a tick that failed midway)
            free = or_(deadline_t.c.lock_expires_at.is_(None), deadline_t.c.lock_expires_at <= now_p,
                       deadline_t.c.lock_owner == bindparam("owner"))
            pick = (select(deadline_t.c.id).where(_PENDING, deadline_t.c.due_at <= now_p, free)
                    .order_by(deadline_t.c.due_at, deadline_t.c.id).limit(bindparam("limit")))
            if dialect == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            return (update(deadline_t).where(deadline_t.c.id.in_(pick.scalar_subquery()))
                    .values(lock_owner=bindparam("owner"), lock_expires_at=bindparam("until"))
                    .returning(*deadline_t.c))

        found = _sql(tx).run.fetch("claim", build, {"now": now, "limit": limit, "owner": owner, "until": now + lease})
        rows = [deadline_from(r) for r in found]
        rows.sort(key=lambda d: (d.due_at, d.id or 0))
        return rows

    def take(self, tx: CaseTx, deadline_id: int, owner: str, now: datetime, status: str = "fired") -> bool:
        """Inside the firing transaction: pending → fired, only if still ours. False: someone else did it."""
        def build() -> Any:
            return (update(deadline_t)
                    .where(deadline_t.c.id == bindparam("deadline_id"), deadline_t.c.status == "pending",
                           deadline_t.c.lock_owner == bindparam("owner"))
                    .values(status=bindparam("new_status"), fired_at=bindparam("now"), lock_owner=None,
                            lock_expires_at=None, attempts=deadline_t.c.attempts + 1))

        done = _sql(tx).run.execute("take_deadline", build, {"deadline_id": deadline_id, "owner": owner,
                                                       "new_status": status, "now": now})
        return done == 1

    def failed_attempt(self, deadline_id: int, owner: str, now: datetime, error: str, retry_at: datetime,
                       max_attempts: int) -> str:
        """Record a failed fire; after `max_attempts` the row is `failed` (shown by `outpost status`).

        One conditional UPDATE: only a row still pending and still claimed by `owner` is touched. If another
        daemon took the row over meanwhile (our claim ran out) and fired it, this changes nothing — a plain
        read-then-write would put the fired row back to pending and fire it again. Returns the row's
        status afterwards, or "taken over" when it was not ours any more."""
        attempts = deadline_t.c.attempts + 1
        give_up = attempts >= bindparam("max_attempts", type_=deadline_t.c.attempts.type)
        when = deadline_t.c.due_at.type  # typed binds: inside CASE they would otherwise bind untyped
        stmt = (update(deadline_t)
                .where(deadline_t.c.id == bindparam("deadline_id"), _PENDING,
                       deadline_t.c.lock_owner == bindparam("owner"))
                .values(attempts=attempts, last_error=bindparam("error"), lock_owner=None,
                        status=case((give_up, "failed"), else_="pending"),
                        lock_expires_at=case((give_up, None), else_=bindparam("retry_at", type_=when)),
                        fired_at=case((give_up, bindparam("now", type_=when)), else_=None))
                .returning(deadline_t.c.status))
        with self.store.transaction() as tx:
            row = tx.conn.execute(stmt, {"deadline_id": deadline_id, "owner": owner, "error": error[:500],
                                         "max_attempts": max_attempts, "retry_at": retry_at, "now": now}).first()
        return str(row.status) if row is not None else "taken over"

    def release(self, *owners: str) -> int:
        """Give back the unfired claims of `owners` (a clean shutdown, a failed tick, or processes known to
        be gone: workflow/orphans.py). Returns how many rows were released."""
        if not owners:
            return 0
        with self.store.transaction() as tx:
            done = tx.conn.execute(update(deadline_t).where(deadline_t.c.lock_owner.in_(sorted(owners)), _PENDING)
                                   .values(lock_owner=None, lock_expires_at=None))
        return int(done.rowcount)

    def claim_owners(self) -> set[str]:
        """Every owner holding a claim on a pending deadline."""
        stmt = select(deadline_t.c.lock_owner).distinct().where(_PENDING, deadline_t.c.lock_owner.is_not(None))
        with self.store.transaction(write=False) as tx:
            return {str(o) for o in tx.conn.execute(stmt).scalars()}

    def pending_marked(self, fragment: str) -> list[Deadline]:
        """Pending deadlines whose explanation contains `fragment` (R-0.6: those computed Monday–Friday for
        want of a holiday notice), in case and due order."""
        stmt = (select(deadline_t).where(_PENDING, deadline_t.c.why.contains(fragment, autoescape=True))
                .order_by(deadline_t.c.case_id, deadline_t.c.due_at, deadline_t.c.id))
        with self.store.transaction(write=False) as tx:
            return [deadline_from(r) for r in tx.conn.execute(stmt)]

    def failed(self) -> list[Deadline]:
        with self.store.transaction(write=False) as tx:
            rows = tx.conn.execute(select(deadline_t).where(deadline_t.c.status == "failed")
                                   .order_by(deadline_t.c.id))
            return [deadline_from(r) for r in rows]


def _sql(tx: CaseTx) -> SqlTx:
    """The port's transaction as this store's: the queue's statements run on its connection."""
    if not isinstance(tx, SqlTx):
        raise TypeError(f"the SQL deadline queue works inside a SQL store's transaction, not {type(tx).__name__}")
    return tx
