"""`outpost mail list|deliver|retry|preview` and `outpost calendar export`, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from notifications.delivery import ActionFilter, prepare
from outpost.app import App
from tests.conftest import OUTPOST, ROOT, local
from tests.conftest import run_cli as cli
from tests.notifications.conftest import PASSWORD, USER, SmtpServer, deliver, with_password
from tests.notifications.libical import libical_errors
from workflow.model import Mail
from workflow.outbox import RetryPolicy
from workflow.ports import CaseFilter

# The CLI runs on the real clock: cases are opened in the past, so their mail is due now.
OPENED = local(2026, 1, 5, 9, 0)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., None]:
    """Point the CLI (which reads the environment) at a database and outbox."""
    monkeypatch.chdir(tmp_path)
    for key in ("OUTPOST_CONFIG", "OUTPOST_SMTP_HOST", "OUTPOST_SMTP_PASSWORD", "OUTPOST_LANG"):
        monkeypatch.delenv(key, raising=False)

    def point(app: App, **env: str) -> None:
        monkeypatch.setenv("OUTPOST_DATABASE_URL", app.settings.database_url)
        monkeypatch.setenv("OUTPOST_OUTBOX_DIR", str(app.settings.outbox_dir))
        for key, value in env.items():
            monkeypatch.setenv(key, value)

    return point


def requests(app: App) -> list[int]:
    return [app.service.open("leave", who, {"start": "2026-03-02", "end": "2026-03-03"}).id
            for who in ("zhao", "huang", "li")]


def test_mail_list_json_has_the_documented_keys(make_app: Callable[..., App], sqlite_url: str,
                                                 cli_env: Callable[..., None],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`mail list --json`: id, case, to, subject (rendered even before sending), status, attempts, created_at."""
    app = make_app(sqlite_url, at=OPENED)
    cases = requests(app)
    cli_env(app)
    code, out, _ = cli(capsys, "mail", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["case"] for r in rows] == cases
    first = rows[0]
    assert {"id", "case", "to", "subject", "status", "attempts", "created_at", "event", "message_id",
            "last_error", "next_attempt_at", "sent_at"} <= set(first)
    assert first["to"] == ["wang@bj.example.org"]
    assert first["subject"] == f"[Outpost] 请假申请待您审批：赵丽（案件 {cases[0]}）"
    assert (first["status"], first["attempts"]) == ("queued", 0)
    assert first["created_at"] == "2026-01-05T09:00:00+08:00"
    code, out, _ = cli(capsys, "mail", "list", "--failed", "--json")
    assert (code, json.loads(out)) == (0, [])
    code, out, _ = cli(capsys, "mail", "list")
    assert code == 0 and "leave.requested" in out and "queued" in out


def test_failed_mail_is_listed_then_retried_and_delivered(
        make_app: Callable[..., App], db_url: str, smtp_server: SmtpServer, cli_env: Callable[..., None],
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """After the last attempt `mail list --failed` shows the row; `mail retry ID` re-queues it and
    `mail deliver` (STARTTLS + AUTH, password from OUTPOST_SMTP_PASSWORD) sends it; the password is
    never printed or logged."""
    caplog.set_level("DEBUG")
    app = with_password(make_app(db_url, at=OPENED, smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                                 smtp_starttls=True, smtp_username=USER))
    cases = requests(app)
    smtp_server.stop()
    t = OPENED
    attempts = RetryPolicy.from_policy(app.policy).max_attempts
    for _ in range(attempts):
        deliver(app, smtp_server, now=t)
        t = app.store.mails()[0].next_attempt_at
    cli_env(app, OUTPOST_SMTP_HOST="127.0.0.1", OUTPOST_SMTP_PORT=str(smtp_server.port),
            OUTPOST_SMTP_STARTTLS="true", OUTPOST_SMTP_USERNAME=USER, OUTPOST_SMTP_PASSWORD=PASSWORD,
            SSL_CERT_FILE=str(smtp_server.cert))
    code, out, _ = cli(capsys, "mail", "list", "--failed", "--json")
    failed = json.loads(out)
    assert code == 0 and [f["case"] for f in failed] == cases
    assert all(f["status"] == "failed" and f["attempts"] == attempts for f in failed)
    code, out, _ = cli(capsys, "mail", "list", "--failed")
    assert code == 0 and "failed" in out and "connection" in out
    smtp_server.start()
    code, out, err = cli(capsys, "mail", "retry", str(failed[0]["id"]))
    assert (code, err) == (0, "") and f"邮件 {failed[0]['id']} 已重新排队" in out  # zh, the default
    row = app.store.mails(case_id=cases[0])[0]
    assert (row.status, row.attempts) == ("queued", 0)
    code, out, err = cli(capsys, "mail", "deliver")
    assert (code, err) == (0, "")
    assert "邮件：已发送 1 封" in out
    assert [r.rcpt_tos for r in smtp_server.received] == [["wang@bj.example.org"]]
    assert [m.status for m in app.store.mails()] == ["sent", "failed", "failed"]
    code, out, _ = cli(capsys, "mail", "retry", str(failed[0]["id"]))
    assert code == 2  # already sent: nothing to retry
    everything = out + caplog.text + " ".join(str(m.last_error) for m in app.store.mails())
    assert PASSWORD not in everything


def test_mail_deliver_with_the_server_down_exits_1_and_keeps_the_mail(
        make_app: Callable[..., App], sqlite_url: str, smtp_server: SmtpServer, cli_env: Callable[..., None]) -> None:
    """`mail deliver` that cannot reach the server: one line on stderr, exit 1, every row still queued."""
    app = make_app(sqlite_url, at=OPENED)
    requests(app)
    smtp_server.stop()
    cli_env(app, OUTPOST_SMTP_HOST="127.0.0.1", OUTPOST_SMTP_PORT=str(smtp_server.port),
            OUTPOST_SMTP_STARTTLS="true", OUTPOST_SMTP_USERNAME=USER, OUTPOST_SMTP_PASSWORD=PASSWORD)
    # a real process: a warning logged by the delivery pass would reach stderr as a line of its own there
    done = subprocess.run([*OUTPOST, "mail", "deliver"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("outpost: mail server unusable (127.0.0.1")
    assert "3 message(s) stay queued" in done.stderr and "Traceback" not in done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert {(m.status, m.attempts) for m in app.store.mails()} == {("queued", 1)}


def test_mail_deliver_without_smtp_writes_eml_files(make_app: Callable[..., App], sqlite_url: str,
                                                    cli_env: Callable[..., None],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """No SMTP configured: `mail deliver` writes the outbox folder and says so; `--json` reports counts."""
    app = make_app(sqlite_url, at=OPENED)
    requests(app)
    cli_env(app)
    code, out, _ = cli(capsys, "mail", "deliver", "--json")
    assert code == 0
    assert json.loads(out) | {"errors": []} == {"claimed": 3, "sent": 3, "retried": 0, "failed": 0, "superseded": 0,
                                                "mode": "outbox_dir", "connection_error": None, "errors": []}
    assert len(list(app.settings.outbox_dir.glob("*.eml"))) == 3
    code, out, _ = cli(capsys, "mail", "deliver")
    assert (code, out.strip()) == (0, f"邮件：已发送 0 封到 {app.settings.outbox_dir}，0 封稍后重试，0 封失败")  # zh


@pytest.mark.parametrize("arg", ["999", "abc", "0"])
def test_mail_retry_of_nothing_is_bad_input(make_app: Callable[..., App], sqlite_url: str, arg: str,
                                            cli_env: Callable[..., None], capsys: pytest.CaptureFixture[str]) -> None:
    app = make_app(sqlite_url, at=OPENED)
    cli_env(app)
    code, _, err = cli(capsys, "mail", "retry", arg)
    assert code == 2 and err.startswith("outpost: 未知的邮件")  # the CLI speaks the default language, zh


def test_mail_preview_shows_the_next_mail_of_a_case(make_app: Callable[..., App], sqlite_url: str,
                                                    cli_env: Callable[..., None],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`mail preview CASE`: headers and text of the newest queued mail; --lang en, --html; none; unknown."""
    app = make_app(sqlite_url, at=OPENED)
    case = requests(app)[0]
    cli_env(app)
    code, out, _ = cli(capsys, "mail", "preview", str(case))
    assert code == 0
    assert "To: 王建国 <wang@bj.example.org>" in out
    assert f"Subject: [Outpost] 请假申请待您审批：赵丽（案件 {case}）" in out
    assert f"outpost case advance {case} approve --as wang" in out
    # where the single-use web link goes; the preview makes none (it writes nothing)
    assert "/a/<发送时生成>" in out
    code, out, _ = cli(capsys, "mail", "preview", str(case), "--lang", "en")
    assert code == 0 and "Leave request awaiting your decision: 赵丽" in out and "/a/<made when sent>" in out
    code, out, _ = cli(capsys, "mail", "preview", str(case), "--html")
    assert code == 0 and "<!DOCTYPE html>" in out
    app.service.advance(case, "approve", "wang")  # queues leave.approved to zhao: the newest
    code, out, _ = cli(capsys, "mail", "preview", str(case))
    assert code == 0 and "To: 赵丽 <zhao@bj.example.org>" in out and "您的请假申请已获批准" in out
    from notifications.delivery import deliver_pass

    deliver_pass(app, now=OPENED + timedelta(days=1))
    code, out, _ = cli(capsys, "mail", "preview", str(case))  # approved: its start deadline sends nothing
    assert (code, out.strip()) == (0, f"案件 {case} 没有排队的邮件，它的期限也都不发送邮件")
    code, _, err = cli(capsys, "mail", "preview", "4242")
    assert code == 2 and err.strip() == "outpost: 未知的案件：4242"  # zh, the default language
    code, _, err = cli(capsys, "mail", "preview", str(case), "--lang", "fr")
    assert code == 2 and "--lang" in err


def test_mail_preview_rehearses_the_next_deadline_when_nothing_is_queued(
        make_app: Callable[..., App], db_url: str, cli_env: Callable[..., None],
        capsys: pytest.CaptureFixture[str]) -> None:
    """With its request mail sent, a pending leave's next mail is the approver's R-2.8 reminder: `mail preview`
    shows it as its deadline will send it (same Message-ID), and writes nothing."""
    from notifications.delivery import deliver_pass
    from tests.conftest import dump

    app = make_app(db_url, at=OPENED)
    case = requests(app)[0]
    deliver_pass(app, now=OPENED + timedelta(minutes=1))
    cli_env(app)
    before = dump(db_url)
    from freezegun import freeze_time

    # the CLI's clock on the day of the requests: rehearsed later than the leave's last day, the reminder to
    # decide it would not be sent at all (issue 16: a tick sends nothing stale), only its lapse
    with freeze_time(OPENED + timedelta(minutes=2)):
        code, out, _ = cli(capsys, "mail", "preview", str(case))
    assert code == 0, out
    reminder = next(d for d in app.case_view(case)["deadlines"] if d["kind"] == "remind_approver")
    assert out.splitlines()[0] == (f"尚未排队：期限 {reminder['id']}（remind_approver，到期 "  # zh, the default
                                   f"{reminder['due_at']}，R-2.8）将发送 leave.reminder")
    assert "To: 王建国 <wang@bj.example.org>" in out and f"outpost case advance {case} approve --as wang" in out
    assert dump(db_url) == before  # rehearsed in a transaction that was rolled back
    app.ticker.tick(datetime.fromisoformat(reminder["due_at"]))  # now the reminder is really queued
    sent = [m for m in app.store.mails() if m.event == "leave.reminder" and m.case_id == case]
    assert len(sent) == 1 and f"Message-ID: {sent[0].message_id}" in out


def mail_ics(app: App, mail: Mail, lang: str | None = None) -> Any:
    """The VEVENT of the `.ics` the row is sent with (rendered as delivery renders it)."""
    with app.store.transaction(write=False) as tx:
        org = tx.org()
    out = prepare(mail, org, app.settings, ActionFilter(app), lang=lang)
    [part] = list(out.message.iter_attachments())
    [ev] = list(Calendar.from_ical(part.get_content()).walk("VEVENT"))
    return ev, out.rendered


def export(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[bytes, list[Any]]:
    code, out, err = cli(capsys, "calendar", "export", *args)
    assert code == 0, err
    return out.encode("utf-8"), list(Calendar.from_ical(out).walk("VEVENT"))


def test_calendar_export_has_one_entry_per_thing_due_as_its_mails_show_it(
        make_app: Callable[..., App], sqlite_url: str, cli_env: Callable[..., None],
        capsys: pytest.CaptureFixture[str]) -> None:
    """`calendar export` is one iCalendar with one event per thing due, not per internal deadline
    (remind_approver, escalate, undecided_at_start): a leave request's decision, due before the leave
    starts on 2 March, is an all-day event on 1 March (R-0.4) with the UID, title and text of the mail's
    .ics, so importing both updates one entry; DTSTAMP is the export time; libical finds no error;
    --office and --person filter."""
    app = make_app(sqlite_url, at=OPENED)
    cases = requests(app)  # zhao and li (BJ) ask wang; huang (SZ) asks chen
    cli_env(app)
    before = datetime.now(UTC).replace(microsecond=0)
    data, events = export(capsys)
    assert len(events) == 3 and libical_errors([data]) == [[]]
    kinds = {d["kind"] for c in cases for d in app.case_view(c)["deadlines"]}
    assert kinds == {"remind_approver", "escalate", "undecided_at_start", "lapse"}
    by_uid = {str(e["uid"]): e for e in events}
    for case in cases:
        [asked] = [m for m in app.store.mails() if m.case_id == case and m.event == "leave.requested"]
        sent, rendered = mail_ics(app, asked)
        ev = by_uid.pop(str(sent["uid"]))  # the mail's entry is in the export
        assert str(ev["summary"]) == str(sent["summary"]) == rendered.title
        assert str(ev["description"]) == str(sent["description"])
        assert (ev.decoded("dtstart"), ev.decoded("dtend")) == (date(2026, 3, 1), date(2026, 3, 2))
        assert not any(k in str(ev["summary"]) for k in kinds) and "R-2.8" not in str(ev["summary"])
        assert str(ev["organizer"]) == "mailto:outpost@localhost"
        assert before <= ev.decoded("dtstamp") <= datetime.now(UTC)
    again, _ = export(capsys)
    assert [line for line in again.splitlines() if not line.startswith(b"DTSTAMP")] == [
        line for line in data.splitlines() if not line.startswith(b"DTSTAMP")]  # only the stamp moves
    assert len(export(capsys, "--office", "SZ")[1]) == 1
    assert len(export(capsys, "--person", "wang")[1]) == 2  # the two he decides
    assert len(export(capsys, "--person", "huang")[1]) == 1  # her own request
    code, _, err = cli(capsys, "calendar", "export", "--office", "XX")
    assert code == 2 and err.strip() == "outpost: 未知的驻外办：XX"  # zh, the default language
    code, _, err = cli(capsys, "calendar", "export", "--person", "nobody")
    assert code == 2 and err.strip() == "outpost: 未知的人员：nobody"  # zh, the default language


def test_calendar_export_speaks_the_configured_language(
        make_app: Callable[..., App], sqlite_url: str, cli_env: Callable[..., None],
        capsys: pytest.CaptureFixture[str]) -> None:
    """With `language = "en"` the entries carry the English title and text of the mail; the UIDs stay."""
    app = make_app(sqlite_url, at=OPENED)
    [case] = requests(app)[:1]
    cli_env(app)
    _, zh = export(capsys, "--person", "zhao")
    cli_env(app, OUTPOST_LANG="en")
    data, en = export(capsys, "--person", "zhao")
    [asked] = [m for m in app.store.mails() if m.case_id == case and m.event == "leave.requested"]
    _, rendered = mail_ics(app, asked, lang="en")
    assert [str(e["uid"]) for e in en] == [str(e["uid"]) for e in zh]
    assert [str(e["summary"]) for e in en] == [rendered.title] != [str(e["summary"]) for e in zh]
    assert "outpost case" in str(en[0]["description"]) and libical_errors([data]) == [[]]


def test_a_statement_due_15_april_is_one_entry_on_the_15th(
        make_app: Callable[..., App], sqlite_url: str, cli_env: Callable[..., None],
        capsys: pytest.CaptureFixture[str]) -> None:
    """R-6.1: a quarter's statement due 15 April shows on 15 April — not as its reminders (8, 12, 14 April)
    nor its 'overdue' at 16 April 00:00 — from the day it opens, before any mail gave the date; later the
    reminders' .ics carry the same UID."""
    app = make_app(sqlite_url, at=OPENED)
    app.ticker.tick(OPENED)
    app.ticker.tick(local(2026, 4, 1, 9, 0))
    [bj] = [c for c in app.store.list_cases(CaseFilter(process="fin_statement", office="BJ"))
            if c.period == "2026-Q1"]
    cli_env(app)

    def statements(*args: str) -> list[Any]:
        data, events = export(capsys, *args)
        assert libical_errors([data]) == [[]]
        return [e for e in events if e.get("categories").cats == ["fin_statement"]]

    days = {e.decoded("dtstart"): e for e in statements("--office", "BJ")}
    assert date(2026, 4, 15) in days and not {date(2026, 4, d) for d in (8, 12, 14, 16)} & set(days)
    ev = days[date(2026, 4, 15)]
    assert ev.decoded("dtend") == date(2026, 4, 16) and "提交" in str(ev["description"])
    app.ticker.tick(local(2026, 4, 8, 9, 0))
    [reminder] = [m for m in app.store.mails() if m.case_id == bj.id and m.event == "fin_statement.reminder"][:1]
    sent, _ = mail_ics(app, reminder)
    assert str(sent["uid"]) == str(ev["uid"]) and sent.decoded("dtstart") == date(2026, 4, 15)
    assert str(ev["uid"]) in {str(e["uid"]) for e in statements("--office", "BJ")}


def test_cli_start_imports_no_mail_machinery() -> None:
    """`outpost --help` stays fast: jinja2, smtplib, icalendar and notifications load only when used."""
    code = ("import sys, outpost.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('jinja2', 'smtplib', 'icalendar', 'notifications', 'rich')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
    helper = "from outpost.cli import run; raise SystemExit(run(['mail', '--help']))"
    helped = subprocess.run([sys.executable, "-c", helper], cwd=ROOT, capture_output=True, text=True)
    assert helped.returncode == 0
    for command in ("list", "deliver", "retry", "preview"):
        assert command in helped.stdout
