"""What a mail says and when it goes out (issue 17): due lines as a person reads them, time left in the
subject, mail in working hours, the commands with what they need, every deadline mail with its due line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from notifications.delivery import ActionFilter, prepare
from notifications.render import When, time_left
from outpost.app import App
from tests.conftest import local, set_time
from workflow.errors import BadInput
from workflow.policy import load_policy
from workflow.timeutil import end_of_day


def _texts(app: App, case: int, event: str) -> list[str]:
    with app.store.transaction(write=False) as tx:
        org = tx.org()
    return [prepare(m, org, app.settings, ActionFilter(app)).rendered.text
            for m in app.store.mails(case_id=case) if m.event == event]


def test_an_end_of_day_deadline_reads_as_that_day() -> None:
    """Due at 00:00 on Sat 13 March (before the leave starts) or at 23:59:59.999 on Fri 12 March: both read
    "by the end of Friday 12 March"; a deadline at a time of day keeps its time; another year is named."""
    ref = date(2027, 3, 1)
    for at in (local(2027, 3, 13, 0, 0), end_of_day(date(2027, 3, 12))):
        assert When(at, "zh", deadline=True, ref=ref).text == "3月12日（星期五）下班前"
        assert When(at, "en", deadline=True, ref=ref).text == "by end of day, Fri 12 March"
    assert When(local(2027, 3, 12, 9, 0), "zh", deadline=True, ref=ref).text == "3月12日（星期五）09:00"
    assert When(local(2027, 3, 12, 9, 0), "en", deadline=True, ref=ref).text == "09:00, Fri 12 March (Beijing time)"
    assert When(local(2028, 1, 6, 0, 0), "zh", deadline=True, ref=ref).text == "2028年1月5日（星期三）下班前"
    assert When(local(2028, 1, 6, 0, 0), "en", deadline=True, ref=ref).text == "by end of day, Wed 5 January 2028"


def test_time_left_is_counted_in_days_from_the_sending_day() -> None:
    """"还有7天" / "7 days left", "今天截止" / "due today", "已逾期3天" / "3 days overdue"."""
    due = When(local(2027, 3, 13, 0, 0), "zh", deadline=True)  # by the end of 12 March
    assert [time_left(due, date(2027, 3, d), "zh") for d in (5, 11, 12, 15)] == \
        ["还有7天", "还有1天", "今天截止", "已逾期3天"]
    assert [time_left(due, date(2027, 3, d), "en") for d in (5, 11, 12, 13)] == \
        ["7 days left", "1 day left", "due today", "1 day overdue"]


def test_a_request_made_on_a_saturday_night_is_mailed_on_monday_morning(
        make_app: Callable[..., App], sqlite_url: str) -> None:
    """Mail caused outside working hours waits for the next working day's `mail.send_from` (09:00): its
    delivery time and its Date say so; during working hours it goes at once (issue 17)."""
    app = make_app(sqlite_url, at=local(2027, 1, 9, 22, 0))  # Saturday
    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"}).id
    [row] = app.store.mails(case_id=case)
    assert row.next_attempt_at == local(2027, 1, 11, 9, 0)
    set_time(app, local(2027, 1, 11, 9, 0))
    with app.store.transaction(write=False) as tx:
        out = prepare(row, tx.org(), app.settings)
    assert out.message["Date"].datetime == local(2027, 1, 11, 9, 0)
    set_time(app, local(2027, 1, 11, 10, 15))
    other = app.service.open("leave", "huang", {"start": "2027-03-01", "end": "2027-03-02"}).id
    assert [m.next_attempt_at for m in app.store.mails(case_id=other)] == [local(2027, 1, 11, 10, 15)]


def test_an_overdue_notice_fired_at_midnight_goes_out_at_nine(make_app: Callable[..., App], sqlite_url: str) -> None:
    """R-5.5's overdue notice fires at 00:00 on the day after the due date; the mail waits for 09:00 of a
    working day (Sat 26 June 2027 → Mon 28 June 09:00), and its subject says how late it is then."""
    app = make_app(sqlite_url, at=local(2027, 5, 26, 0, 0))
    case = app.service.open("report", None, {"office": "BJ", "period": "2027-H1"}).id
    app.ticker.tick(local(2027, 6, 26, 0, 0))
    overdue = [m for m in app.store.mails(case_id=case) if m.event == "report.overdue"]
    assert overdue and {m.next_attempt_at for m in overdue} == {local(2027, 6, 28, 9, 0)}
    with app.store.transaction(write=False) as tx:
        subject = prepare(overdue[0], tx.org(), app.settings).rendered.subject
    assert "已逾期3天" in subject


def test_leave_undecided_at_start_cannot_wait(make_app: Callable[..., App], sqlite_url: str) -> None:
    """A leave starting on a Saturday still undecided: the requester and the superior are told at once,
    not on Monday (the one event that cannot wait for office hours, with matter's "near" escalation)."""
    app = make_app(sqlite_url)
    case = app.service.open("leave", "zhao", {"start": "2027-01-16", "end": "2027-01-17"}).id  # Sat–Sun
    app.ticker.tick(local(2027, 1, 16, 0, 0))
    flagged = [m for m in app.store.mails(case_id=case) if m.event == "leave.undecided_at_start"]
    assert flagged and {m.next_attempt_at for m in flagged} == {local(2027, 1, 16, 0, 0)}


def test_the_annual_report_mail_names_submit_with_its_plan(make_app: Callable[..., App], sqlite_url: str) -> None:
    """R-5.2: the annual report's `submit` needs `--plan`; its mail shows `submit --as wang --plan TEXT`
    (not only `case show`), and that command, filled in, works."""
    app = make_app(sqlite_url, at=local(2027, 11, 25, 10, 0))
    case = app.service.open("report", None, {"office": "BJ", "period": "2027-Y"}).id
    [text] = _texts(app, case, "report.opened")
    assert f"outpost case advance {case} submit --as wang --plan TEXT" in text
    app.service.advance(case, "submit", "wang", options={"plan": "2028年工作计划"})
    assert app.case_view(case)["state"] == "submitted"


def test_the_statement_mail_has_its_due_line_and_calendar_entry(make_app: Callable[..., App],
                                                                 sqlite_url: str) -> None:
    """`fin_statement.opened` asks for the statement by its due date: due line and `.ics` (issue 17)."""
    app = make_app(sqlite_url, at=local(2027, 4, 1, 10, 0))
    case = app.service.open("fin_statement", None, {"office": "BJ", "period": "2027-Q1"}).id
    [row] = [m for m in app.store.mails(case_id=case) if m.event == "fin_statement.opened"]
    with app.store.transaction(write=False) as tx:
        out = prepare(row, tx.org(), app.settings, ActionFilter(app))
    assert "办理期限：4月15日（星期四）下班前" in out.rendered.text
    assert [p.get_content_type() for p in out.message.iter_attachments()] == ["text/calendar"]


def test_a_leave_extension_says_so_and_gives_the_total(make_app: Callable[..., App], sqlite_url: str) -> None:
    """The supervising leader deciding a director's extension reads the dates, the length and "this is an
    extension: 8 days in total" (R-2.6); never the reason (R-7.3)."""
    app = make_app(sqlite_url, at=local(2027, 3, 1, 15, 9))
    base = app.service.open("leave", "wang", {"start": "2027-03-08", "end": "2027-03-12", "reason": "机密X"}).id
    ext = app.service.open("leave", "wang", {"start": "2027-03-13", "end": "2027-03-15", "extends": str(base)}).id
    [text] = _texts(app, ext, "leave.requested")
    assert "请假日期：3月13日（星期六）至3月15日（星期一），共 3 天" in text
    assert f"续假：这是案件 {base} 的续假，合计 8 天" in text
    assert "办理期限：3月12日（星期五）下班前" in text and "机密X" not in text


@pytest.mark.parametrize("bad", ["send_from = 19:00:00", 'send_from = "9am"', "send_until = 08:00:00"])
def test_the_mail_hours_are_checked(tmp_path: Path, bad: str) -> None:
    """`mail.send_from` / `mail.send_until` are local times of day, the first before the second."""
    path = tmp_path / "policy.toml"
    path.write_text(f"v = 1\n[mail]\n{bad}\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"mail\.send_"):
        load_policy(path)
    path.write_text("v = 1\n[mail]\nsend_from = 08:30:00\n", encoding="utf-8")
    assert load_policy(path).time("mail.send_from").hour == 8




def test_an_installation_may_send_at_any_hour(make_app: Callable[..., App], sqlite_url: str, tmp_path: Path) -> None:
    """`mail.working_hours_only = false`: mail goes at once, even on a Saturday night."""
    policy = tmp_path / "policy.toml"
    policy.write_text("v = 1\n[mail]\nworking_hours_only = false\n", encoding="utf-8")
    app = make_app(sqlite_url, at=local(2027, 1, 9, 22, 0), policy_file=str(policy))
    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"}).id
    assert [m.next_attempt_at for m in app.store.mails(case_id=case)] == [local(2027, 1, 9, 22, 0)]
