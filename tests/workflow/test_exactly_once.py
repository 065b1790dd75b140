"""Exactly once, when daemons overlap: the interleavings a review found, each replayed with the real code on
SQLite and PostgreSQL (docs/RELIABILITY.md, promise 3).

- A daemon whose fire failed after its claim ran out must not touch the row another daemon has taken over
  (a plain read-then-write put a fired deadline back to pending, and it fired twice).
- A reminder is superseded by a later deadline that is due, whether that one is still pending or another
  daemon has already fired it (else a stale "due in 1 day" goes out after the overdue notice).
- A tick that fails midway hands back what it claimed, and its owner may claim its own leftovers at once.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import text

from outpost.app import App
from store.deadlines import SqlDeadlineQueue
from tests.conftest import local
from tests.test_daemon import due_leave_deadlines
from workflow.errors import Busy
from workflow.ticker import TickReport

LEASE = timedelta(minutes=5)
T = local(2026, 11, 20, 9, 0)  # the requests of 2 Nov are long due


def row(app: App, deadline_id: int) -> tuple[str, str | None, int]:
    with app.store.transaction(write=False) as tx:
        r = tx.conn.execute(text("SELECT status, lock_owner, attempts FROM deadline WHERE id = :i"),
                            {"i": deadline_id}).one()
    return str(r.status), r.lock_owner, int(r.attempts)


def test_a_failed_attempt_never_touches_a_row_another_daemon_took_over(make_app: Callable[..., App],
                                                                         db_url: str) -> None:
    app = make_app(db_url, at=local(2026, 11, 2, 10, 0))
    due_leave_deadlines(app, 1)  # its reminder and its escalation are due
    queue = SqlDeadlineQueue(app.store)
    x, y = queue.claim("A", T, LEASE, 10)
    # A's fire of x fails; before A records the failure, its claim has run out and B has claimed the rows
    later = T + LEASE + timedelta(minutes=1)
    assert {d.id for d in queue.claim("B", later, LEASE, 10)} == {x.id, y.id}
    assert queue.failed_attempt(x.id, "A", T, "Busy: database busy", T + timedelta(minutes=1), 5) == "taken over"
    assert row(app, x.id) == ("pending", "B", 0)  # still B's, untouched
    # B fires x; A's late failure record changes nothing either
    with app.store.transaction() as tx:
        assert queue.take(tx, x.id, "B", later)
        app.service.fire(tx, x, later)
    assert queue.failed_attempt(x.id, "A", T, "Busy: database busy", T + timedelta(minutes=1), 5) == "taken over"
    assert row(app, x.id)[0] == "fired"
    # the owner's own failure is recorded (back-off, claim released), and the last attempt marks it failed
    retry_at = later + timedelta(minutes=1)
    assert queue.failed_attempt(y.id, "B", later, "boom", retry_at, 2) == "pending"
    assert row(app, y.id) == ("pending", None, 1)
    assert y.id not in {d.id for d in queue.claim("B", later, LEASE, 10)}  # not before its back-off
    assert y.id in {d.id for d in queue.claim("B", retry_at, LEASE, 10)}
    assert queue.failed_attempt(y.id, "B", retry_at, "boom", retry_at + timedelta(minutes=2), 2) == "failed"
    report = app.ticker.tick(later + timedelta(hours=1))
    assert not {x.id, y.id} & {f["id"] for f in report.fired}  # x never a second time, y failed for good
    assert row(app, x.id)[0] == "fired" and row(app, y.id)[0] == "failed"


def test_a_reminder_is_skipped_when_a_later_deadline_has_already_fired_elsewhere(
        make_app: Callable[..., App], db_url: str) -> None:
    """Two months of silence on the H1 report: daemon A claims the reminders, daemon B fires the overdue
    notices first, then A fires its claims: every reminder is skipped, only the overdue notices are sent,
    as with one daemon (R-5.5)."""
    app = make_app(db_url, at=local(2027, 1, 4, 9, 0))
    app.ticker.tick(local(2027, 1, 4, 9, 0))
    app.clock.set(local(2027, 5, 26, 0, 0))  # type: ignore[attr-defined]
    app.ticker.tick(local(2027, 5, 26, 0, 0))  # the H1 report cases open
    now = local(2027, 7, 26, 9, 0)
    with app.store.transaction(write=False) as tx:
        before = tx.conn.execute(text("SELECT coalesce(max(id), 0) FROM mail")).scalar_one()
    a, b = make_app(db_url, at=now, org=None).ticker, make_app(db_url, at=now, org=None).ticker
    a.owner, b.owner = "A", "B"
    due = a.queue.due(now)
    first_overdue = next(i for i, d in enumerate(due) if d.kind == "overdue")
    assert first_overdue > 0 and due[0].kind == "reminder"
    a.open_periodic(now, TickReport(at=now))
    claimed = a.queue.claim("A", now, LEASE, first_overdue)  # the reminders only
    rb = b.tick(now)  # fires the overdue notices
    ra = TickReport(at=now)
    for d in claimed:
        a._fire_one(d, now, ra, 10)
    fired = collections.Counter(f["kind"] for r in (ra, rb) for f in r.fired if f["process"] == "report")
    skipped = collections.Counter(f["kind"] for r in (ra, rb) for f in r.skipped if f["process"] == "report")
    assert fired["reminder"] == 0 and fired["overdue"] >= 1, (fired, skipped)
    with app.store.transaction(write=False) as tx:
        sent = dict(tx.conn.execute(text(
            "SELECT event, count(*) FROM mail WHERE event LIKE 'report.%' AND id > :m GROUP BY event"),
            {"m": before}).all())
    assert "report.reminder" not in sent and sent.get("report.overdue", 0) >= 1, sent


def test_a_tick_that_fails_midway_hands_back_its_claims(make_app: Callable[..., App], sqlite_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process holds the SQLite write lock past the busy timeout while the tick fires its 4th
    deadline (and records the failure): the tick fails as a whole, and once the lock is gone its unfired
    claims are handed back; the next tick fires them at once — not after the 5-minute lease."""
    app = make_app(sqlite_url, at=local(2026, 11, 2, 10, 0), busy_timeout_ms=200)
    due_leave_deadlines(app, 10)
    ticker = app.ticker
    fire_one, calls = ticker._fire_one, [0]
    db_file = sqlite_url.removeprefix("sqlite:///")

    def locked_from_the_fourth(*args: object) -> None:  # only chooses when the other process holds the lock
        calls[0] += 1
        if calls[0] != 4:
            fire_one(*args)  # type: ignore[arg-type]
            return
        other = sqlite3.connect(db_file, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            fire_one(*args)  # type: ignore[arg-type]
        finally:
            other.execute("ROLLBACK")
            other.close()

    monkeypatch.setattr(ticker, "_fire_one", locked_from_the_fourth)
    with pytest.raises(Busy):
        ticker.tick(T)
    monkeypatch.undo()
    with app.store.transaction(write=False) as tx:
        held = tx.conn.execute(text("SELECT count(*) FROM deadline WHERE lock_owner IS NOT NULL")).scalar_one()
    assert held == 0
    assert ticker.queue.count_due(T) > 0
    report = ticker.tick(T + timedelta(seconds=30))  # well inside the lease
    assert report.counts["failed"] == 0 and report.counts["fired"] > 0
    assert ticker.queue.count_due(T + timedelta(seconds=30)) == 0


def test_the_first_of_a_batch_failing_in_the_claiming_transaction_is_one_failed_attempt(
        make_app: Callable[..., App], db_url: str) -> None:
    """The tick fires the first claimed deadline inside the claiming transaction. When that fire fails, the
    whole transaction is undone (its claim too); the batch is claimed again, the failure is recorded against
    that row (exactly one failed attempt per tick, not a second try) and the others fire in the same tick."""
    from workflow import registry

    app = make_app(db_url, at=local(2026, 11, 2, 10, 0))
    due_leave_deadlines(app, 3)
    due = app.ticker.queue.due(T)
    first = due[0]
    definition = registry.latest("leave")
    original = definition.handlers[first.action]

    def broken_for_the_first(ctx: object) -> None:
        assert ctx.deadline is not None  # type: ignore[attr-defined]
        if ctx.deadline.id == first.id:  # type: ignore[attr-defined]
            raise RuntimeError("the first one breaks")
        original(ctx)  # type: ignore[arg-type]

    definition.handlers[first.action] = broken_for_the_first  # type: ignore[index]
    try:
        report = app.ticker.tick(T)
    finally:
        definition.handlers[first.action] = original  # type: ignore[index]
    assert [f["id"] for f in report.failed] == [first.id]
    assert "the first one breaks" in report.failed[0]["error"]
    assert row(app, first.id) == ("pending", None, 1)  # one attempt, its claim given back for the back-off
    others = {d.id for d in due[1:]}
    assert others <= {f["id"] for f in report.fired} | {s["id"] for s in report.skipped}
    assert all(row(app, i)[0] in ("fired", "skipped") for i in others)
    assert app.ticker.queue.count_due(T) == 1  # only the failed one, due again after its back-off
    assert app.verify().ok
