"""The web front door's persistence: mailed links (`LinkRepo`, part of `store.sql.SqlTx`, so that marking a
link used commits with the step it causes), and sessions and sign-in attempts (`SqlWeb`, their own short
transactions)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from store.rows import by_name, case_from, insert_all
from store.schema import cases_t, deadline_t, mail_t, web_attempt_t, web_link_t, web_session_t
from store.txbase import TxBase
from workflow.model import Case
from workflow.ports import Link

if TYPE_CHECKING:
    from store.sql import SqlStore

__all__ = ["LinkRepo", "Session", "SqlWeb"]

TOUCH_EVERY = timedelta(minutes=1)  # how often a session's last use is written (SqlWeb.session)


def _link(row: Any) -> Link:
    r = by_name(row)
    return Link(nonce=r["nonce"], purpose=r["purpose"], person=r["person"], created_at=r["created_at"],
                expires_at=r["expires_at"], case_id=r["case_id"], case_version=r["case_version"],
                case_seq=r["case_seq"], actions=tuple(r["actions"] or ()), used_at=r["used_at"], source=r["source"])


class LinkRepo(TxBase):
    """`workflow.ports.LinkTx` in one transaction."""

    # The statements a mail's link needs (minted as each action mail is delivered) and every confirmation
    # page and POST reads are prepared (store/fast.py): building a Core statement costs more than running it.
    def add_link(self, link: Link) -> None:
        self.run.execute("add_link", insert_all(web_link_t), {
            "nonce": link.nonce, "purpose": link.purpose, "source": link.source, "person": link.person,
            "case_id": link.case_id, "case_version": link.case_version, "case_seq": link.case_seq,
            "actions": list(link.actions), "created_at": link.created_at, "expires_at": link.expires_at,
            "used_at": None})

    def link_for_source(self, source: str) -> Link | None:
        row = self.run.fetch_one("link_for_source", lambda: select(web_link_t)
                                 .where(web_link_t.c.source == bindparam("source"))
                                 .order_by(web_link_t.c.created_at.desc()).limit(1), {"source": source})
        return _link(row) if row is not None else None

    def get_link(self, nonce: str) -> Link | None:
        # a prepared statement (store/fast.py): every confirmation page and every POST reads its link
        row = self.run.fetch_one("get_link", lambda: select(web_link_t).where(web_link_t.c.nonce == bindparam("nonce")),
                                 {"nonce": nonce})
        return _link(row) if row is not None else None

    def use_link(self, nonce: str, purpose: str, now: datetime) -> bool:
        # One conditional UPDATE: on PostgreSQL a concurrent second use waits on the row lock and then
        # re-reads `used_at IS NULL` as false; on SQLite the writer lock serialises the two.
        # A prepared statement (store/fast.py), as get_link: it is in every POST's write transaction.
        done = self.run.execute("use_link", lambda: update(web_link_t).where(
            web_link_t.c.nonce == bindparam("nonce"), web_link_t.c.purpose == bindparam("purpose"),
            web_link_t.c.used_at.is_(None), web_link_t.c.expires_at > bindparam("now"))
            .values(used_at=bindparam("used_at")), {"nonce": nonce, "purpose": purpose, "now": now, "used_at": now})
        return done == 1


class Session:
    __slots__ = ("created_at", "csrf", "id_hash", "person", "seen_at")

    def __init__(self, id_hash: str, person: str, csrf: str, created_at: datetime, seen_at: datetime) -> None:
        self.id_hash, self.person, self.csrf = id_hash, person, csrf
        self.created_at, self.seen_at = created_at, seen_at


class SqlWeb:
    """Sessions and the sign-in rate limit, in the database so that every web worker shares them."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def add_link(self, link: Link) -> None:
        with self.store.transaction() as tx:
            tx.add_link(link)

    def get_link(self, nonce: str) -> Link | None:
        with self.store.transaction(write=False) as tx:
            return tx.get_link(nonce)

    def use_link(self, nonce: str, purpose: str, now: datetime) -> bool:
        with self.store.transaction() as tx:
            return tx.use_link(nonce, purpose, now)

    # -- sessions ----------------------------------------------------------------------------------
    def start_session(self, id_hash: str, person: str, csrf: str, now: datetime) -> None:
        with self.store.transaction() as tx:
            tx.conn.execute(insert(web_session_t).values(id_hash=id_hash, person=person, csrf=csrf, created_at=now,
                                                         seen_at=now, ended_at=None))

    def session(self, id_hash: str, now: datetime, idle_after: datetime, touch: bool = True) -> Session | None:
        """The live session with this id (seen after `idle_after`); an idle one is ended. Its last use is set
        to `now` when it was last set a minute or more ago: a page view is a read, and writes (SQLite has one
        writer at a time, the daemon's tick among them) only once a minute per session. With `touch` False
        nothing is written (a look from a page that must write nothing)."""
        with self.store.transaction(write=False) as tx:
            row = tx.conn.execute(select(web_session_t).where(web_session_t.c.id_hash == id_hash,
                                                              web_session_t.c.ended_at.is_(None))).first()
        if row is None:
            return None
        live = row.seen_at > idle_after
        written = touch and (not live or now - row.seen_at >= TOUCH_EVERY)
        if written:
            with self.store.transaction() as tx:
                tx.conn.execute(update(web_session_t).where(web_session_t.c.id_hash == id_hash,
                                                            web_session_t.c.ended_at.is_(None))
                                .values(**({"seen_at": now} if live else {"ended_at": now})))
        if not live:
            return None
        return Session(row.id_hash, row.person, row.csrf, row.created_at, now if written else row.seen_at)

    def end_session(self, id_hash: str, now: datetime) -> None:
        with self.store.transaction() as tx:
            tx.conn.execute(update(web_session_t).where(web_session_t.c.id_hash == id_hash,
                                                        web_session_t.c.ended_at.is_(None)).values(ended_at=now))

    # -- rate limit --------------------------------------------------------------------------------
    def attempt(self, keys: list[tuple[str, int]], now: datetime, since: datetime) -> bool:
        """Count one attempt under each (key, limit); False, counting nothing, when a key already had its
        limit since `since`. One writing transaction: concurrent workers are serialised by it."""
        with self.store.transaction() as tx:
            tx.conn.execute(delete(web_attempt_t).where(web_attempt_t.c.at <= since))  # keep the table small
            for key, limit in keys:
                n = tx.conn.execute(select(func.count()).select_from(web_attempt_t).where(
                    web_attempt_t.c.key == key, web_attempt_t.c.at > since)).scalar_one()
                if int(n) >= limit:
                    return False
            for key, _limit in keys:
                tx.conn.execute(insert(web_attempt_t).values(key=key, at=now))
        return True

    # -- what the pages read -----------------------------------------------------------------------
    # One statement per process, `process = ? AND state IN (its open states)`: a range of
    # ix_cases_process_state_office, so the cost follows the open cases, not every case ever opened.
    # Counting is done here, not by GROUP BY office: for that, SQLite's planner walks the
    # (process, office, period) key instead, i.e. every case of the process.
    @staticmethod
    def open_cases(tx: Any, open_states: dict[str, tuple[str, ...]], limit: int = 2000) -> list[Case]:
        """The open cases (newest first, up to `limit`), read in the caller's transaction `tx` (the store's own)."""
        found: list[Case] = []
        for process, states in sorted(open_states.items()):
            if states:
                stmt = select(cases_t).where(cases_t.c.process == process, cases_t.c.state.in_(states))
                found += [case_from(r) for r in tx.conn.execute(stmt)]
        return sorted(found, key=lambda c: -c.id)[:limit]

    def open_counts(self, open_states: dict[str, tuple[str, ...]],
                    now: datetime) -> dict[tuple[str | None, str], tuple[int, int]]:
        """(office, process) → (open cases, of which overdue): an overdue deadline (`*overdue*` or `due`, as
        `case list --overdue`) pending or fired at or before `now`. Reads the open cases' index entries
        and their deadlines only (by case id), so it costs what is open, not what was ever opened."""
        found: dict[tuple[str | None, str], list[int]] = {}
        where_case: dict[int, tuple[str | None, str]] = {}
        with self.store.transaction(write=False) as tx:
            for process, states in sorted(open_states.items()):
                if not states:
                    continue
                stmt = select(cases_t.c.id, cases_t.c.office).where(cases_t.c.process == process,
                                                                    cases_t.c.state.in_(states))
                for case_id, office in tx.conn.execute(stmt):
                    found.setdefault((office, process), [0, 0])[0] += 1
                    where_case[int(case_id)] = (office, process)
            ids = sorted(where_case)
            for k in range(0, len(ids), 500):
                late = select(deadline_t.c.case_id).distinct().where(
                    deadline_t.c.case_id.in_(ids[k:k + 500]), deadline_t.c.status.in_(("pending", "fired")),
                    deadline_t.c.kind.like("%overdue%") | (deadline_t.c.kind == "due"), deadline_t.c.due_at <= now)
                for (case_id,) in tx.conn.execute(late):
                    found[where_case[int(case_id)]][1] += 1
        return {key: (n[0], n[1]) for key, n in found.items()}

    def failed_counts(self) -> tuple[int, int]:
        """(failed mail, failed deadlines): each read from its partial index of failed rows."""
        with self.store.transaction(write=False) as tx:
            mail = tx.conn.execute(select(func.count()).select_from(mail_t).where(mail_t.c.status == "failed"))
            mail_n = int(mail.scalar_one())
            dl = tx.conn.execute(select(func.count()).select_from(deadline_t)
                                 .where(deadline_t.c.status == "failed"))
            return mail_n, int(dl.scalar_one())
