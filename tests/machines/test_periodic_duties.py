"""The periodic duties of R-6: financial statements (R-6.1), the year-end audit (R-6.2), monthly
information (R-6.3), the investment target (R-6.4) and its grades (R-6.5) — with an injected clock.

Each test runs on SQLite and on PostgreSQL (the `app` fixture); the organisation is examples/org.toml:
BJ (director wang, deputy li, staff zhao), SZ (director chen, staff huang), General Office liu
(supervising leader), sun (clerk), zhou (auditor), qian (finance).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from machines.info_quota import accept_item, add_item
from machines.investment import add_investment, grade, parse_amount, parse_credits
from outpost.app import App
from store.tables import metadata
from tests.conftest import ORG_FILE, TRACKED_FROM, copy_database, local, set_time
from workflow import registry
from workflow.clock import FixedClock
from workflow.errors import BadInput, NotFound, NotPermitted, RuleViolation, WorkflowError
from workflow.model import Person
from workflow.ports import CaseFilter
from workflow.settings import load_settings


def tick(app: App, *at: int, cases: tuple[int, ...] | None = None) -> dict[str, list[str]]:
    """Tick at local time `at`; what fired (only on `cases`, when given), was skipped, was opened."""
    set_time(app, local(*at))
    report = app.ticker.tick(local(*at))
    assert report.failed == [], report.failed
    mine = [f for f in report.fired if cases is None or f["case"] in cases]
    return {"fired": sorted(f["kind"] for f in mine), "skipped": sorted(f["kind"] for f in report.skipped),
            "opened": sorted(f"{o['process']}:{o['office']}:{o['period']}" for o in report.opened)}


def case_id(app: App, process: str, office: str, period: str) -> int:
    found = [c.id for c in app.store.list_cases(CaseFilter(process=process, office=office)) if c.period == period]
    assert len(found) == 1, (process, office, period, found)
    return found[0]


def view(app: App, process: str, office: str, period: str) -> dict[str, Any]:
    return app.case_view(case_id(app, process, office, period))


def mail_to(app: App, event: str) -> list[str]:
    return sorted(a for m in app.store.mails() if m.event == event for a in m.to)


def at(app: App, *when: int) -> None:
    set_time(app, local(*when))


@pytest.fixture
def started(app: App) -> App:
    """Outpost running since 4 January 2027 (its first tick sets the periodic epoch)."""
    tick(app, 2027, 1, 4, 9, 0)
    return app


# -- quarterly financial statements ------------------------------------------------------------------
def test_R6_1_statement_case_opens_for_each_office_the_day_after_the_quarter_ends(started: App) -> None:
    """Q1 cases appear at 00:00 on 1 April, not before, one per office, due 15 April; idempotent."""
    assert not [o for o in tick(started, 2027, 3, 31, 23, 59)["opened"] if o.startswith("fin_statement")]
    opened = tick(started, 2027, 4, 1, 0, 0)["opened"]
    assert [o for o in opened if o.startswith("fin_statement")] == ["fin_statement:BJ:2027-Q1",
                                                                    "fin_statement:SZ:2027-Q1"]
    assert tick(started, 2027, 4, 1, 0, 0)["opened"] == []
    bj = view(started, "fin_statement", "BJ", "2027-Q1")
    assert (bj["state"], bj["data"]["due"]) == ("open", "2027-04-15")
    assert "the 15th day after the quarter ended on 2027-03-31" in bj["history"][0]["details"]["why"]
    assert mail_to(started, "fin_statement.opened").count("wang@bj.example.org") >= 1


def test_R6_1_Q4_statement_is_due_15_January_of_the_next_year(started: App) -> None:
    """The fourth quarter's statement (2027-Q4) opens on 1 January 2028 and is due on 15 January 2028."""
    tick(started, 2028, 1, 1, 0, 0)
    assert view(started, "fin_statement", "SZ", "2027-Q4")["data"]["due"] == "2028-01-15"


def test_R6_1_statement_due_on_the_15th_submitted_that_day_is_on_time_and_the_next_day_late(started: App) -> None:
    """BJ submits at 23:59 on 15 April (on time, R-0.3); SZ at 00:00 on 16 April is late but accepted."""
    tick(started, 2027, 4, 1, 0, 0)
    bj, sz = (case_id(started, "fin_statement", o, "2027-Q1") for o in ("BJ", "SZ"))
    at(started, 2027, 4, 15, 23, 59)
    started.service.advance(bj, "submit", "wang")
    at(started, 2027, 4, 16, 0, 0)
    started.service.advance(sz, "submit", "chen")
    assert started.case_view(bj)["data"]["late"] is False
    assert started.case_view(sz)["data"]["late"] is True
    started.service.advance(sz, "accept", "qian")
    assert started.case_view(sz)["state"] == "accepted"


def test_R6_1_reminders_14_7_3_1_days_before_then_overdue_and_repeating_as_R5_5(started: App) -> None:
    """As R-5.5: reminders at 09:00 on 1, 8, 12 and 14 April (14, 7, 3 and 1 days before the 15th); overdue
    at 00:00 on 16 April to the director and the supervising leader; then every 3 working days until
    submitted."""
    tick(started, 2027, 4, 1, 0, 0)
    bj, sz = (case_id(started, "fin_statement", o, "2027-Q1") for o in ("BJ", "SZ"))
    mine = (bj, sz)
    assert tick(started, 2027, 4, 1, 8, 59, cases=mine)["fired"] == []
    assert tick(started, 2027, 4, 1, 9, 0, cases=mine)["fired"] == ["reminder", "reminder"]  # both offices
    at(started, 2027, 4, 2, 10, 0)
    started.service.advance(sz, "submit", "chen")
    for day in (8, 12, 14):
        assert tick(started, 2027, 4, day, 8, 59, cases=mine)["fired"] == []
        assert tick(started, 2027, 4, day, 9, 0, cases=mine)["fired"] == ["reminder"]
    reminded = [m for m in started.store.mails() if m.event == "fin_statement.reminder" and m.case_id == bj]
    assert [m.to for m in reminded] == [["wang@bj.example.org"]] * 4
    assert tick(started, 2027, 4, 15, 23, 59, cases=mine)["fired"] == []
    assert tick(started, 2027, 4, 16, 0, 0, cases=mine)["fired"] == ["overdue"]
    overdue = [m.to[0] for m in started.store.mails() if m.event == "fin_statement.overdue" and m.case_id == bj]
    assert sorted(overdue) == ["liu@gov.example.org", "wang@bj.example.org"]
    assert started.case_view(bj)["data"]["overdue"] is True
    # 16 April 2027 is a Friday: three working days later is Wednesday 21 April (Mon 19, Tue 20, Wed 21),
    # the reminder at 09:00 that morning (issue 17: a reminder goes out in working hours, not at 00:00)
    assert tick(started, 2027, 4, 21, 8, 59, cases=mine)["fired"] == []
    assert tick(started, 2027, 4, 21, 9, 0, cases=mine)["fired"] == ["overdue_reminder"]
    at(started, 2027, 4, 22, 9, 0)
    started.service.advance(bj, "submit", "wang")
    assert started.case_view(bj)["data"]["late"] is True
    assert tick(started, 2027, 5, 31, 0, 0, cases=mine)["fired"] == []
    assert len([m for m in started.store.mails() if m.event == "fin_statement.overdue_reminder"
                and m.case_id == bj]) == 1


def test_R6_1_only_the_director_submits_and_the_general_office_reviews(started: App) -> None:
    """Staff and the other office's director are refused; finance returns it, the director resubmits,
    a clerk accepts; the director may not accept their own statement."""
    tick(started, 2027, 7, 1, 0, 0)
    bj = case_id(started, "fin_statement", "BJ", "2027-Q2")
    at(started, 2027, 7, 5, 9, 0)
    for who in ("zhao", "chen", "sun"):
        with pytest.raises(NotPermitted) as refused:
            started.service.advance(bj, "submit", who)
        assert refused.value.rule_id == "R-6.1"
    started.service.advance(bj, "submit", "wang")
    with pytest.raises(NotPermitted):
        started.service.advance(bj, "accept", "wang")
    started.service.advance(bj, "request_revision", "qian", comment="cash book missing")
    started.service.advance(bj, "resubmit", "wang")
    started.service.advance(bj, "accept", "sun")
    done = started.case_view(bj)
    assert done["state"] == "accepted" and done["data"]["late"] is False
    assert [h["trigger"] for h in done["history"]] == ["open", "submit", "request_revision", "resubmit", "accept"]
    submitted = [m.to[0] for m in started.store.mails() if m.event == "fin_statement.submitted" and m.case_id == bj]
    assert sorted(submitted) == ["qian@gov.example.org", "qian@gov.example.org", "sun@gov.example.org",
                                 "sun@gov.example.org"]


def accepted_statements(app: App) -> tuple[int, int]:
    """BJ's and SZ's 2027-Q2 statements, submitted and accepted in July 2027."""
    tick(app, 2027, 7, 1, 0, 0)
    bj, sz = (case_id(app, "fin_statement", o, "2027-Q2") for o in ("BJ", "SZ"))
    at(app, 2027, 7, 5, 9, 0)
    for case, director in ((bj, "wang"), (sz, "chen")):
        app.service.advance(case, "submit", director)
        app.service.advance(case, "accept", "qian")
    return bj, sz


def test_R6_1_an_accepted_statement_is_assessed_0_to_100_and_that_is_final(started: App) -> None:
    """As `report`: the General Office assesses an accepted statement with --score 0 (BJ, by finance) or 100 (SZ,
    by the supervising leader); the score is kept in the case data; `assessed` is final; the director may not."""
    bj, sz = accepted_statements(started)
    with pytest.raises(NotPermitted) as refused:
        started.service.advance(bj, "assess", "wang", options={"score": "90"})
    assert refused.value.rule_id == "R-6.1"
    offered = {i.trigger: i for i in started.service.triggers(bj, "qian")}["assess"]
    assert offered.reason == "R-6.1: give the assessment with --score N (0–100)"  # permitted; the score is asked
    started.service.advance(bj, "assess", "qian", options={"score": "0"})
    started.service.advance(sz, "assess", "liu", options={"score": "100"})
    for case, score in ((bj, 0), (sz, 100)):
        done = started.case_view(case)
        assert (done["state"], done["data"]["score"], done["definition_version"]) == ("assessed", score, 2)
        assert (done["history"][-1]["trigger"], done["history"][-1]["details"]["score"]) == ("assess", score)
        assert not any(i.allowed for i in started.service.triggers(case, "sun"))
    assert registry.latest("fin_statement").final_states == ("assessed",)
    with pytest.raises(RuleViolation):
        started.service.advance(bj, "assess", "sun", options={"score": "50"})  # once only


@pytest.mark.parametrize("score", ["-1", "101", None, "7.5", "abc", "", "+-5", "1_0", "５０"])
def test_R6_1_a_score_outside_0_to_100_or_not_a_whole_number_is_refused(started: App, score: str | None) -> None:
    """-1, 101, 7.5, words, nothing at all, or what int() alone would take ("1_0", full-width "５０") or choke on
    ("+-5"): malformed input naming --score (exit 2, issue 16); no score at all: refused citing R-6.1. Either
    way the statement stays accepted and nothing is written."""
    bj, _sz = accepted_statements(started)
    before = started.case_view(bj)
    with pytest.raises(RuleViolation if score is None else BadInput) as refused:
        started.service.advance(bj, "assess", "sun", options={"score": score})
    if score is None:
        assert refused.value.rule_id == "R-6.1" and "--score" in refused.value.reason  # type: ignore[attr-defined]
    else:
        assert refused.value.exit_code == 2 and "--score" in str(refused.value)
    assert started.case_view(bj) == before


def test_R6_1_cli_assess_with_a_score_out_of_range_exits_2_and_in_range_0(
        make_app: Any, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`outpost case advance N assess --as qian --score 101` is malformed input in one line naming --score
    (exit 2, issue 16: not a refusal by R-6.1); `--score 95` assesses it (exit 0)."""
    from freezegun import freeze_time

    from outpost.cli import run
    from tests.conftest import point_cli_at

    app = make_app(sqlite_url)
    tick(app, 2027, 1, 4, 9, 0)
    bj, _sz = accepted_statements(app)
    point_cli_at(monkeypatch, sqlite_url, tmp_path)
    with freeze_time("2027-07-06 02:00:00"):  # 10:00 in Beijing, the day after the acceptance
        capsys.readouterr()
        assert run(["case", "advance", str(bj), "assess", "--as", "qian", "--score", "101"]) == 2
        err = capsys.readouterr().err
        assert "--score" in err and "0–100" in err and err.count("\n") == 1
        assert run(["case", "advance", str(bj), "assess", "--as", "qian", "--score", "seventy"]) == 2
        assert "--score" in capsys.readouterr().err
        assert run(["case", "advance", str(bj), "assess", "--as", "qian", "--score", "95"]) == 0
    done = app.case_view(bj)
    assert (done["state"], done["data"]["score"]) == ("assessed", 95)


def test_a_version_1_statement_advances_to_accepted_and_is_then_final(started: App) -> None:
    """A statement opened before `assess` existed (definition version 1, GUIDE.md "Saved data") keeps its
    version: it is submitted and accepted as before, and `accepted` ends it; `assess` is not its trigger.
    Version 1 is version 2 without the assessment."""
    v1, v2 = registry.get("fin_statement", 1), registry.get("fin_statement", 2)
    assert registry.latest("fin_statement") is v2
    assert (v1.states, v1.final_states) == (v2.states[:-1], ("accepted",))
    assert [t.trigger for t in v1.transitions] == [t.trigger for t in v2.transitions if t.trigger != "assess"]
    assert v1.deadlines == v2.deadlines and v1.opener is v2.opener
    at(started, 2027, 4, 1, 0, 0)
    with started.store.transaction() as tx:  # what Outpost with version 1 opened on 1 April
        old = started.service.open_in(tx, v1, None, {"office": "BJ", "period": "2027-Q1"}).id
    tick(started, 2027, 4, 1, 0, 0)  # opens SZ's, with version 2
    new = case_id(started, "fin_statement", "SZ", "2027-Q1")
    assert [started.case_view(c)["definition_version"] for c in (old, new)] == [1, 2]
    assert [t.trigger for t in started.service.triggers(old, "wang") if t.allowed] == ["submit"]
    at(started, 2027, 4, 10, 9, 0)
    started.service.advance(old, "submit", "wang")
    started.service.advance(old, "accept", "qian")
    done = started.case_view(old)
    assert (done["state"], done["definition_version"], done["data"]["late"]) == ("accepted", 1, False)
    assert not any(i.allowed for i in started.service.triggers(old, "qian"))
    assert "assess" not in {i.trigger for i in started.service.triggers(old, "qian")}
    with pytest.raises(BadInput, match="no trigger 'assess'"):
        started.service.advance(old, "assess", "qian", options={"score": "80"})
    assert started.case_view(old) == done
    assert started.verify().ok


# -- year-end financial audit ----------------------------------------------------------------------
def test_R6_2_annual_audit_scheduled_on_1_December_once_per_office_and_year(started: App) -> None:
    """The 2027 audit of each office is scheduled at 00:00 on 1 December 2027, report due 31 March 2028."""
    assert not [o for o in tick(started, 2027, 11, 30, 23, 59)["opened"] if o.startswith("annual_audit")]
    opened = [o for o in tick(started, 2027, 12, 1, 0, 0)["opened"] if o.startswith("annual_audit")]
    assert opened == ["annual_audit:BJ:2027-Y", "annual_audit:SZ:2027-Y"]
    assert [o for o in tick(started, 2027, 12, 2, 0, 0)["opened"] if o.startswith("annual_audit")] == []
    bj = view(started, "annual_audit", "BJ", "2027-Y")
    assert (bj["state"], bj["data"]["due"]) == ("scheduled", "2028-03-31")
    scheduled = [m.to[0] for m in started.store.mails() if m.event == "annual_audit.scheduled"
                 and m.case_id == bj["id"]]
    assert sorted(scheduled) == ["wang@bj.example.org", "zhou@gov.example.org"]


def test_R6_2_audit_runs_scheduled_in_progress_reported_closed_by_the_auditor(started: App) -> None:
    """Only the auditor starts and reports; the director cannot; the supervising leader may close."""
    tick(started, 2027, 12, 1, 0, 0)
    bj = case_id(started, "annual_audit", "BJ", "2027-Y")
    at(started, 2028, 1, 10, 9, 0)
    for who in ("wang", "sun"):
        with pytest.raises(NotPermitted) as refused:
            started.service.advance(bj, "start", who)
        assert refused.value.rule_id == "R-6.2"
    started.service.advance(bj, "start", "zhou")
    with pytest.raises(RuleViolation):
        started.service.advance(bj, "close", "zhou")  # not reported yet
    at(started, 2028, 3, 31, 23, 59)
    started.service.advance(bj, "submit_report", "zhou")
    assert started.case_view(bj)["data"]["late"] is False
    assert mail_to(started, "annual_audit.reported") == ["liu@gov.example.org", "wang@bj.example.org"]
    assert started.case_view(bj)["state"] == "reported"
    started.service.advance(bj, "close", "liu")
    assert [h["to"] for h in started.case_view(bj)["history"]] == ["scheduled", "in_progress", "reported", "closed"]


def test_R6_2_auditor_reminded_before_the_due_date_and_overdue_told_to_the_leader(started: App) -> None:
    """Reminders on 17 and 28 March 2028 at 09:00; starting the audit in between sends no reminder twice;
    on 1 April the unreported audit is overdue: the auditor and the supervising leader are told, once."""
    tick(started, 2027, 12, 1, 0, 0)
    bj, sz = (case_id(started, "annual_audit", o, "2027-Y") for o in ("BJ", "SZ"))
    mine = (bj, sz)
    assert tick(started, 2028, 3, 17, 9, 0, cases=mine)["fired"] == ["reminder", "reminder"]
    at(started, 2028, 3, 20, 9, 0)
    started.service.advance(bj, "start", "zhou")
    pending = [d for d in started.case_view(bj)["deadlines"] if d["status"] == "pending"]
    assert [(d["kind"], d["due_at"][:16]) for d in pending] == [("reminder", "2028-03-28T09:00"),
                                                                ("overdue", "2028-04-01T00:00")]
    assert tick(started, 2028, 3, 28, 9, 0, cases=mine)["fired"] == ["reminder", "reminder"]
    assert tick(started, 2028, 4, 1, 0, 0, cases=mine)["fired"] == ["overdue", "overdue"]
    overdue = [m.to[0] for m in started.store.mails() if m.event == "annual_audit.overdue" and m.case_id in mine]
    assert Counter(overdue) == {"zhou@gov.example.org": 2, "liu@gov.example.org": 2}
    assert started.case_view(bj)["data"]["overdue"] is True
    at(started, 2028, 4, 2, 9, 0)
    started.service.advance(bj, "submit_report", "zhou")
    assert started.case_view(bj)["data"]["late"] is True


# -- monthly information ---------------------------------------------------------------------------
def log_and_accept(app: App, office_person: str, n_logged: int, n_accepted: int) -> list[int]:
    items = [add_item(app.service, office_person, f"item {i}").id for i in range(n_logged)]
    for item in items[:n_accepted]:
        assert item is not None
        accept_item(app.service, item, "sun")
    return [i for i in items if i is not None]


def test_R6_3_four_accepted_items_meet_the_quota_and_three_do_not(started: App) -> None:
    """At 00:00 on 1 June, May is judged: BJ with 4 accepted items is `met`, SZ with 3 accepted (and a
    fourth logged but not accepted) is `short`; the director and the supervising leader hear of it."""
    tick(started, 2027, 5, 1, 0, 0)
    at(started, 2027, 5, 10, 10, 0)
    log_and_accept(started, "zhao", 4, 4)
    log_and_accept(started, "huang", 4, 3)
    mine = tuple(case_id(started, "info_quota", o, "2027-05") for o in ("BJ", "SZ"))
    assert tick(started, 2027, 5, 31, 23, 59, cases=mine)["fired"] == ["reminder", "reminder"]
    result = tick(started, 2027, 6, 1, 0, 0, cases=mine)
    assert Counter(result["fired"]) == {"judge": 2, "verdict": 2}
    bj, sz = view(started, "info_quota", "BJ", "2027-05"), view(started, "info_quota", "SZ", "2027-05")
    assert (bj["state"], bj["data"]["accepted"]) == ("met", 4)
    assert (sz["state"], sz["data"]["accepted"]) == ("short", 3)
    assert sz["history"][-1]["details"] == {"accepted": 3, "quota": 4, "rule": "R-6.3", "deadline":
                                            sz["history"][-1]["details"]["deadline"]}
    short = [m.to[0] for m in started.store.mails() if m.event == "info_quota.short" and m.case_id in mine]
    assert sorted(short) == ["chen@sz.example.org", "liu@gov.example.org"]


def test_R6_3_reminder_five_days_before_month_end_only_to_an_office_below_four(started: App) -> None:
    """At 09:00 on 26 May the office below 4 accepted items (SZ) is reminded, everyone in it; the clerks
    hear of its items still waiting; BJ, already at 4, gets nothing."""
    tick(started, 2027, 5, 1, 0, 0)
    at(started, 2027, 5, 3, 10, 0)
    log_and_accept(started, "wang", 5, 4)
    log_and_accept(started, "chen", 2, 1)
    mine = tuple(case_id(started, "info_quota", o, "2027-05") for o in ("BJ", "SZ"))
    assert tick(started, 2027, 5, 26, 8, 59, cases=mine)["fired"] == []
    assert tick(started, 2027, 5, 26, 9, 0, cases=mine)["fired"] == ["reminder", "reminder"]
    assert mail_to(started, "info_quota.reminder") == ["chen@sz.example.org", "huang@sz.example.org"]
    waiting = [m for m in started.store.mails() if m.event == "info_quota.items_waiting"]
    assert [(m.to, m.params["waiting"]) for m in waiting] == [(["sun@gov.example.org"], 1)]
    sz = view(started, "info_quota", "SZ", "2027-05")
    why = next(d["why"] for d in sz["deadlines"] if d["kind"] == "reminder")
    assert "5 days before the month's end" in why and "R-6.3" in why


def test_R6_3_items_are_logged_by_the_office_and_accepted_by_the_general_office(started: App) -> None:
    """Only the office's people log items for it, only a clerk or the supervising leader accepts, once."""
    tick(started, 2027, 3, 1, 0, 0)
    at(started, 2027, 3, 2, 10, 0)
    item = add_item(started.service, "li", "Beijing policy change on logistics parks")
    assert (item.status, item.created_by, item.data["month"]) == ("logged", "li", "2027-03")
    with pytest.raises(RuleViolation) as refused:
        add_item(started.service, "sun", "a clerk's item")
    assert refused.value.rule_id == "R-6.3"
    for who in ("wang", "zhao", "zhou"):
        with pytest.raises(NotPermitted) as refused_p:
            accept_item(started.service, item.id or 0, who)
        assert refused_p.value.rule_id == "R-6.3"
    accept_item(started.service, item.id or 0, "liu")
    with pytest.raises(RuleViolation) as twice:
        accept_item(started.service, item.id or 0, "sun")
    assert twice.value.rule_id == "R-6.3" and "already accepted" in twice.value.reason
    with pytest.raises(NotFound):
        accept_item(started.service, 99999, "sun")
    with pytest.raises(BadInput):
        add_item(started.service, "zhao", "   ")
    with pytest.raises(BadInput):
        add_item(started.service, "zhao", "x", month="2027-13")
    case = view(started, "info_quota", "BJ", "2027-03")
    assert [h["trigger"] for h in case["history"]] == ["open", "add_item", "accept_item"]
    assert case["state"] == "open" and case["data"]["accepted"] == 1


def test_R6_3_no_item_is_logged_or_accepted_once_the_month_has_ended(started: App) -> None:
    """An item of March logged on 31 March at 23:59 counts; on 1 April nothing more can be logged or
    accepted for March (its quota is judged at month end), even before the daemon has judged it."""
    tick(started, 2027, 3, 1, 0, 0)
    at(started, 2027, 3, 31, 23, 59)
    item = add_item(started.service, "zhao", "late-evening news", month="2027-03")
    at(started, 2027, 4, 1, 0, 0)
    with pytest.raises(RuleViolation) as refused:
        add_item(started.service, "zhao", "too late", month="2027-03")
    assert refused.value.rule_id == "R-6.3"
    with pytest.raises(RuleViolation):
        accept_item(started.service, item.id or 0, "sun")
    with pytest.raises(RuleViolation):
        add_item(started.service, "zhao", "not yet", month="2027-05")  # a month that has not begun


def test_R6_3_first_item_opens_the_month_before_the_daemon_does(started: App) -> None:
    """With no tick since February, `info add` on 2 March opens BJ's March case with its item in one
    step; the next tick opens only SZ's."""
    tick(started, 2027, 2, 1, 0, 0)
    at(started, 2027, 3, 2, 8, 0)
    item = add_item(started.service, "zhao", "first of March")
    case = started.case_view(item.case_id)
    assert (case["period"], case["state"], case["opened_by"]) == ("2027-03", "open", "zhao")
    assert case["history"][0]["details"]["item"] == item.id
    assert case["data"]["logged"] == 1
    opened = [o for o in tick(started, 2027, 3, 2, 9, 0)["opened"] if o.startswith("info_quota")]
    assert opened == ["info_quota:SZ:2027-03"]
    assert len(started.store.list_cases(CaseFilter(process="info_quota", office="BJ"))) == 3


# -- investment target -----------------------------------------------------------------------------
def test_R6_4_exactly_30000000_meets_the_target_and_29999999_misses_it(started: App) -> None:
    """At 00:00 on 1 January 2028 the year is judged: BJ with 30,000,000 yuan `met`, SZ with 29,999,999
    `missed`; both are told, and nothing can be added to 2027 afterwards."""
    at(started, 2027, 3, 10, 10, 0)
    add_investment(started.service, "zhao", "20000000", "domestic", "Logistics park", "2027-03-09")
    add_investment(started.service, "wang", "1000万", "foreign", "Battery plant")
    add_investment(started.service, "huang", "29,999,999", "domestic", "Port cold chain")
    mine = tuple(case_id(started, "investment", o, "2027-Y") for o in ("BJ", "SZ"))
    # Silent since March: one catch-up progress notice per office (Q1 and Q2 superseded by Q3), no verdict yet.
    late = tick(started, 2027, 12, 31, 23, 59, cases=mine)
    assert late["fired"] == ["progress", "progress"] and Counter(late["skipped"])["progress"] == 4
    assert Counter(tick(started, 2028, 1, 1, 0, 0, cases=mine)["fired"]) == {"judge": 2, "verdict": 2}
    bj, sz = view(started, "investment", "BJ", "2027-Y"), view(started, "investment", "SZ", "2027-Y")
    assert (bj["state"], bj["data"]["total"]) == ("met", 30_000_000)
    assert (sz["state"], sz["data"]["total"]) == ("missed", 29_999_999)
    assert mail_to(started, "investment.missed") == ["chen@sz.example.org", "liu@gov.example.org",
                                                      "sun@gov.example.org"]
    assert mail_to(started, "investment.met") == ["liu@gov.example.org", "sun@gov.example.org",
                                                   "wang@bj.example.org"]
    at(started, 2028, 1, 1, 8, 0)
    with pytest.raises(RuleViolation) as refused:
        add_investment(started.service, "huang", "1", "domestic", "one more yuan", "2027-12-31")
    assert refused.value.rule_id == "R-6.4"


def test_R6_4_progress_is_reported_after_each_quarter(started: App) -> None:
    """At 09:00 on 1 April, 1 July and 1 October the running total is recorded in the history and sent
    to the director, the clerk and the supervising leader."""
    at(started, 2027, 2, 1, 10, 0)
    add_investment(started.service, "zhao", "5000000", "domestic", "Trade fair", "2027-02-01")
    mine = tuple(case_id(started, "investment", o, "2027-Y") for o in ("BJ", "SZ"))
    assert tick(started, 2027, 4, 1, 9, 0, cases=mine)["fired"] == ["progress", "progress"]
    bj = view(started, "investment", "BJ", "2027-Y")
    last = bj["history"][-1]
    assert (last["trigger"], last["details"]["quarter"], last["details"]["total"]) == ("progress", "Q1", 5_000_000)
    assert sorted(set(mail_to(started, "investment.progress"))) == [
        "chen@sz.example.org", "liu@gov.example.org", "sun@gov.example.org", "wang@bj.example.org"]
    assert tick(started, 2027, 7, 1, 9, 0, cases=mine)["fired"] == ["progress", "progress"]
    assert tick(started, 2027, 10, 1, 9, 0, cases=mine)["fired"] == ["progress", "progress"]
    assert [h["details"]["quarter"] for h in view(started, "investment", "BJ", "2027-Y")["history"]
            if h["trigger"] == "progress"] == ["Q1", "Q2", "Q3"]


def test_R6_4_credits_may_not_exceed_the_amount(started: App) -> None:
    """Credits adding up to more than the investment are refused citing R-6.4; equal is fine; credits
    go to existing people of the office (R-6.5); nothing is written by a refusal."""
    at(started, 2027, 6, 1, 10, 0)
    with pytest.raises(RuleViolation) as refused:
        add_investment(started.service, "wang", "10000000", "domestic", "Hotel",
                       credits=["wang=6000000", "zhao=4000001"])
    assert refused.value.rule_id == "R-6.4" and "more than the investment" in refused.value.reason
    with pytest.raises(NotFound):
        add_investment(started.service, "wang", "10000000", "domestic", "Hotel", credits=["nobody=1"])
    with pytest.raises(RuleViolation) as other:
        add_investment(started.service, "wang", "10000000", "domestic", "Hotel", credits=["huang=1"])
    assert other.value.rule_id == "R-6.5"
    assert view(started, "investment", "BJ", "2027-Y")["data"]["count"] == 0
    item = add_investment(started.service, "wang", "10000000", "domestic", "Hotel",
                          credits=["wang=6000000", "zhao=4000000"])
    assert item.data["credits"] == {"wang": 6_000_000, "zhao": 4_000_000}
    with pytest.raises(RuleViolation) as outsider:
        add_investment(started.service, "sun", "10000000", "domestic", "Hotel")
    assert outsider.value.rule_id == "R-6.4"
    with pytest.raises(BadInput):
        add_investment(started.service, "wang", "10000000", "domestic", "Hotel", on="2027-06-02")  # future


def test_R6_4_amounts_are_positive_whole_yuan_in_digits_or_wan() -> None:
    """30000000, 30,000,000, 3000万, 3000万元 and 0.3亿 are 30,000,000 yuan; fractions, zero, negatives and
    words are bad input."""
    for text in ("30000000", "30,000,000", "3000万", "3000万元", "0.3亿", 30_000_000):
        assert parse_amount(text) == 30_000_000
    assert parse_amount("1.5万") == 15_000
    assert parse_amount("30，000，000") == parse_amount("30_000_000") == 30_000_000
    # separators only between groups of three digits: "1,5" is not 15 yuan
    for bad in ("0", "-5", "1.5", "1.00005万", "thirty million", "", "3e7", True, "1,5", "5,,0", "30,000,00",
                ",300", "3,000,000,"):
        with pytest.raises(BadInput):
            parse_amount(bad)
    assert parse_credits(["wang=1500万", "zhao = 1"]) == {"wang": 15_000_000, "zhao": 1}
    for bad_credits in (["wang"], ["=5"], ["wang=1", "wang=2"]):
        with pytest.raises(BadInput):
            parse_credits(bad_credits)


# -- grades ----------------------------------------------------------------------------------------
DIRECTOR = Person("wang", "王建国", None, "BJ", frozenset({"director"}))
STAFF = Person("zhao", "赵丽", None, "BJ", frozenset({"staff"}))
DEPUTY = Person("li", "李明", None, "BJ", frozenset({"deputy_director"}))


@pytest.mark.parametrize(("person", "credited", "met", "expected"), [
    (DIRECTOR, 30_000_000, True, "recommended_excellent"),
    (DIRECTOR, 29_999_999, True, None),
    (DIRECTOR, 30_000_000, False, None),
    (STAFF, 15_000_000, True, "excellent"),
    (STAFF, 14_999_999, True, None),
    (STAFF, 15_000_000, False, None),
    (DEPUTY, 15_000_000, True, "excellent"),
    (DIRECTOR, 15_000_000, True, None),  # a director is judged on the director's threshold
])
def test_R6_5_grade_thresholds(person: Person, credited: int, met: bool, expected: str | None) -> None:
    """Director ≥ 30,000,000 → recommended excellent; other staff ≥ 15,000,000 → excellent; only when the
    office met its target."""
    assert grade(person, "BJ", credited, met) == expected


def test_R6_5_grades_at_year_end_follow_the_office_verdict(started: App) -> None:
    """BJ meets the target: its director credited 30,000,000 is recommended excellent, its staff credited
    15,000,000 excellent, the deputy at 14,999,999 nothing; SZ misses: its staff's 15,000,000 earns nothing."""
    at(started, 2027, 5, 5, 10, 0)
    add_investment(started.service, "wang", "60000000", "foreign", "EV plant",
                   credits=["wang=30000000", "zhao=15000000", "li=14999999"])
    add_investment(started.service, "huang", "20000000", "domestic", "Warehouse", credits=["huang=15000000"])
    tick(started, 2028, 1, 1, 0, 0)
    bj, sz = view(started, "investment", "BJ", "2027-Y"), view(started, "investment", "SZ", "2027-Y")
    assert bj["data"]["grades"] == {"li": None, "wang": "recommended_excellent", "zhao": "excellent"}
    assert sz["data"]["grades"] == {"huang": None}
    assert bj["history"][-1]["details"]["grades"] == {"wang": "recommended_excellent", "zhao": "excellent"}


# -- through the real CLI ----------------------------------------------------------------------------------
@pytest.fixture
def cli_env(frozen_cli: Any) -> Any:
    """The frozen-clock CLI of tests/conftest.py."""
    return frozen_cli


def test_cli_info_add_and_accept(cli_env: Any) -> None:
    """`info add` prints the new item (JSON with its id), `info accept ITEM` accepts it; bad input exits 2,
    a refusal 3 naming R-6.3."""
    rc, out, err = cli_env("info", "add", "--as", "zhao", "--title", "北京物流园区政策调整", "--json")
    assert rc == 0, err
    item = json.loads(out)
    assert (item["office"], item["month"], item["status"], item["created_by"]) == ("BJ", "2027-05", "logged", "zhao")
    rc, out, err = cli_env("info", "accept", str(item["id"]), "--as", "sun", "--json")
    assert rc == 0, err
    accepted = json.loads(out)
    assert (accepted["status"], accepted["accepted_by"], accepted["accepted_in_month"]) == ("accepted", "sun", 1)
    rc, out, err = cli_env("info", "accept", str(item["id"]), "--as", "sun")
    assert rc == 3 and "R-6.3" in err and err.count("\n") == 1
    assert cli_env("info", "accept", "abc", "--as", "sun")[0] == 2
    assert cli_env("info", "add", "--as", "nobody", "--title", "x")[0] == 2
    assert cli_env("info", "add", "--as", "zhao", "--title", "x", "--month", "May")[0] == 2
    rc, out, _err = cli_env("info", "add", "--as", "huang", "--title", "深圳市场行情")
    assert rc == 0 and out.startswith("information item") and "SZ 2027-05" in out


def test_cli_invest_add_with_credits(cli_env: Any) -> None:
    """`invest add` with repeated --credit; credits above the amount exit 3 naming R-6.4; a malformed
    amount or credit exits 2; the JSON shows the year's running total."""
    rc, out, err = cli_env("invest", "add", "--as", "wang", "--amount", "3000万", "--source", "foreign",
                           "--project", "新能源电池厂", "--date", "2027-05-08", "--credit", "wang=2000万",
                           "--credit", "zhao=10000000", "--json")
    assert rc == 0, err
    inv = json.loads(out)
    assert (inv["amount"], inv["period"], inv["year"], inv["total"], inv["target"]) == (
        30_000_000, "2027-Y", 2027, 30_000_000, 30_000_000)
    assert inv["credits"] == [{"person": "wang", "yuan": 20_000_000}, {"person": "zhao", "yuan": 10_000_000}]
    rc, _out, err = cli_env("invest", "add", "--as", "wang", "--amount", "100", "--source", "domestic",
                            "--project", "p", "--credit", "wang=101")
    assert rc == 3 and "R-6.4" in err
    assert cli_env("invest", "add", "--as", "wang", "--amount", "-1", "--source", "domestic", "--project", "p")[0] == 2
    assert cli_env("invest", "add", "--as", "wang", "--amount", "1", "--source", "moon", "--project", "p")[0] == 2
    assert cli_env("invest", "add", "--as", "wang", "--amount", "1", "--source", "domestic", "--project", "p",
                   "--credit", "wang")[0] == 2
    rc, out, _err = cli_env("invest", "add", "--as", "zhao", "--amount", "5,000,000", "--source", "domestic",
                            "--project", "仓储")
    assert rc == 0 and "35,000,000 of 30,000,000" in out


def test_triggers_lists_what_each_person_may_do_on_every_periodic_duty(started: App) -> None:
    """`case triggers` answers for every case of the four processes: the director may submit a statement,
    staff may add items and investments, a clerk may accept items, the auditor may start the audit."""
    tick(started, 2027, 12, 1, 0, 0)
    allowed = {}
    for process, period, who in (("fin_statement", "2027-Q3", "wang"), ("info_quota", "2027-12", "zhao"),
                                 ("info_quota", "2027-12", "sun"), ("investment", "2027-Y", "zhao"),
                                 ("annual_audit", "2027-Y", "zhou")):
        infos = started.service.triggers(case_id(started, process, "BJ", period), who)
        allowed[(process, who)] = [i.trigger for i in infos if i.allowed]
    assert allowed == {("fin_statement", "wang"): ["submit"], ("info_quota", "zhao"): ["add_item"],
                       ("info_quota", "sun"): ["accept_item"], ("investment", "zhao"): ["add"],
                       ("annual_audit", "zhou"): ["start"]}


def test_cli_diagram_draws_each_periodic_duty() -> None:
    """`outpost diagram` works for the four processes of R-6."""
    from workflow import registry
    from workflow.diagram import dot, mermaid

    for name in ("fin_statement", "annual_audit", "info_quota", "investment"):
        definition = registry.latest(name)
        assert mermaid(definition).startswith("stateDiagram-v2") and f'digraph "{name}"' in dot(definition)


# -- random steps by random people (hypothesis, stateful) --------------------------------------------------
DUTIES = ("fin_statement", "annual_audit", "info_quota", "investment")
EVERYONE = ("wang", "li", "zhao", "chen", "huang", "liu", "sun", "zhou", "qian", "wu")
OFFICE_OF = {"wang": "BJ", "li": "BJ", "zhao": "BJ", "chen": "SZ", "huang": "SZ"}
DIRECTORS = {"BJ": "wang", "SZ": "chen"}
ROLES = ("director", "director", "member", "member", "reviewer", "reviewer")  # resolved against the case
REVIEWERS = {"fin_statement": {"sun", "qian", "liu"}, "annual_audit": {"zhou", "liu"}}
T0 = local(2027, 1, 4, 9, 0)
YEAR_END = local(2028, 1, 1, 0, 0)  # the 2027 investment verdicts; the 2027 audit opened 1 December


class Duties(RuleBasedStateMachine):
    template: Path  # the initialised database each example starts from, set by the test

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="outpost-duties-"))
        copy_database(self.template, self.folder)
        self.settings = load_settings({"database_url": f"sqlite:///{self.folder / 'outpost.db'}",
                                       "outbox_dir": self.folder / "outbox"}, env={}, cwd=self.folder)
        self.clock = FixedClock(T0)
        self.app: App | None = None
        self.checked: dict[int, int] = {}  # case id → history rows already checked

    def fresh(self) -> App:
        """Every step reloads everything from the file: nothing works only in memory."""
        if self.app is not None:
            self.app.close()
        self.app = App(self.settings, clock=self.clock)
        return self.app

    def snapshot(self) -> list[Any]:
        """A fingerprint of everything a step could write: row counts of every table, and what changes in place
        (case versions, item statuses, deadline statuses, meta values)."""
        assert self.app is not None
        t = metadata.tables
        with self.app.store.engine.connect().execution_options(outpost_readonly=True) as conn:
            out: list[Any] = [(n, conn.execute(select(func.count()).select_from(t[n])).scalar_one()) for n in sorted(t)]
            out.append(sorted(conn.execute(select(t["cases"].c.id, t["cases"].c.version)).all()))
            out.append(sorted(conn.execute(select(t["case_item"].c.id, t["case_item"].c.status)).all()))
            out.append(sorted(conn.execute(select(t["deadline"].c.status, func.count())
                                           .group_by(t["deadline"].c.status)).all()))
            out.append(sorted(map(repr, conn.execute(select(t["meta"])).all())))
        return out

    def cases(self) -> list[Any]:
        app = self.app or self.fresh()
        return [c for c in app.store.list_cases(CaseFilter()) if c.process in DUTIES]

    def items(self) -> list[Any]:
        app = self.app or self.fresh()
        with app.store.transaction(write=False) as tx:
            return [i for c in self.cases() for i in tx.items(c.id)]

    def attempt(self, step: Any) -> None:
        """Run a step; a refusal must write nothing."""
        before = self.snapshot()
        try:
            step()
        except WorkflowError as exc:
            assert self.snapshot() == before, f"a refused step ({exc}) wrote to the database"

    @initialize()
    def first_tick(self) -> None:
        report = self.fresh().ticker.tick(T0)
        assert not report.failed

    @rule(hours=st.integers(1, 24 * 12))
    def time_passes(self, hours: int) -> None:
        self.move_to(self.clock.now() + timedelta(hours=hours))

    @rule(after=st.booleans(), hours=st.integers(1, 24 * 10))
    def towards_the_year_end(self, after: bool, hours: int) -> None:
        """Jump (once) to within 10 days of 1 January 2028, before or after, so that the year is judged during
        the walk and the steps that follow meet the judged year (≤25 steps × 12 days from 4 January never get
        there on their own)."""
        if self.clock.now() < YEAR_END - timedelta(days=10):
            self.move_to(YEAR_END + timedelta(hours=hours if after else -hours))

    def move_to(self, at: datetime) -> None:
        """Set the clock and let the daemon tick then."""
        self.clock.set(at)
        report = self.fresh().ticker.tick(at)
        assert not report.failed, report.failed

    @rule(pick=st.integers(0, 200), trigger=st.integers(0, 20), who=st.sampled_from(ROLES + EVERYONE),
          fitting=st.booleans())
    def advance(self, pick: int, trigger: int, who: str, fitting: bool) -> None:
        """A trigger of the case's process (or a stray one), by the person a role names or anyone."""
        app = self.fresh()
        cases = self.cases()
        if not cases:
            return
        case = cases[pick % len(cases)]
        known = [*registry.latest(case.process).triggers, "frob"]
        name = known[trigger % len(known)]
        office = str(case.office)
        actor = {"director": DIRECTORS[office], "member": next(p for p, o in OFFICE_OF.items() if o == office),
                 "reviewer": "sun" if case.process != "annual_audit" else "zhou"}.get(who, who)
        items = [i.id for i in self.items() if i.case_id == case.id] or [1]
        options: dict[str, Any] = {
            "add_item": {"title": "行情"},
            "accept_item": {"item": items[pick % len(items)]},
            "add": {"amount": 1_000_000 * (pick % 40 + 1), "source": "domestic", "project": "p",
                    "credits": {actor: 1_000_000 * (pick % 50)} if actor in OFFICE_OF and pick % 50 else {}},
            "assess": {"score": ("-1", "0", "77", "100", "101", "9.5", "x")[pick % 7]},
        }.get(name, {}) if fitting else {}
        self.attempt(lambda: app.service.advance(case.id, name, actor, options=options or None))

    @rule(who=st.sampled_from((*OFFICE_OF, *OFFICE_OF, "sun")), month=st.sampled_from([None, None, "2027-02"]))
    def info_add(self, who: str, month: str | None) -> None:
        app = self.fresh()
        self.attempt(lambda: add_item(app.service, who, "信息", month))

    @rule(pick=st.integers(0, 100), who=st.sampled_from(("sun", "liu", "wang", "zhou")))
    def info_accept(self, pick: int, who: str) -> None:
        app = self.fresh()
        items = [i.id for i in self.items() if i.kind == "info"]
        if items:
            self.attempt(lambda: accept_item(app.service, items[pick % len(items)], who))

    @rule(who=st.sampled_from((*OFFICE_OF, *OFFICE_OF, "liu")),
          amount=st.one_of(st.integers(1, 40_000_000), st.sampled_from((15_000_000, 29_999_999, 30_000_000))),
          credit=st.sampled_from(["", "self", "self", "colleague", "other_office", "nobody"]),
          share=st.integers(0, 40_000_000))
    def invest(self, who: str, amount: int, credit: str, share: int) -> None:
        app = self.fresh()
        office = OFFICE_OF.get(who)
        person = {"self": who, "colleague": DIRECTORS.get(str(office), who), "nobody": "nobody",
                  "other_office": "huang" if office == "BJ" else "zhao"}.get(credit)
        credits = [f"{person}={share}"] if person and share else []
        self.attempt(lambda: add_investment(app.service, who, amount, "foreign", "项目", credits=credits))

    @invariant()
    def history_replays_and_no_guard_was_bypassed(self) -> None:
        app = self.app or self.fresh()
        with app.store.transaction(write=False) as tx:
            for case in self.cases():
                if self.checked.get(case.id) == case.history_count:
                    continue  # items and state change only with a history row
                self.checked[case.id] = case.history_count
                definition = registry.get(case.process, case.definition_version)
                rows = tx.history(case.id)
                items = tx.items(case.id)
                state: str | None = None
                for row in rows:
                    assert row.from_state == state
                    if row.trigger == "open":
                        assert row.seq == 1 and row.to_state in definition.initial_states
                    elif definition.knows_trigger(row.trigger):
                        spec = definition.transition(row.trigger, str(row.from_state))
                        assert spec is not None, (case.process, row.trigger, row.from_state)
                        assert (spec.dest or row.from_state) == row.to_state
                        assert (row.actor is None) == spec.system
                    else:  # a record written by a deadline handler changes no state
                        assert row.trigger in ("overdue", "progress") and row.from_state == row.to_state
                    if row.trigger in ("submit", "resubmit"):
                        assert row.actor == DIRECTORS[str(case.office)]
                    if row.trigger in ("accept", "request_revision", "assess", "start", "submit_report"):
                        assert row.actor in REVIEWERS[case.process]
                    if row.trigger == "assess":  # "same shape as report": a whole number 0–100
                        assert row.details["score"] in (0, 77, 100) and case.data["score"] == row.details["score"]
                    if row.trigger in ("add_item", "add"):
                        assert OFFICE_OF.get(str(row.actor)) == case.office
                    if row.trigger == "accept_item":
                        assert row.actor in ("sun", "liu")
                    state = row.to_state
                assert state == case.state and len(rows) == case.history_count
                accepted = sum(1 for i in items if i.status == "accepted")
                total = sum(int(i.data["amount"]) for i in items if i.kind == "investment")
                if case.state == "met" and case.process == "info_quota":
                    assert accepted >= 4
                if case.state == "short":
                    assert accepted < 4
                if case.process == "investment":
                    assert case.data["total"] == total
                    if case.state != "open":  # met exactly when the year's total reaches 30,000,000
                        assert (total >= 30_000_000) == (case.state == "met"), (case.period, total, case.state)
                    if case.state == "missed":  # no grade when the office missed its target
                        assert not any(case.data["grades"].values())
                for i in items:
                    if i.kind == "investment":
                        assert sum(i.data["credits"].values()) <= i.data["amount"]
                        assert all(OFFICE_OF.get(p) == case.office for p in i.data["credits"])

    @invariant()
    def the_year_is_judged_when_it_ends(self) -> None:
        """R-6.4: the tick at or after 00:00 on 1 January has judged the year's investment, met or missed."""
        for case in self.cases():
            if case.process == "investment" and self.clock.now() >= local(int(str(case.period)[:4]) + 1, 1, 1):
                assert case.state in ("met", "missed"), (case.office, case.period, case.state)

    @invariant()
    def the_annual_audit_opens_on_1_December(self) -> None:
        """R-6.2: one audit case per office and year, opened at 00:00 on 1 December (the tick that got there)."""
        audits = {(c.office, c.period) for c in self.cases() if c.process == "annual_audit"}
        assert {("BJ", "2026-Y"), ("SZ", "2026-Y")} <= audits  # due 31 March 2027: opened by the first tick
        opened_2027 = {("BJ", "2027-Y"), ("SZ", "2027-Y")} <= audits
        assert opened_2027 == (self.clock.now() >= local(2027, 12, 1, 0, 0)), (self.clock.now(), audits)

    def teardown(self) -> None:
        try:
            if self.clock.now() < YEAR_END:  # every walk ends with its year judged, whatever its steps were
                self.move_to(YEAR_END)
                self.history_replays_and_no_guard_was_bypassed()
                self.the_year_is_judged_when_it_ends()
                self.the_annual_audit_opens_on_1_December()
            result = self.fresh().verify()
            assert result.ok, result.problem
        finally:
            if self.app is not None:
                self.app.close()
            shutil.rmtree(self.folder, ignore_errors=True)




@pytest.mark.slow
def test_periodic_duties_keep_their_invariants_under_random_steps(tmp_path: Path) -> None:
    """Random triggers, items, acceptances and investments by anyone, and ticks over months and across 1 January
    2028: every history replays through its definition, no guard or permission is bypassed, a refused step writes
    nothing, the year's investment is `met` exactly when its total reaches 30,000,000 (R-6.4), the annual audit
    opens on 1 December (R-6.2), and `audit verify` passes."""
    folder = tmp_path / "template"
    folder.mkdir()
    template = App(load_settings({"database_url": f"sqlite:///{folder / 'outpost.db'}",
                                  "outbox_dir": folder / "outbox", "tracking_from": TRACKED_FROM},  # 2027 whole
                                 env={}, cwd=folder), clock=FixedClock(T0))
    template.init()
    template.load_org(ORG_FILE)
    template.close()
    Duties.template = folder / "outpost.db"
    run_state_machine_as_test(
        Duties,
        settings=settings(max_examples=6, stateful_step_count=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]),
    )



# -- the set of offices is data ---------------------------------------------------------------------
GZ_OFFICE = '\n[[office]]\ncode = "GZ"\nname = "广州办事处"\ncity = "广州"\n'
GZ_DIRECTOR = ('\n[[person]]\nid = "guo"\nname = "郭"\nemail = "guo@gz.example.org"\noffice = "GZ"\n'
               'roles = ["director"]\n')


def _org_with(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "org-changed.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_R1_1_an_office_added_mid_year_has_only_the_duties_due_after_it_was_added(started: App,
                                                                                  tmp_path: Path) -> None:
    """GZ joins on 1 September 2027: no H1 report, no Q1/Q2 statements and no January–August months are
    opened for it afterwards; its Q3 statement, September month and 2027 investment are."""
    tick(started, 2027, 8, 31, 9, 0)
    at(started, 2027, 9, 1, 10, 0)
    started.load_org(_org_with(tmp_path, ORG_FILE.read_text(encoding="utf-8") + GZ_OFFICE + GZ_DIRECTOR))
    opened = [o for o in tick(started, 2027, 9, 2, 9, 0)["opened"] if ":GZ:" in o]
    assert sorted(opened) == ["info_quota:GZ:2027-09", "investment:GZ:2027-Y"], opened
    tick(started, 2027, 10, 1, 9, 0)
    gz = {c.period for c in started.store.list_cases(CaseFilter(office="GZ"))}
    assert gz == {"2027-09", "2027-10", "2027-Y", "2027-Q3"}, gz
    report = app_compliance(started, 2027, "GZ")
    assert report["info_short_months"] == ["2027-09"] and report["reports"] == []  # a whole month with none


def test_R1_1_an_office_left_out_of_the_organisation_gets_no_new_duties(started: App, tmp_path: Path) -> None:
    """SZ is left out of the organisation file on 1 October 2027: its existing cases stay, but no new
    period is opened for it (no 2027-Y report in November, no Q4 statement in January), and the 2028
    compliance report does not list it; putting it back starts its duties again from that day."""
    text = ORG_FILE.read_text(encoding="utf-8")
    tick(started, 2027, 9, 30, 9, 0)
    sz_before = {c.period for c in started.store.list_cases(CaseFilter(office="SZ"))}
    blocks = text.split("\n[[")
    kept = [b for b in blocks if 'code = "SZ"' not in b and 'office = "SZ"' not in b]
    at(started, 2027, 10, 1, 10, 0)
    started.load_org(_org_with(tmp_path, "\n[[".join(kept)))
    for when in ((2027, 10, 2, 9, 0), (2027, 11, 26, 9, 0), (2028, 1, 2, 9, 0), (2028, 2, 1, 9, 0)):
        assert not [o for o in tick(started, *when)["opened"] if ":SZ:" in o], when
    after = {c.period for c in started.store.list_cases(CaseFilter(office="SZ"))}
    assert after == sz_before | {None}  # + the departure audit of SZ's removed director
    assert [o["office"] for o in app_compliance(started, 2028, None, every=True)] == ["BJ"]
    at(started, 2028, 3, 1, 10, 0)
    started.load_org(ORG_FILE)  # SZ is back
    assert any(":SZ:2028-03" in o for o in tick(started, 2028, 3, 2, 9, 0)["opened"])


def app_compliance(app: App, year: int, office: str | None, every: bool = False) -> Any:
    from store.reports import SqlReports
    from workflow.compliance import build, read

    offices = build(read(SqlReports(app.store), year), app.clock.now(), office)
    return offices if every else offices[0]
