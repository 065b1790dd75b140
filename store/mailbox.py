"""The outbox in SQL: mail queued inside a step's transaction (`MailTx`, part of `store.sql.SqlTx`) and
its delivery and administration (`SqlMailbox`, implements `workflow.outbox.Outbox`).

Claims are a lock owner plus a lease on the row, taken in one statement: on PostgreSQL the candidate
rows are picked `FOR UPDATE SKIP LOCKED`, so two passes never wait for or take each other's rows; on
SQLite the writer lock (BEGIN IMMEDIATE) serialises the conditional UPDATE. Rows stay `queued` while
claimed, so a pass that dies leaves nothing stranded: the lease runs out and the next pass takes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, update

from store.rows import mail_from
from store.schema import mail_t
from store.txbase import Transactions, TxBase
from workflow.errors import BadInput, NotFound
from workflow.model import Mail
from workflow.outbox import FAILED, QUEUED, SENT, SUPERSEDED, RetryPolicy

__all__ = ["MailTx", "SqlMailbox", "mail_counts", "mails"]

MAX_ERROR = 500  # last_error is a diagnosis, not a log


class MailTx(TxBase):
    """Mail queued by a step, committed with it (`workflow.ports.CaseTx.queue_mail`)."""

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



def mails(conn: Connection, status: str | None = None, case_id: int | None = None) -> list[Mail]:
    stmt = select(mail_t).order_by(mail_t.c.id)
    if status:
        stmt = stmt.where(mail_t.c.status == status)
    if case_id is not None:
        stmt = stmt.where(mail_t.c.case_id == case_id)
    return [mail_from(r) for r in conn.execute(stmt)]


def mail_counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(mail_t.c.status, func.count()).group_by(mail_t.c.status))
    return {str(status): int(n) for status, n in rows}


class SqlMailbox:
    def __init__(self, store: Transactions) -> None:
        self.store = store

    # -- delivery --------------------------------------------------------------------------------
    def claim(self, owner: str, now: datetime, lease: timedelta, limit: int) -> list[Mail]:
        free = or_(mail_t.c.lock_owner.is_(None), mail_t.c.lock_expires_at.is_(None),
                   mail_t.c.lock_expires_at <= now)
        due = (mail_t.c.status == QUEUED, mail_t.c.next_attempt_at <= now, free)
        candidates = (select(mail_t.c.id).where(*due)
                      .order_by(mail_t.c.next_attempt_at, mail_t.c.id).limit(max(1, limit)))
        if self.store.dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        with self.store.transaction() as tx:
            ids = list(tx.conn.execute(candidates).scalars())
            if not ids:
                return []
            # The conditions again: on SQLite the SELECT is no lock, the conditional UPDATE is.
            stmt = (update(mail_t).where(mail_t.c.id.in_(ids), *due)
                    .values(lock_owner=owner, lock_expires_at=now + lease).returning(*mail_t.c))
            rows = [mail_from(r) for r in tx.conn.execute(stmt)]
        rows.sort(key=lambda m: (m.next_attempt_at, m.id or 0))
        return rows

    def mark_sent(self, mail_id: int, now: datetime, subject: str | None = None) -> bool:
        # Not conditional on the owner: once the server accepted the message it is sent, even if our
        # lease ran out meanwhile (a second pass may then resend it: same Message-ID).
        # Its own short transaction, committed before the next message goes: a crash can leave at most
        # the one message the server has just accepted unmarked. A prepared statement (store.fast),
        # since this runs once per message.
        values: dict[str, Any] = {"mail_id": mail_id, "at": now}
        if subject is None:
            return self._run_one("mail_mark_sent", _mark_sent, values) == 1
        return self._run_one("mail_mark_sent_subject", _mark_sent_subject, {**values, "new_subject": subject}) == 1

    def _run_one(self, key: str, build: Callable[[], Any], values: dict[str, Any]) -> int:
        with self.store.transaction() as tx:
            return tx.run.execute(key, build, values)

    def record_failure(self, mail_id: int, owner: str, now: datetime, error: str, retry: RetryPolicy,
                       subject: str | None = None, permanent: bool = False) -> Mail | None:
        with self.store.transaction() as tx:
            row = tx.conn.execute(select(mail_t).where(mail_t.c.id == mail_id, mail_t.c.status == QUEUED,
                                                       mail_t.c.lock_owner == owner)).first()
            if row is None:
                return None
            attempts = int(row.attempts) + 1
            give_up = permanent or attempts >= retry.max_attempts
            values: dict[str, Any] = {
                "attempts": attempts, "last_error": _short(error), "lock_owner": None, "lock_expires_at": None,
                "status": FAILED if give_up else QUEUED,
            }
            if not give_up:
                values["next_attempt_at"] = now + retry.delay(attempts)
            if subject is not None:
                values["subject"] = subject
            tx.conn.execute(update(mail_t).where(mail_t.c.id == mail_id).values(**values))
            updated = tx.conn.execute(select(mail_t).where(mail_t.c.id == mail_id)).one()
        return mail_from(updated)

    def mark_superseded(self, mail_id: int, owner: str, now: datetime, why: str) -> bool:
        with self.store.transaction() as tx:
            done = tx.conn.execute(update(mail_t).where(mail_t.c.id == mail_id, mail_t.c.status == QUEUED,
                                                        mail_t.c.lock_owner == owner)
                                   .values(status=SUPERSEDED, last_error=_short(why), lock_owner=None,
                                           lock_expires_at=None))
        return int(done.rowcount) == 1

    def release(self, mail_id: int | None, *owners: str) -> int:
        """Give back a claim: one row (`mail_id`) if still `owners`' own, or with `mail_id` None every queued
        row they hold (processes known to be gone: workflow/orphans.py). Returns how many rows."""
        if not owners:
            return 0
        which = mail_t.c.id == mail_id if mail_id is not None else mail_t.c.status == QUEUED
        with self.store.transaction() as tx:
            done = tx.conn.execute(update(mail_t).where(mail_t.c.lock_owner.in_(sorted(owners)), which)
                                   .values(lock_owner=None, lock_expires_at=None))
        return int(done.rowcount)

    def claim_owners(self) -> set[str]:
        """Every owner holding a claim on a queued mail."""
        stmt = select(mail_t.c.lock_owner).distinct().where(mail_t.c.status == QUEUED,
                                                            mail_t.c.lock_owner.is_not(None))
        with self.store.transaction(write=False) as tx:
            return {str(o) for o in tx.conn.execute(stmt).scalars()}

    # -- administration --------------------------------------------------------------------------
    def requeue(self, mail_id: int, now: datetime) -> Mail:
        with self.store.transaction() as tx:
            row = tx.conn.execute(select(mail_t).where(mail_t.c.id == mail_id)).first()
            if row is None:
                raise NotFound("mail", mail_id)
            if row.status == SENT:
                raise BadInput(f"mail {mail_id} was already sent; nothing to retry")
            tx.conn.execute(update(mail_t).where(mail_t.c.id == mail_id).values(
                status=QUEUED, attempts=0, next_attempt_at=now, lock_owner=None, lock_expires_at=None))
            updated = tx.conn.execute(select(mail_t).where(mail_t.c.id == mail_id)).one()
        return mail_from(updated)

    def get(self, mail_id: int) -> Mail | None:
        with self.store.transaction(write=False) as tx:
            row = tx.conn.execute(select(mail_t).where(mail_t.c.id == mail_id)).first()
        return mail_from(row) if row is not None else None

    def mails(self, status: str | None = None, case_id: int | None = None) -> list[Mail]:
        with self.store.transaction(write=False) as tx:
            return mails(tx.conn, status=status, case_id=case_id)

    def newest_queued(self, case_id: int) -> Mail | None:
        stmt = (select(mail_t).where(mail_t.c.case_id == case_id, mail_t.c.status == QUEUED)
                .order_by(mail_t.c.created_at.desc(), mail_t.c.id.desc()).limit(1))
        with self.store.transaction(write=False) as tx:
            row = tx.conn.execute(stmt).first()
        return mail_from(row) if row is not None else None

    def counts(self) -> dict[str, int]:
        with self.store.transaction(write=False) as tx:
            found = mail_counts(tx.conn)
        return {QUEUED: found.pop(QUEUED, 0), SENT: found.pop(SENT, 0), FAILED: found.pop(FAILED, 0), **found}


def _mark_sent() -> Any:
    return (update(mail_t).where(mail_t.c.id == bindparam("mail_id"), mail_t.c.status == QUEUED)
            .values(status=SENT, sent_at=bindparam("at"), lock_owner=None, lock_expires_at=None, last_error=None))


def _mark_sent_subject() -> Any:
    return _mark_sent().values(subject=bindparam("new_subject"))


def _short(text: str) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= MAX_ERROR else flat[: MAX_ERROR - 1] + "…"
