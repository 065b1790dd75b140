"""Working days (R-0.6), holiday notices, the policy file, and the tick/status commands."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import NOTICE_2027, local
from workflow.app import App
from workflow.calendar import WorkCalendar
from workflow.cli import run
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


def test_tick_and_status_json_through_the_cli(app: App, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`tick --at … --json` fires what is due then and `status --json` reports it, with PRODUCT.md's keys."""
    app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"})
    monkeypatch.setenv("OUTPOST_DATABASE_URL", app.settings.database_url)
    assert run(["tick", "--at", "2027-01-05T09:00", "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert [f["kind"] for f in dry["fired"]] == ["remind_approver"]
    assert run(["tick", "--at", "2027-01-05T09:00", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert {"fired", "opened", "mail_queued"} <= set(done)
    assert [f["kind"] for f in done["fired"] if f["process"] == "leave"] == ["remind_approver"]
    assert run(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert {"last_tick", "due_now", "mail_queued", "mail_failed"} <= set(status)
    assert status["last_tick"].startswith("2027-01-05T09:00")
    assert any("no holiday data for 2027" in w for w in status["warnings"])  # the test clock is in 2027
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
        at = local(2027, 1, 5, 9, 0)
        for minutes in (0, 1, 3, 7, 15):
            report = app.ticker.tick(at.replace(minute=minutes))
            assert [f["case"] for f in report.failed] in ([case.id], [])
        from workflow.status import gather

        failed = gather(app)["failed_deadlines"]
        assert [f["kind"] for f in failed] == ["remind_approver"]
        assert failed[0]["attempts"] == 5 and "template server on fire" in failed[0]["error"]
    finally:
        definition.handlers["remind_approver"] = original  # type: ignore[index]
