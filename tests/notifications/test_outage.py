"""An SMTP outage of several (simulated) hours: nothing lost, back-off respected, all delivered after."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

from outpost.app import App
from tests.conftest import local
from tests.notifications.conftest import SmtpServer, by_message_id, deliver, with_password
from workflow.outbox import RetryPolicy

OUTAGE = timedelta(hours=8)
EVERY = timedelta(minutes=1)  # the daemon's delivery pass runs every 30 s by default; 1 min is plenty


def test_eight_hour_outage_loses_nothing_respects_back_off_and_delivers_each_once_after(
        smtp_app: App, smtp_server: SmtpServer) -> None:
    """The server is down for 8 simulated hours while a pass runs every minute: no row is dropped or
    failed, attempts happen only when their back-off has passed (60 s doubling to 1 h), and once the server
    is back every message arrives exactly once."""
    app = with_password(smtp_app)
    for who in ("zhao", "huang", "li"):
        app.service.open("leave", who, {"start": "2027-03-01", "end": "2027-03-02"})
    queued = app.store.mails()
    smtp_server.stop()
    policy = RetryPolicy.from_policy(app.policy)
    start = local(2027, 1, 4, 9, 0)
    t, passes, attempted_at = start, 0, []
    while t < start + OUTAGE:
        report = deliver(app, smtp_server, now=t)
        if report.claimed:
            assert report.connection_error is not None and report.sent == 0
            attempted_at.append(t)
        passes += 1
        t += EVERY
    rows = app.store.mails()
    assert {m.status for m in rows} == {"queued"}  # nothing failed, nothing lost
    assert len(rows) == len(queued)
    gaps = [int((b - a).total_seconds()) for a, b in pairwise(attempted_at)]
    expected = [int(policy.delay(n).total_seconds()) for n in range(1, len(attempted_at))]
    # each retry comes at the first pass after its back-off (passes are a minute apart)
    assert all(e <= g < e + 60 for g, e in zip(gaps, expected, strict=True)), (gaps, expected)
    assert max(gaps) <= 3600 + 60
    print(f"{passes} passes over the outage, {len(attempted_at)} attempts per message")
    assert rows[0].attempts == len(attempted_at) < policy.max_attempts
    smtp_server.start()
    report = deliver(app, smtp_server, now=t + timedelta(hours=1))
    assert (report.sent, report.failed) == (3, 0)
    assert sorted(by_message_id(smtp_server).values()) == [1, 1, 1]
    assert {m.status for m in app.store.mails()} == {"sent"}
    assert passes == int(OUTAGE / EVERY)
    assert date(2027, 1, 4) == start.date()
