"""Claims held by owners, across the deadline queue and the mail outbox.

A claim is a lock owner plus an expiry on a row (store/deadlines.py, store/mailbox.py). These two
functions let the engine find who holds claims and give back those of owners it knows to be gone
(workflow/orphans.py decides who is gone); rows that are no longer pending or queued are left alone.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select, union, update

from store.sql import SqlStore, deadline_t, mail_t


def claim_owners(store: SqlStore) -> set[str]:
    """Every owner holding a claim on a pending deadline or a queued mail."""
    stmt = union(
        select(deadline_t.c.lock_owner).where(deadline_t.c.status == "pending", deadline_t.c.lock_owner.is_not(None)),
        select(mail_t.c.lock_owner).where(mail_t.c.status == "queued", mail_t.c.lock_owner.is_not(None)),
    )
    with store.transaction(write=False) as tx:
        return {str(owner) for owner in tx.conn.execute(stmt).scalars()}


def release_claims(store: SqlStore, owners: Collection[str]) -> tuple[int, int]:
    """Give back the claims of `owners`: (deadlines, mails) released, in one transaction."""
    if not owners:
        return 0, 0
    names = sorted(owners)
    with store.transaction() as tx:
        deadlines = tx.conn.execute(
            update(deadline_t).where(deadline_t.c.lock_owner.in_(names), deadline_t.c.status == "pending")
            .values(lock_owner=None, lock_expires_at=None)).rowcount
        mails = tx.conn.execute(
            update(mail_t).where(mail_t.c.lock_owner.in_(names), mail_t.c.status == "queued")
            .values(lock_owner=None, lock_expires_at=None)).rowcount
    return int(deadlines), int(mails)
