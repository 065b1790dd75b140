"""Working days (R-0.6), holiday notices, the policy file, and the tick/status commands."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from outpost.app import App
from outpost.cli import run
from tests.conftest import NOTICE_2027, local
from workflow.calendar import WorkCalendar
from workflow.errors import BadInput
from workflow.holidays import parse_notice
from workflow.policy import load_policy


def test_R0_6_library_knows_the_make_up_saturday_of_2026() -> None:
    """chinese-calendar: 10 Oct 2026 (Saturday) is a working day, 1–7 Oct are holidays."""
    cal = WorkCalendar()
    assert cal.is_workday(date(2026, 10, 10))
    assert not any(cal.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert cal.add_workdays(date(2026, 9, 30), 3).day == date(2026, 10, 10)
    assert cal.source(2026) == "library"


def test_R0_6_unknown_year_falls_back_to_monday_to_friday_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """2027 is not in the library: Monday–Friday, a warning in the log, a note on the result."""
    cal = WorkCalendar()
    result = cal.add_workdays(date(2027, 2, 5), 1)  # Friday → Monday
    assert result.day == date(2027, 2, 8)
    assert result.fallback_years == (2027,) and "fallback" in result.note
    assert cal.source(2027) == "fallback"
    assert "no holiday data for 2027" in caplog.text


def test_R0_6_a_loaded_notice_beats_the_fallback() -> None:
    """With the 2027 notice loaded, Spring Festival days are holidays and Sunday 14 Feb is a working day."""
    notice = parse_notice(NOTICE_2027, "notice")
    cal = WorkCalendar(notice.days)
    assert cal.source(2027) == "notice"
    assert not cal.is_workday(date(2027, 2, 8))
    assert cal.is_workday(date(2027, 2, 14))
    assert cal.add_workdays(date(2027, 2, 5), 1).day == date(2027, 2, 14)  # the 调休 Sunday
    assert cal.add_workdays(date(2027, 2, 5), 1).fallback_years == ()


@pytest.mark.parametrize("text, fragment", [
    ("year = 2027\n[[workday]]\nname = 'x'\ndate = '2027-02-15'\n", "is a weekday"),
    ("year = 2027\n[[holiday]]\nname = 'x'\nstart = '2028-01-01'\nend = '2028-01-02'\n", "is not in 2027"),
    ("year = 2027\n[[holiday]]\nname = 'x'\nstart = '2027-02-10'\nend = '2027-02-01'\n", "before start"),
    ("year = 'soon'\n", "year"),
    ("not toml [", "not valid TOML"),
])
def test_bad_holiday_notices_are_refused_naming_the_key(text: str, fragment: str) -> None:
    """A notice file with an error is refused as a whole, saying where."""
    with pytest.raises(BadInput, match=fragment):
        parse_notice(text, "notice")


def test_holidays_load_through_the_cli_is_idempotent_and_used_by_deadlines(
        app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`calendar holidays load` stores the notice; loading it twice changes nothing; status stops warning."""
    path = tmp_path / "notice.toml"
    path.write_text(NOTICE_2027, encoding="utf-8")
    monkeypatch.setenv("OUTPOST_DATABASE_URL", app.settings.database_url)
    assert run(["calendar", "holidays", "load", str(path)]) == 0
    assert "loaded" in capsys.readouterr().out
    assert run(["calendar", "holidays", "load", str(path)]) == 0
    assert "nothing changed" in capsys.readouterr().out
    assert run(["calendar", "holidays", "show", "2027", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["source"] == "notice" and {"date": "2027-02-14", "workday": True, "name": "春节调休"} in shown["days"]


def test_policy_file_overrides_and_validates(tmp_path: Path) -> None:
    """An administrator's policy file overrides defaults; unknown keys and wrong types are refused at once."""
    good = tmp_path / "policy.toml"
    good.write_text("[leave]\nescalate_after_workdays = 3\n", encoding="utf-8")
    policy = load_policy(good)
    assert policy.int("leave.escalate_after_workdays") == 3
    assert policy.int("leave.remind_approver_after_workdays") == 1
    assert load_policy(None).ints("report.remind_days_before") == [14, 7, 3, 1]
    bad = tmp_path / "bad.toml"
    bad.write_text("[leave]\nescalate_after_workdays = 'two'\nsurprise = 1\n", encoding="utf-8")
    with pytest.raises(BadInput) as refused:
        load_policy(bad)
    assert "leave.escalate_after_workdays" in str(refused.value) and "leave.surprise" in str(refused.value)


def test_policy_refuses_spinning_values_and_a_reminder_after_its_escalation(tmp_path: Path) -> None:
    """A 0 s tick, 0 attempts or a 0-day repeat would spin or never try, and a reminder set after the escalation
    it precedes (R-2.8, R-3.6) is a typo: each is refused at load, naming its key."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[scheduler]\ntick_every_seconds = 0\nmax_attempts = 0\n"
                   "[report]\noverdue_repeat_workdays = 0\n", encoding="utf-8")
    with pytest.raises(BadInput) as refused:
        load_policy(bad)
    for key in ("scheduler.tick_every_seconds", "scheduler.max_attempts", "report.overdue_repeat_workdays"):
        assert f"{key}: expected a whole number 1–" in str(refused.value)
    late = tmp_path / "late.toml"
    late.write_text("[leave]\nremind_approver_after_workdays = 3\nescalate_after_workdays = 1\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"leave.remind_approver_after_workdays = 3 is after "
                                       r"leave.escalate_after_workdays = 1 \(R-2.8"):
        load_policy(late)
    same = tmp_path / "same.toml"  # remind and escalate on the same day is allowed (the escalation says it all)
    same.write_text("[leave]\nremind_approver_after_workdays = 2\n", encoding="utf-8")
    assert load_policy(same).int("leave.remind_approver_after_workdays") == 2


def test_tick_and_status_json_through_the_cli(app: App, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`tick --at … --json` fires what is due then and `status --json` reports it, with PRODUCT.md's keys."""
    from freezegun import freeze_time

    app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"})
    monkeypatch.setenv("OUTPOST_DATABASE_URL", app.settings.database_url)
    # the approver's reminder is due when Tue 5 January ends (issue 17: a working day ends at its end)
    # the CLI takes the system clock: freeze it at the tick's instant (09:00 on 6 January 2027 in Beijing),
    # so that `status` looks at 2027 and 2028 whatever day the test runs
    with freeze_time("2027-01-06 01:00:00"):
        assert run(["tick", "--at", "2027-01-06T09:00", "--dry-run", "--json"]) == 0
        dry = json.loads(capsys.readouterr().out)
        assert [f["kind"] for f in dry["fired"] if f["process"] == "leave"] == ["remind_approver"]
        assert run(["tick", "--at", "2027-01-06T09:00", "--json"]) == 0
        done = json.loads(capsys.readouterr().out)
        assert {"fired", "opened", "mail_queued"} <= set(done)
        assert [f["kind"] for f in done["fired"] if f["process"] == "leave"] == ["remind_approver"]
        assert sorted(f["kind"] for f in dry["fired"]) == sorted(f["kind"] for f in done["fired"])
        assert (dry["counts"], dry["mail_queued"]) == (done["counts"], done["mail_queued"])
        assert run(["status", "--json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert {"last_tick", "due_now", "mail_queued", "mail_failed"} <= set(status)
        assert status["now"].startswith("2027-01-06T09:00")
        assert status["last_tick"].startswith("2027-01-06T09:00")
        assert any("no holiday data for 2027" in w for w in status["warnings"])  # the CLI's clock is in 2027
        assert run(["tick", "--at", "not-a-time"]) == 2
    assert "expected an ISO 8601" in capsys.readouterr().err


def test_a_failing_deadline_is_retried_then_marked_failed_and_shown(app: App) -> None:
    """A handler that keeps failing: attempts grow with back-off; after the last one the row is failed and
    `status` lists it; the tick itself goes on."""
    from workflow import registry

    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"})
    definition = registry.latest("leave")
    original = definition.handlers["remind_approver"]

    def broken(ctx: object) -> None:
        raise RuntimeError("template server on fire")

    definition.handlers["remind_approver"] = broken  # type: ignore[index]
    try:
        at = local(2027, 1, 6, 9, 0)  # the reminder is due when Tue 5 Jan ends (issue 17)
        for minutes in (0, 1, 3, 7, 15):
            report = app.ticker.tick(at.replace(minute=minutes))
            assert [f["case"] for f in report.failed] in ([case.id], [])
        from outpost.status import gather

        failed = gather(app)["failed_deadlines"]
        assert [f["kind"] for f in failed] == ["remind_approver"]
        assert failed[0]["attempts"] == 5 and "template server on fire" in failed[0]["error"]
    finally:
        definition.handlers["remind_approver"] = original  # type: ignore[index]


def test_R0_4_due_25_June_ends_at_23_59_59_999_Shanghai_and_is_stored_in_UTC(app: App) -> None:
    """A report due 25 June (R-5.1) is overdue from 26 June 00:00 +08:00, stored as 25 June 16:00 UTC (aware) and
    shown in local time; the due instant itself is 23:59:59.999999 +08:00."""
    from datetime import UTC, datetime, timedelta

    from machines.report import due_instant
    from workflow.ports import CaseFilter
    from workflow.timeutil import LOCAL_TZ

    app.ticker.tick(local(2027, 1, 4, 9, 0))  # the first tick sets the periodic epoch
    app.ticker.tick(local(2027, 5, 26, 0, 0))  # the H1 report cases open
    case = next(c for c in app.store.list_cases(CaseFilter(process="report")) if c.office == "BJ")
    end = due_instant(case.data)
    assert end == datetime(2027, 6, 25, 23, 59, 59, 999_999, tzinfo=LOCAL_TZ)
    shown_end = end.astimezone(LOCAL_TZ)  # UTC+8 all year, no DST
    assert shown_end.isoformat() == "2027-06-25T23:59:59.999999+08:00"
    with app.store.transaction(write=False) as tx:
        overdue = next(d for d in tx.deadlines(case.id) if d.kind == "overdue")
    assert overdue.due_at.utcoffset() == timedelta(0)  # read back from the store: aware, in UTC
    assert overdue.due_at == datetime(2027, 6, 25, 16, 0, tzinfo=UTC) == end + timedelta(microseconds=1)
    shown = next(d for d in app.case_view(case.id)["deadlines"] if d["kind"] == "overdue")
    assert shown["due_at"].startswith("2027-06-26T00:00") and shown["due_at"].endswith("+08:00")
