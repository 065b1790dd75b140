"""The SQL outbox (store/mailbox.py): claims, leases, back-off, re-queue — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from outpost.app import App
from store.mailbox import SqlMailbox
from tests.conftest import local
from workflow.errors import BadInput, NotFound
from workflow.outbox import RetryPolicy

T0 = local(2027, 1, 4, 9, 0)
LEASE = timedelta(minutes=15)
RETRY = RetryPolicy(max_attempts=3, first_seconds=60, max_seconds=100)


@pytest.fixture
def box(app: App) -> SqlMailbox:
    for who in ("zhao", "huang", "li"):
        app.service.open("leave", who, {"start": "2027-03-01", "end": "2027-03-02"})
    return SqlMailbox(app.store)


def test_a_claim_takes_due_rows_once_until_its_lease_runs_out(box: SqlMailbox) -> None:
    """Claimed rows stay queued but are invisible to other owners until the lease expires."""
    a = box.claim("a", T0, LEASE, limit=2)
    assert [m.status for m in a] == ["queued", "queued"]
    b = box.claim("b", T0, LEASE, limit=10)
    assert len(b) == 1 and b[0].id not in {m.id for m in a}
    assert box.claim("c", T0 + LEASE - timedelta(seconds=1), LEASE, limit=10) == []
    c = box.claim("c", T0 + LEASE, LEASE, limit=10)
    assert len(c) == 3  # every lease ran out: a dead pass's rows are taken over
    assert box.claim("d", T0 - timedelta(seconds=1), LEASE, 10) == []


def test_rows_not_yet_due_are_not_claimed(box: SqlMailbox) -> None:
    assert box.claim("a", T0 - timedelta(seconds=1), LEASE, 10) == []


def test_back_off_doubles_is_capped_and_ends_in_failed(box: SqlMailbox) -> None:
    """first 60 s, then 100 s (capped), then `failed` at the third attempt, with its last error kept."""
    m, *others = box.claim("a", T0, LEASE, 10)  # the two others stay held by "a" meanwhile
    assert m.id is not None and len(others) == 2
    one = box.record_failure(m.id, "a", T0, "boom 1", RETRY)
    assert one is not None
    assert (one.status, one.attempts, one.next_attempt_at) == ("queued", 1, T0 + timedelta(seconds=60))
    assert box.claim("b", T0 + timedelta(seconds=59), LEASE, 10) == []
    t1 = T0 + timedelta(seconds=60)
    assert [r.id for r in box.claim("b", t1, LEASE, 10)] == [m.id]
    two = box.record_failure(m.id, "b", t1, "boom 2", RETRY)
    assert two is not None and (two.attempts, two.next_attempt_at) == (2, t1 + timedelta(seconds=100))
    t2 = t1 + timedelta(seconds=100)
    assert [r.id for r in box.claim("c", t2, LEASE, 10)] == [m.id]
    three = box.record_failure(m.id, "c", t2, "boom\n3", RETRY)
    assert three is not None and (three.status, three.attempts, three.last_error) == ("failed", 3, "boom 3")
    assert m.id not in {r.id for r in box.claim("d", t2 + 10 * LEASE, LEASE, 10)}


def test_a_stale_owner_cannot_touch_a_row_taken_over(box: SqlMailbox) -> None:
    """After a takeover the old owner's failure report is ignored; a server accept still counts."""
    [m] = box.claim("old", T0, LEASE, 1)
    assert m.id is not None
    box.claim("new", T0 + LEASE, LEASE, 10)
    assert box.record_failure(m.id, "old", T0 + LEASE, "late", RETRY) is None
    assert box.get(m.id).attempts == 0  # type: ignore[union-attr]
    assert box.mark_sent(m.id, T0 + LEASE, subject="s") is True
    assert box.mark_sent(m.id, T0 + LEASE) is False  # once
    sent = box.get(m.id)
    assert sent is not None and (sent.status, sent.subject, sent.sent_at) == ("sent", "s", T0 + LEASE)


def test_requeue_gives_a_failed_row_fresh_attempts(box: SqlMailbox) -> None:
    [m] = box.claim("a", T0, LEASE, 1)
    assert m.id is not None
    box.record_failure(m.id, "a", T0, "no such mailbox", RETRY, permanent=True)
    assert box.counts() == {"queued": 2, "sent": 0, "failed": 1}
    again = box.requeue(m.id, T0 + timedelta(days=1))
    assert (again.status, again.attempts, again.next_attempt_at) == ("queued", 0, T0 + timedelta(days=1))
    assert again.last_error == "no such mailbox"  # what went wrong before stays visible
    box.mark_sent(m.id, T0)
    with pytest.raises(BadInput, match="already sent"):
        box.requeue(m.id, T0)
    with pytest.raises(NotFound):
        box.requeue(10**6, T0)


def test_newest_queued_is_what_preview_shows(app: App, box: SqlMailbox) -> None:
    case = app.store.mails()[0].case_id
    assert case is not None
    first = box.newest_queued(case)
    assert first is not None and first.event == "leave.requested"
    app.service.advance(case, "approve", "wang")
    newest = box.newest_queued(case)
    assert newest is not None and newest.event == "leave.approved"
    assert box.newest_queued(10**6) is None
