"""Delivery over a real SMTP server (aiosmtpd, STARTTLS + AUTH) on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar

from notifications.delivery import EmlTransport, deliver_pass
from notifications.message import message_id_header
from outpost.app import App
from store.mailbox import SqlMailbox
from tests.conftest import ORG_FILE, local, set_time
from tests.notifications.conftest import (
    PASSWORD,
    REFUSED,
    SmtpServer,
    by_message_id,
    deliver,
    with_password,
)
from workflow.model import Mail
from workflow.outbox import RetryPolicy


def open_leave(app: App, who: str, start: date, end: date, reason: str | None = None) -> int:
    params = {"start": start.isoformat(), "end": end.isoformat(), "reason": reason}
    return app.service.open("leave", who, params).id


def case_mails(app: App, case_id: int) -> list[Mail]:
    return app.store.mails(case_id=case_id)


def three_requests(app: App) -> list[int]:
    """Three leave requests, three queued mails (zhao and li ask wang, huang asks chen)."""
    return [open_leave(app, who, date(2027, 3, 1), date(2027, 3, 2)) for who in ("zhao", "huang", "li")]


# -- the round trip ------------------------------------------------------------------------------------
def test_mail_arrives_over_starttls_with_auth_and_parses_back(smtp_app: App, smtp_server: SmtpServer) -> None:
    """A queued request arrives once, Chinese subject and name decode, Message-ID is the row's, row is sent."""
    app = with_password(smtp_app)
    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    report = deliver(app, smtp_server)
    assert (report.claimed, report.sent, report.retried, report.failed) == (1, 1, 0, 0)
    [got] = smtp_server.received
    msg = got.message
    [row] = case_mails(app, case)
    assert msg["Subject"] == f"[Outpost] 请假申请待您审批：赵丽（案件 {case}）"
    assert msg["To"].addresses[0].display_name == "王建国"
    assert msg["To"].addresses[0].addr_spec == "wang@bj.example.org"
    assert msg["From"].addresses[0].display_name == "Outpost 公文系统"
    assert got.mail_from == "outpost@gov.example.org" and got.rcpt_tos == ["wang@bj.example.org"]
    assert msg["Message-ID"] == message_id_header(row.message_id)
    assert msg["Auto-Submitted"] == "auto-generated"
    text = msg.get_body(("plain",)).get_content()
    assert f"outpost case advance {case} approve --as wang" in text
    assert msg.get_body(("html",)) is not None
    [part] = list(msg.iter_attachments())  # the request is to be decided before the leave starts
    assert part.get_content_type() == "text/calendar"
    assert (row.status, row.attempts, row.subject) == ("sent", 0, msg["Subject"])
    assert row.sent_at == local(2027, 1, 4, 9, 0)
    assert deliver(app, smtp_server).claimed == 0  # sent once, never again


def test_reminder_carries_an_ics_event_on_the_due_date(smtp_app: App, smtp_server: SmtpServer) -> None:
    """The R-2.8 reminder's .ics parses with icalendar: one all-day event on 2027-02-28, the last day to
    decide before the leave starts on 1 March (due 1 March 00:00 local, R-0.4)."""
    app = with_password(smtp_app)
    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    # asked Monday 09:00; the approver has all of Tuesday (a working day ends at its end, issue 17), so the
    # reminder fires at the end of Tuesday and goes out at 09:00 on Wednesday (mail.send_from)
    app.ticker.tick(local(2027, 1, 6, 0, 0))
    set_time(app, local(2027, 1, 6, 8, 59))
    deliver(app, smtp_server)
    assert not [r for r in smtp_server.received if r.message["X-Outpost-Event"] == "leave.reminder"]
    set_time(app, local(2027, 1, 6, 9, 30))
    deliver(app, smtp_server)
    reminders = [r.message for r in smtp_server.received if r.message["X-Outpost-Event"] == "leave.reminder"]
    assert len(reminders) == 1
    msg = reminders[0]
    assert msg["Subject"] == f"[Outpost] 提醒：请假申请仍待您审批：赵丽（还有53天，案件 {case}）"
    assert msg["Date"].datetime == local(2027, 1, 6, 9, 0)
    assert "办理期限：2月28日（星期日）下班前（还有53天）" in msg.get_body(("plain",)).get_content()
    [part] = list(msg.iter_attachments())
    assert part.get_content_type() == "text/calendar"
    assert part.get_filename() == f"outpost-case-{case}.ics"
    cal = Calendar.from_ical(part.get_content())
    [event] = list(cal.walk("VEVENT"))
    assert event.decoded("dtstart") == date(2027, 2, 28)
    assert event.decoded("dtend") == date(2027, 3, 1)
    assert str(event["uid"]).endswith("@gov.example.org")
    assert "赵丽" in str(event["summary"])


def test_html_part_escapes_a_script_in_a_name(make_app: Callable[..., App], db_url: str,
                                               smtp_server: SmtpServer, tmp_path: Path) -> None:
    """A person called `<script>` arrives as text in the HTML part, never as markup."""
    org = tmp_path / "org.toml"
    org.write_text(ORG_FILE.read_text(encoding="utf-8").replace('name = "赵丽"', 'name = "<script>alert(1)</script>"'),
                   encoding="utf-8")
    app = with_password(make_app(db_url, org=org, smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                                 smtp_starttls=True, smtp_username="outpost"))
    open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    deliver(app, smtp_server)
    msg = smtp_server.received[0].message
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" in msg["Subject"]  # a subject is text; it is never markup
    assert "<script>alert(1)</script>" in msg.get_body(("plain",)).get_content()


# -- failures --------------------------------------------------------------------------------------------
def test_server_down_keeps_mail_queued_with_backoff_then_delivers_each_once(
        smtp_app: App, smtp_server: SmtpServer) -> None:
    """While the server is down attempts grow 60 s, 120 s, 240 s apart; once it is back each mail arrives once."""
    app = with_password(smtp_app)
    cases = three_requests(app)
    smtp_server.stop()
    t = local(2027, 1, 4, 9, 0)
    waits = []
    for attempt in (1, 2, 3):
        report = deliver(app, smtp_server, now=t)
        assert (report.claimed, report.sent, report.retried, report.failed) == (3, 0, 3, 0)
        assert report.connection_error is not None
        rows = app.store.mails()
        assert {(m.status, m.attempts) for m in rows} == {("queued", attempt)}
        nxt = rows[0].next_attempt_at
        assert all(m.next_attempt_at == nxt for m in rows)
        waits.append(int((nxt - t).total_seconds()))
        assert deliver(app, smtp_server, now=nxt - timedelta(seconds=1)).claimed == 0  # not due yet
        t = nxt
    assert waits == [60, 120, 240]
    assert "Connection refused" in (app.store.mails()[0].last_error or "")
    smtp_server.start()
    report = deliver(app, smtp_server, now=t)
    assert (report.sent, report.retried) == (3, 0)
    assert deliver(app, smtp_server, now=t + timedelta(hours=1)).claimed == 0
    counts = by_message_id(smtp_server)
    assert sorted(counts.values()) == [1, 1, 1]
    assert set(counts) == {message_id_header(m.message_id) for c in cases for m in case_mails(app, c)}
    assert {m.status for m in app.store.mails()} == {"sent"}


def test_after_the_last_attempt_the_mail_is_failed_and_kept(smtp_app: App, smtp_server: SmtpServer) -> None:
    """After max_attempts (30: about a day) the row is `failed` with its error, delay capped at 3600 s;
    never dropped."""
    app = with_password(smtp_app)
    [case] = three_requests(app)[:1]
    smtp_server.stop()
    policy = RetryPolicy.from_policy(app.policy)
    assert (policy.max_attempts, policy.first_seconds, policy.max_seconds) == (30, 60, 3600)
    assert [policy.delay(n).total_seconds() for n in range(1, 9)] == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    t = local(2027, 1, 4, 9, 0)
    for _ in range(30):
        deliver(app, smtp_server, now=t)
        row = case_mails(app, case)[0]
        t = row.next_attempt_at
    assert (row.status, row.attempts) == ("failed", 30)
    assert row.next_attempt_at - local(2027, 1, 4, 9, 0) > timedelta(hours=20)  # a day of retries
    assert row.last_error and "connection" in row.last_error
    assert len(app.store.mails(status="failed")) == 3
    assert deliver(app, smtp_server, now=t + timedelta(days=30)).claimed == 0  # failed rows rest


def test_a_refused_recipient_fails_at_once_and_the_others_go(make_app: Callable[..., App], db_url: str,
                                                            smtp_server: SmtpServer, tmp_path: Path) -> None:
    """A permanent 550 for one mailbox fails that row after one attempt; the rest of the pass goes on."""
    org = tmp_path / "org.toml"
    org.write_text(ORG_FILE.read_text(encoding="utf-8").replace("wang@bj.example.org", REFUSED), encoding="utf-8")
    app = with_password(make_app(db_url, org=org, smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                                 smtp_starttls=True, smtp_username="outpost"))
    three_requests(app)  # two of them go to wang, whose mailbox is refused
    report = deliver(app, smtp_server)
    assert (report.sent, report.failed, report.retried) == (1, 2, 0)
    failed = app.store.mails(status="failed")
    assert {m.to[0] for m in failed} == {REFUSED}
    assert all(m.attempts == 1 and "550" in (m.last_error or "") for m in failed)
    assert [r.rcpt_tos for r in smtp_server.received] == [["chen@sz.example.org"]]


def test_a_message_that_cannot_be_built_fails_alone_in_its_turn(make_app: Callable[..., App], db_url: str,
                                                                 smtp_server: SmtpServer, tmp_path: Path) -> None:
    """The next message is prepared while the server takes the current one; one whose address no server
    takes (two dots in a row) still fails for good at its own turn, and the messages around it go. (`org
    load` refuses such an address now; a database loaded by an older, laxer Outpost may still hold one.)"""
    from sqlalchemy import text

    app = with_password(make_app(db_url, smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                                 smtp_starttls=True, smtp_username="outpost"))
    with app.store.transaction() as tx:
        tx.conn.execute(text("UPDATE person SET email = 'chen..sz@sz.example.org' WHERE id = 'chen'"))
    app.store.org_cache = None  # as a new process would read it
    first, second, third = three_requests(app)  # the second goes to chen
    report = deliver(app, smtp_server)
    assert (report.sent, report.failed, report.retried) == (2, 1, 0)
    [failed] = app.store.mails(status="failed")
    assert failed.case_id == second and failed.attempts == 1
    assert "not a usable e-mail address" in (failed.last_error or "")
    assert [int(r.message["X-Outpost-Case"]) for r in smtp_server.received] == [first, third]


def test_a_wrong_password_is_a_connection_failure_and_is_never_shown(
        smtp_app: App, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    """AUTH refused: every claimed row retries later; the password is in no log line and no stored error."""
    caplog.set_level("DEBUG")
    wrong = "Wr0ng-" + PASSWORD
    app = with_password(smtp_app, wrong)
    three_requests(app)
    report = deliver(app, smtp_server)
    assert (report.sent, report.retried) == (0, 3)
    assert report.connection_error and "535" in report.connection_error
    rows = app.store.mails()
    assert all(m.status == "queued" and m.attempts == 1 for m in rows)
    stored = " ".join(str(m.last_error) for m in rows)
    assert "535" in stored
    for text in (caplog.text, stored, str(report.as_json())):
        assert wrong not in text and PASSWORD not in text


def test_a_crash_between_accept_and_mark_resends_only_that_message(
        smtp_app: App, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies after the server took message 2: after the lease, 2 goes again (same Message-ID)
    and 3 goes once; 1 is never resent (at-least-once, recognisable)."""

    class Crash(BaseException):
        """Stands for the process being killed: nothing in the pass may catch it."""

    app = with_password(smtp_app)
    three_requests(app)
    real = SqlMailbox.mark_sent
    calls = []

    def dying_mark_sent(self: SqlMailbox, mail_id: int, *args: object, **kwargs: object) -> bool:
        calls.append(mail_id)
        if len(calls) == 2:
            raise Crash
        return real(self, mail_id, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(SqlMailbox, "mark_sent", dying_mark_sent)
    t = local(2027, 1, 4, 9, 0)
    with pytest.raises(Crash):
        deliver(app, smtp_server, now=t)
    monkeypatch.setattr(SqlMailbox, "mark_sent", real)
    first, second, third = app.store.mails()
    assert [m.status for m in (first, second, third)] == ["sent", "queued", "queued"]
    assert len(smtp_server.received) == 2
    # The crashed pass's claims hold until the lease runs out: a pass meanwhile sends nothing twice.
    assert deliver(app, smtp_server, now=t + timedelta(minutes=5)).claimed == 0
    report = deliver(app, smtp_server, now=t + timedelta(minutes=16))
    assert (report.claimed, report.sent) == (2, 2)
    counts = by_message_id(smtp_server)
    assert counts == {message_id_header(first.message_id): 1, message_id_header(second.message_id): 2,
                      message_id_header(third.message_id): 1}
    copies = [r.data for r in smtp_server.received
              if r.message["Message-ID"] == message_id_header(second.message_id)]
    assert copies[0] == copies[1]  # the resend is the same message, byte for byte
    assert {m.status for m in app.store.mails()} == {"sent"}


def test_two_concurrent_passes_send_every_message_exactly_once(smtp_app: App, smtp_server: SmtpServer) -> None:
    """Two passes racing one batch at a time never take the same row (claims with lock owner and lease)."""
    app = with_password(smtp_app)
    for day in range(1, 11):
        for who in ("zhao", "huang"):
            open_leave(app, who, date(2027, 3, day), date(2027, 3, day))
    assert len(app.store.mails()) == 20
    reports = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            reports.append(deliver(app, smtp_server, batch=1))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert sum(r.sent for r in reports) == 20
    assert sorted(by_message_id(smtp_server).values()) == [1] * 20
    assert {m.status for m in app.store.mails()} == {"sent"}


# -- without a server --------------------------------------------------------------------------------------
def test_without_smtp_mail_becomes_eml_files(make_app: Callable[..., App], db_url: str, tmp_path: Path) -> None:
    """No smtp.host: one parseable `<id>-<hash>.eml` per message in outbox_dir, owner-only, written once."""
    import email
    import email.policy

    app = make_app(db_url)
    assert not app.settings.smtp.configured
    three_requests(app)
    report = deliver_pass(app)
    assert (report.mode, report.sent) == ("outbox_dir", 3)
    files = sorted(app.settings.outbox_dir.iterdir())
    assert len(files) == 3 and all(f.suffix == ".eml" for f in files)
    rows = {m.id: m for m in app.store.mails()}
    for f in files:
        mail_id = int(f.name.split("-", 1)[0])
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        assert msg["Message-ID"] == message_id_header(rows[mail_id].message_id)
        assert msg["Subject"].startswith("[Outpost] 请假申请待您审批：")
        assert f.stat().st_mode & 0o777 == 0o600
        assert f == EmlTransport(app.settings.outbox_dir).path_for(rows[mail_id])
    assert deliver_pass(app).claimed == 0
    assert sorted(app.settings.outbox_dir.iterdir()) == files  # no temp file left, nothing written twice


def test_an_address_added_to_the_org_later_is_used_by_retry(make_app: Callable[..., App], db_url: str,
                                                           tmp_path: Path) -> None:
    """A director without e-mail: the row is failed and says why; after the org file is fixed,
    `mail retry` delivers it to the address the organisation has now."""
    text = ORG_FILE.read_text(encoding="utf-8")
    org = tmp_path / "org.toml"
    org.write_text(text.replace('email = "wang@bj.example.org"\n', ""), encoding="utf-8")
    app = make_app(db_url, org=org)
    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    [row] = case_mails(app, case)
    assert row.status == "failed" and "no e-mail" in (row.last_error or "")
    assert deliver_pass(app).claimed == 0
    org.write_text(text, encoding="utf-8")
    app.load_org(org)
    assert row.id is not None
    SqlMailbox(app.store).requeue(row.id, app.clock.now())
    assert deliver_pass(app).sent == 1
    [eml] = list(app.settings.outbox_dir.iterdir())
    assert b"wang@bj.example.org" in eml.read_bytes()


def test_a_person_removed_or_without_an_address_by_send_time_gets_nothing(make_app: Callable[..., App],
                                                                           db_url: str, tmp_path: Path) -> None:
    """Mail queued for wang, then `org load` removes his address: the row fails saying why, and nothing goes
    to the address he had when it was queued (R-7.3; the organisation as it is now decides)."""
    text = ORG_FILE.read_text(encoding="utf-8")
    app = make_app(db_url)
    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    [row] = case_mails(app, case)
    assert row.status == "queued"
    org = tmp_path / "org.toml"
    org.write_text(text.replace('email = "wang@bj.example.org"\n', ""), encoding="utf-8")
    app.load_org(org)
    report = deliver_pass(app)
    assert (report.sent, report.failed) == (0, 1)
    [row] = case_mails(app, case)
    assert row.status == "failed" and "no e-mail" in (row.last_error or "")
    assert not app.settings.outbox_dir.exists() or not list(app.settings.outbox_dir.iterdir())


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # raised in the server's thread
def test_implicit_tls_smtp_ssl_with_auth(make_app: Callable[..., App], sqlite_url: str,
                                         tls_files: tuple[Path, Path]) -> None:
    """`smtp.ssl = true` talks TLS from the first byte (SMTP_SSL, port 465 style) and logs in."""
    import ssl

    from aiosmtpd.controller import Controller

    from notifications.delivery import SmtpTransport
    from tests.notifications.conftest import Handler, _authenticator, _free_port

    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler, port = Handler(), _free_port()
    # aiosmtpd only counts STARTTLS as TLS; on an implicit-TLS socket AUTH must be allowed "without" it.
    controller = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=context, auth_required=True,
                            auth_require_tls=False, authenticator=_authenticator, server_hostname="localhost")
    controller.start()
    try:
        app = with_password(make_app(sqlite_url, smtp_host="127.0.0.1", smtp_port=port, smtp_ssl=True,
                                     smtp_username="outpost"))
        open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
        transport = SmtpTransport(app.settings.smtp, ssl_context=ssl.create_default_context(cafile=str(cert)))
        report = deliver_pass(app, transport=transport)
    finally:
        controller.stop()
    assert (report.sent, report.connection_error) == (1, None)
    assert [r.rcpt_tos for r in handler.received] == [["wang@bj.example.org"]]


def test_an_unverifiable_certificate_is_refused(smtp_app: App, smtp_server: SmtpServer) -> None:
    """Without trusting the server's certificate, STARTTLS fails and nothing is sent in clear."""
    app = with_password(smtp_app)
    open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    report = deliver_pass(app)  # the system trust store does not know the test certificate
    assert report.sent == 0 and report.connection_error and "CERTIFICATE_VERIFY_FAILED" in report.connection_error
    assert smtp_server.received == []
    assert app.store.mails()[0].status == "queued"


def test_a_stop_request_hands_back_what_was_not_attempted(smtp_app: App, smtp_server: SmtpServer) -> None:
    """Daemon shutdown between messages: the unsent claims are released untouched, sendable at once."""
    app = with_password(smtp_app)
    three_requests(app)
    report = deliver(app, smtp_server, should_stop=lambda: len(smtp_server.received) >= 1)
    assert (report.claimed, report.sent) == (3, 1)
    rows = app.store.mails()
    assert [(m.status, m.attempts) for m in rows] == [("sent", 0), ("queued", 0), ("queued", 0)]
    assert deliver(app, smtp_server).sent == 2
    assert sorted(by_message_id(smtp_server).values()) == [1, 1, 1]


def test_a_slow_server_never_outlives_the_claims(smtp_app: App, smtp_server: SmtpServer) -> None:
    """When sending takes longer than half the lease, the pass claims afresh instead of sending on an
    expired claim that another pass may have taken; every message still goes once."""
    app = with_password(smtp_app)
    three_requests(app)
    transport = smtp_server.transport(app)
    real_send = transport.send
    claims = []
    box = SqlMailbox(app.store)
    real_claim = box.claim

    def slow_send(out: object, meanwhile: object = None) -> None:
        real_send(out, meanwhile)  # type: ignore[arg-type]
        set_time(app, app.clock.now() + timedelta(minutes=5))

    def counting_claim(*args: object, **kwargs: object) -> list[Mail]:
        got = real_claim(*args, **kwargs)  # type: ignore[arg-type]
        claims.append(len(got))
        return got

    transport.send = slow_send  # type: ignore[method-assign]
    box.claim = counting_claim  # type: ignore[method-assign]
    report = deliver_pass(app, transport=transport, outbox=box, lease=timedelta(minutes=15))
    assert (report.claimed, report.sent) == (3, 3)
    assert claims == [3, 1, 0]  # two sends took 10 min > 7.5 min: the third was claimed again
    assert sorted(by_message_id(smtp_server).values()) == [1, 1, 1]


def test_a_mail_for_a_post_goes_to_whoever_holds_it_at_send_time(make_app: Callable[..., App], db_url: str,
                                                                   tmp_path: Path) -> None:
    """Recipients are resolved from roles at send time: zhao's request, queued for director wang, is sent to li
    when an `org load` before the delivery makes li the director (same Message-ID, li's own commands); mail
    to the requester herself follows her, whatever her post."""
    import email
    import email.policy

    text = ORG_FILE.read_text(encoding="utf-8")
    app = make_app(db_url)
    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    [row] = case_mails(app, case)
    assert row.recipients[0]["person"] == "wang" and row.recipients[0]["roles"] == ["director"]
    org = tmp_path / "org.toml"
    org.write_text(text.replace('roles = ["director"]\n', 'roles = ["staff"]\n', 1)
                   .replace('roles = ["deputy_director", "petition_deputy"]', 'roles = ["director"]'),
                   encoding="utf-8")
    app.load_org(org)
    assert deliver_pass(app).sent >= 1
    parsed = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
              for f in app.settings.outbox_dir.iterdir()]
    msg = next(m for m in parsed if m["Message-ID"] == message_id_header(row.message_id))
    assert msg["To"] == "李明 <li@bj.example.org>"
    body = msg.get_body(("plain",))
    assert body is not None and "李明" in body.get_content() and "王建国" not in body.get_content()
    assert f"outpost case advance {case} approve --as li" in body.get_content()  # li decides now
    assert "--as wang" not in body.get_content()
    app.service.advance(case, "approve", "li")  # tells the requester; she is written to as herself
    [approved] = [m for m in case_mails(app, case) if m.event == "leave.approved"]
    assert approved.recipients[0]["person"] == "zhao" and "roles" not in approved.recipients[0]


def test_a_pass_sends_every_message_over_one_connection(smtp_app: App, smtp_server: SmtpServer) -> None:
    """21 queued messages, one delivery pass: all 21 arrive, over one SMTP connection (one client port)."""
    for who in ("zhao", "huang", "li"):
        for week in range(7):
            start = date(2027, 3, 1) + timedelta(weeks=week)
            open_leave(smtp_app, who, start, start + timedelta(days=1))
    report = deliver(with_password(smtp_app), smtp_server)
    assert report.sent == 21 and len(smtp_server.handler.received) == 21
    assert len({r.peer for r in smtp_server.handler.received}) == 1


def test_the_same_event_is_queued_once(make_app: Callable[..., App], db_url: str) -> None:
    """The outbox's dedupe key (case + event + occurrence + person) is unique: queuing the same row again in a
    later transaction adds nothing and says so (0 queued)."""
    app = make_app(db_url)
    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    [row] = case_mails(app, case)
    again = replace(row, id=None, status="queued", created_at=row.created_at + timedelta(hours=1))
    with app.store.transaction() as tx:
        assert tx.queue_mail([again]) == 0
    assert [m.id for m in case_mails(app, case)] == [row.id]
