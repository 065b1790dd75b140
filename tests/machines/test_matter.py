"""Major matters, rule by rule (REGULATION.md R-3), through the real store on SQLite and PostgreSQL.

2027 has no holiday data yet, so its working days are Monday–Friday (R-0.6 fallback); 4 January 2027 is
a Monday. The one test across a real holiday uses National Day 2026.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    initialize,
    multiple,
    rule,
    run_state_machine_as_test,
)

from machines.matter import CATEGORIES, PROHIBITED
from outpost.app import App
from outpost.cli import run
from tests.conftest import dump, local, mails, point_cli_at, set_time, state, view
from tests.walks import CaseWalk
from workflow.errors import BadInput, NotPermitted, RuleViolation, WorkflowError
from workflow.timeutil import LOCAL_TZ


def open_matter(app: App, who: str, category: str, kind: str, event_date: str | None = None,
                **extra: Any) -> int:
    params = {"category": category, "kind": kind, "title": f"{category} {kind}", "event_date": event_date,
              **extra}
    return app.service.open("matter", who, params).id


def pending(app: App, case_id: int) -> dict[str, str]:
    return {d["kind"]: d["due_at"] for d in view(app, case_id)["deadlines"] if d["status"] == "pending"}


def fired(report: Any, case_id: int) -> list[str]:
    """The deadlines of this case a tick fired (other processes' periodic cases tick too)."""
    return [f["kind"] for f in report.fired if f["case"] == case_id]


# -- categories ---------------------------------------------------------------------------------
def test_R3_1_the_categories_of_the_regulation_are_data(app: App) -> None:
    """The six categories are a table; each opens a case, an unknown one is bad input naming the known ones."""
    assert set(CATEGORIES) == {"asset_purchase", "asset_disposal", "vip_reception", "client_visit",
                               "asset_dispute", "other"}
    for code, cat in CATEGORIES.items():
        kind = cat.kinds[0]
        event = "2027-02-01" if kind in cat.dated else None
        case = open_matter(app, "zhao", code, kind, event)
        assert (state(app, case), view(app, case)["data"]["category"]) == ("submitted", code)
    with pytest.raises(BadInput) as bad:
        open_matter(app, "zhao", "picnic", "report")
    assert "asset_purchase" in str(bad.value)


def test_R3_1_matters_are_submitted_by_an_office(app: App) -> None:
    """Someone with no office (the clerk) cannot submit a matter; an office's staff can."""
    with pytest.raises(RuleViolation) as refused:
        open_matter(app, "sun", "other", "report")
    assert refused.value.rule_id == "R-3.1"
    case = open_matter(app, "huang", "other", "report")
    assert view(app, case)["office"] == "SZ"


# -- report or request ----------------------------------------------------------------------------
def test_R3_2_a_report_is_acknowledged_by_the_general_office_then_closed_by_the_clerk(app: App) -> None:
    """A report is acknowledged (not decided) by a clerk or the supervising leader; the clerk closes it."""
    case = open_matter(app, "zhao", "other", "report")
    assert mails(app, "matter.report_submitted") == ["sun@gov.example.org"]
    with pytest.raises(RuleViolation) as refused:
        app.service.advance(case, "approve", "liu")
    assert refused.value.rule_id == "R-3.2"
    with pytest.raises(NotPermitted) as refused:
        app.service.advance(case, "acknowledge", "wang")
    assert refused.value.rule_id == "R-3.2"
    app.service.advance(case, "acknowledge", "sun")
    assert state(app, case) == "acknowledged"
    assert mails(app, "matter.acknowledged") == ["zhao@bj.example.org"]
    with pytest.raises(NotPermitted):
        app.service.advance(case, "close", "liu")
    app.service.advance(case, "close", "sun")
    assert state(app, case) == "closed"
    assert not pending(app, case)


def test_R3_2_a_request_is_decided_by_the_supervising_leader(app: App) -> None:
    """A request is approved, rejected or returned for revision by the supervising leader only; the
    requester alone resubmits it."""
    case = open_matter(app, "zhao", "other", "request")
    assert mails(app, "matter.request_submitted") == ["liu@gov.example.org"]
    with pytest.raises(RuleViolation) as refused:
        app.service.advance(case, "acknowledge", "sun")
    assert refused.value.rule_id == "R-3.2"
    for outsider in ("sun", "wang", "zhao"):
        with pytest.raises(NotPermitted) as refused:
            app.service.advance(case, "approve", outsider)
        assert refused.value.rule_id == "R-3.2"
    app.service.advance(case, "request_revision", "liu", comment="add the budget")
    assert mails(app, "matter.revision_requested") == ["zhao@bj.example.org"]
    with pytest.raises(NotPermitted):
        app.service.advance(case, "resubmit", "wang")
    app.service.advance(case, "resubmit", "zhao")
    assert (state(app, case), view(app, case)["data"]["round"]) == ("submitted", 2)
    app.service.advance(case, "reject", "liu")
    assert state(app, case) == "rejected"
    assert mails(app, "matter.rejected") == ["zhao@bj.example.org"]
    app.service.advance(case, "close", "sun")
    assert [h["trigger"] for h in view(app, case)["history"]] == [
        "open", "request_revision", "resubmit", "reject", "close"]


# -- in writing, in advance, executed only after approval --------------------------------------------
def test_R3_3_asset_purchase_must_be_a_request_with_a_planned_date_in_advance(app: App) -> None:
    """Asset purchase/disposal cannot be a mere report, needs --event-date, and that date must lie ahead."""
    for category in ("asset_purchase", "asset_disposal"):
        with pytest.raises(RuleViolation) as refused:
            open_matter(app, "wang", category, "report", "2027-03-01")
        assert refused.value.rule_id == "R-3.3"
        with pytest.raises(RuleViolation) as refused:
            open_matter(app, "wang", category, "request")
        assert refused.value.rule_id == "R-3.3" and "--event-date" in str(refused.value)
        with pytest.raises(RuleViolation) as refused:
            open_matter(app, "wang", category, "request", "2027-01-04")  # today: not in advance
        assert refused.value.rule_id == "R-3.3"
        case = open_matter(app, "wang", category, "request", "2027-01-05", amount="1,250,000.50")
        assert view(app, case)["data"]["event_date"] == "2027-01-05"
        assert view(app, case)["data"]["amount"] == "1250000.50"
    assert app.store.count("cases") == 2


def test_R3_3_a_significant_asset_dispute_request_needs_its_planned_date(app: App) -> None:
    """Reporting a dispute is fine after the fact; asking to act on it is a significant asset matter (R-3.3)."""
    open_matter(app, "zhao", "asset_dispute", "report")
    with pytest.raises(RuleViolation) as refused:
        open_matter(app, "zhao", "asset_dispute", "request")
    assert refused.value.rule_id == "R-3.3"
    open_matter(app, "zhao", "asset_dispute", "request", "2027-02-01")


def test_R3_3_execution_before_approval_is_refused_naming_the_rule(app: App) -> None:
    """`execute` on a submitted, returned, rejected or acknowledged matter is refused with R-3.3; the case
    keeps its state, and the only thing written is the compliance incident."""
    submitted = open_matter(app, "wang", "asset_purchase", "request", "2027-03-01")
    returned = open_matter(app, "wang", "asset_purchase", "request", "2027-03-01")
    app.service.advance(returned, "request_revision", "liu")
    rejected = open_matter(app, "wang", "asset_disposal", "request", "2027-03-01")
    app.service.advance(rejected, "reject", "liu")
    report = open_matter(app, "zhao", "other", "report")
    app.service.advance(report, "acknowledge", "sun")
    for case in (submitted, returned, rejected, report):
        before = view(app, case)
        with pytest.raises(RuleViolation) as refused:
            app.service.advance(case, "execute", "wang")
        assert refused.value.rule_id == "R-3.3"
        assert "not approved" in str(refused.value)
        after = view(app, case)
        assert after["state"] == before["state"]
        assert [h["trigger"] for h in after["history"][len(before["history"]):]] == ["compliance_incident"]
    infos = {i.trigger: i for i in app.service.triggers(submitted, "wang")}
    assert not infos["execute"].allowed and "R-3.3" in str(infos["execute"].reason)


def test_R3_3_refused_execution_is_recorded_as_a_compliance_incident(app: App) -> None:
    """The refused attempt leaves a `compliance_incident` history row and tells the General Office."""
    case = open_matter(app, "wang", "asset_purchase", "request", "2027-03-01")
    with pytest.raises(RuleViolation):
        app.service.advance(case, "execute", "wang")
    after = view(app, case)
    assert after["state"] == "submitted"
    incident = after["history"][-1]
    assert (incident["trigger"], incident["actor"], incident["details"]["rule"]) == (
        "compliance_incident", "wang", "R-3.3")
    assert mails(app, "matter.compliance_incident") == ["liu@gov.example.org", "sun@gov.example.org"]


def test_R3_3_a_resubmitted_request_must_still_be_in_advance(app: App) -> None:
    """Returned for revision, a request whose planned date has come is resubmitted only with a new --date."""
    case = open_matter(app, "wang", "asset_purchase", "request", "2027-01-06")
    app.service.advance(case, "request_revision", "liu")
    set_time(app, local(2027, 1, 6, 9, 0))
    with pytest.raises(RuleViolation) as refused:
        app.service.advance(case, "resubmit", "wang")
    assert refused.value.rule_id == "R-3.3"
    app.service.advance(case, "resubmit", "wang", options={"date": "2027-01-20"})
    assert view(app, case)["data"]["event_date"] == "2027-01-20"


# -- timely -------------------------------------------------------------------------------------------
def test_R3_4_exactly_3_working_days_before_the_event_is_on_time(app: App) -> None:
    """Submitted Monday 4 January for a visit on Thursday 7 January (Tue, Wed, Thu): on time."""
    case = open_matter(app, "zhao", "client_visit", "report", "2027-01-07")
    data = view(app, case)["data"]
    assert data["late"] is False
    assert view(app, case)["history"][0]["details"]["rule"] == "R-3.4"


def test_R3_4_2_working_days_before_the_event_is_late_but_accepted(app: App) -> None:
    """Submitted Tuesday 5 January for Thursday 7 January: accepted, marked late, and the mail says so."""
    set_time(app, local(2027, 1, 5, 9, 0))
    case = open_matter(app, "zhao", "vip_reception", "report", "2027-01-07")
    v = view(app, case)
    assert (v["state"], v["data"]["late"]) == ("submitted", True)
    assert v["history"][0]["details"]["late"] is True
    [mail] = [m for m in app.store.mails() if m.event == "matter.report_submitted"]
    assert mail.params["late"] is True


def test_R3_4_lead_time_skips_the_weekend_and_needs_the_event_date(app: App) -> None:
    """Friday 8 January for Wednesday 13 January is 3 working days (Mon, Tue, Wed); a reception without
    its date is refused."""
    set_time(app, local(2027, 1, 8, 17, 0))
    on_time = open_matter(app, "zhao", "vip_reception", "request", "2027-01-13")
    late = open_matter(app, "zhao", "vip_reception", "request", "2027-01-12")
    assert (view(app, on_time)["data"]["late"], view(app, late)["data"]["late"]) == (False, True)
    with pytest.raises(RuleViolation) as refused:
        open_matter(app, "zhao", "vip_reception", "report")
    assert refused.value.rule_id == "R-3.4"


def test_R3_4_lead_time_counts_official_holidays_and_make_up_days(make_app: Callable[..., App],
                                                                  db_url: str) -> None:
    """Wed 30 Sep 2026: National Day does not count, so a visit on Fri 9 Oct (Thu 8, Fri 9) is late, and
    one on the make-up working Saturday 10 Oct is on time."""
    app = make_app(db_url, at=local(2026, 9, 30, 10, 0))
    late = open_matter(app, "zhao", "client_visit", "report", "2026-10-09")
    on_time = open_matter(app, "zhao", "client_visit", "report", "2026-10-10")
    assert (view(app, late)["data"]["late"], view(app, on_time)["data"]["late"]) == (True, False)


# -- follow-up of approved requests ---------------------------------------------------------------------
def test_R3_5_an_approved_request_is_executed_by_the_office_director_and_closed(app: App) -> None:
    """After approval the BJ director (not staff, not another office's director) records the execution;
    the clerk is told and closes the case."""
    case = open_matter(app, "zhao", "asset_purchase", "request", "2027-02-01")
    app.service.advance(case, "approve", "liu")
    assert mails(app, "matter.approved") == ["wang@bj.example.org", "zhao@bj.example.org"]
    for outsider in ("zhao", "chen"):
        with pytest.raises(NotPermitted) as refused:
            app.service.advance(case, "execute", outsider)
        assert refused.value.rule_id == "R-3.5"
    with pytest.raises(RuleViolation):
        app.service.advance(case, "close", "sun")  # not before the outcome is recorded
    set_time(app, local(2027, 2, 1, 15, 0))
    with pytest.raises(RuleViolation) as refused:
        app.service.advance(case, "execute", "wang", options={"date": "2027-02-02"})
    assert refused.value.rule_id == "R-3.5"
    app.service.advance(case, "execute", "wang", options={"date": "2027-02-01"})
    v = view(app, case)
    assert (v["state"], v["data"]["outcome_on"]) == ("executed", "2027-02-01")
    assert mails(app, "matter.outcome_recorded") == ["sun@gov.example.org"]
    app.service.advance(case, "close", "sun")
    assert state(app, case) == "closed"


def test_R3_5_an_approved_request_may_be_abandoned(app: App) -> None:
    """The director records that an approved matter was dropped; the clerk closes it."""
    case = open_matter(app, "chen", "asset_disposal", "request", "2027-02-01")
    app.service.advance(case, "approve", "liu")
    app.service.advance(case, "abandon", "chen", comment="buyer withdrew")
    app.service.advance(case, "close", "sun")
    assert [h["to"] for h in view(app, case)["history"]] == ["submitted", "approved", "abandoned", "closed"]


def test_R3_5_no_outcome_after_the_planned_date_reminds_the_director_once(app: App) -> None:
    """Planned Friday 5 February: on Monday 8 February 09:00 the director is asked for the outcome, once."""
    case = open_matter(app, "zhao", "asset_purchase", "request", "2027-02-05")
    app.service.advance(case, "approve", "liu")
    assert pending(app, case) == {"follow_up": "2027-02-08T09:00:00+08:00"}
    assert fired(app.ticker.tick(local(2027, 2, 8, 8, 59)), case) == []
    assert fired(app.ticker.tick(local(2027, 2, 8, 9, 0)), case) == ["follow_up"]
    assert fired(app.ticker.tick(local(2027, 2, 9, 9, 0)), case) == []
    assert mails(app, "matter.follow_up") == ["wang@bj.example.org"]


# -- decision SLA -------------------------------------------------------------------------------------
def test_R3_6_reminder_exactly_3_and_escalation_5_working_days_after_submission(app: App) -> None:
    """Submitted Mon 4 Jan 09:00: reminder when the 3rd working day (Thu 7 Jan) ends, not a minute before,
    escalation when the 5th (Mon 11 Jan) ends to the level above the supervising leader who decides it (the
    General Office clerks), recorded in the history, each once. (Issue 17: a working-day deadline ends with
    the working day, not at the minute of submission.)"""
    case = open_matter(app, "zhao", "other", "request")
    assert pending(app, case) == {"decision_reminder": "2027-01-07T23:59:59.999999+08:00",
                                  "decision_escalation": "2027-01-11T23:59:59.999999+08:00"}
    assert fired(app.ticker.tick(local(2027, 1, 7, 23, 59)), case) == []
    assert fired(app.ticker.tick(local(2027, 1, 8, 0, 0)), case) == ["decision_reminder"]
    assert mails(app, "matter.reminder") == ["liu@gov.example.org"]
    assert fired(app.ticker.tick(local(2027, 1, 11, 23, 59)), case) == []
    assert fired(app.ticker.tick(local(2027, 1, 12, 0, 0)), case) == ["decision_escalation"]
    assert fired(app.ticker.tick(local(2027, 1, 13, 9, 0)), case) == []
    v = view(app, case)
    assert v["data"]["escalated"] is True
    assert v["history"][-1]["trigger"] == "escalate" and v["history"][-1]["details"]["rule"] == "R-3.6"
    assert mails(app, "matter.escalated") == ["sun@gov.example.org"]  # above liu, who decides
    assert mails(app, "matter.reminder") == ["liu@gov.example.org"]
    assert {m.params["reason"] for m in app.store.mails(case_id=case) if m.event == "matter.escalated"} == \
        {"overdue"}


def test_R3_6_escalation_never_goes_to_the_one_who_decides(app: App) -> None:
    """A request (decided by liu) escalates to the clerk sun, inviting no action; a report (acknowledged by
    the clerks) escalates to the supervising leader liu, who may acknowledge it."""
    request = open_matter(app, "zhao", "other", "request")
    report = open_matter(app, "li", "other", "report")
    app.ticker.tick(local(2027, 1, 12, 9, 0))  # the 5th working day (Mon 11 Jan) has ended (issue 17)
    sent = {m.case_id: (m.to, m.params["actions"]) for m in app.store.mails() if m.event == "matter.escalated"}
    assert sent == {request: (["sun@gov.example.org"], []), report: (["liu@gov.example.org"], ["acknowledge"])}
    assert [view(app, c)["history"][-1]["details"]["to"] for c in (request, report)] == ["clerk",
                                                                                         "supervising_leader"]


def test_R3_6_a_report_reminds_the_clerk(app: App) -> None:
    """An unacknowledged report reminds the clerk after 3 working days."""
    open_matter(app, "zhao", "other", "report")
    app.ticker.tick(local(2027, 1, 8, 0, 0))  # Mon 4 Jan + 3 working days, ended (issue 17)
    assert mails(app, "matter.reminder") == ["sun@gov.example.org"]


def test_R3_6_planned_date_2_working_days_away_escalates_at_once(app: App) -> None:
    """Submitted Monday for Wednesday (Tue, Wed: 2 working days): escalated in the same step."""
    case = open_matter(app, "wang", "asset_purchase", "request", "2027-01-06")
    v = view(app, case)
    assert v["data"]["escalated"] is True
    assert [h["trigger"] for h in v["history"]] == ["open", "escalate"]
    assert "planned_date_near" not in pending(app, case)
    assert mails(app, "matter.escalated") == ["sun@gov.example.org"]  # above liu, who decides
    # the mail says why: the planned date is near, not "not dealt with in time" seconds after submission
    from notifications.render import render

    [row, *_] = [m for m in app.store.mails(case_id=case) if m.event == "matter.escalated"]
    assert row.params["reason"] == "near"
    text = render(row, None, lang="en").text
    assert "close to its planned date" in text and "not dealt with in time" not in text


def test_R3_6_planned_date_3_working_days_away_escalates_when_it_is_2_away(app: App) -> None:
    """Submitted Monday for Thursday: not yet; at 00:00 on Tuesday the planned date is 2 working days away,
    and the undecided request escalates then, once (the 5-day escalation adds nothing)."""
    case = open_matter(app, "wang", "asset_purchase", "request", "2027-01-07")
    assert view(app, case)["data"]["escalated"] is False
    assert pending(app, case)["planned_date_near"] == "2027-01-05T00:00:00+08:00"
    assert fired(app.ticker.tick(local(2027, 1, 4, 23, 59)), case) == []
    assert fired(app.ticker.tick(local(2027, 1, 5, 0, 0)), case) == ["planned_date_near"]
    assert view(app, case)["data"]["escalated"] is True
    app.ticker.tick(local(2027, 1, 11, 9, 0))
    assert [h["trigger"] for h in view(app, case)["history"]].count("escalate") == 1
    assert mails(app, "matter.escalated") == ["sun@gov.example.org"]  # above liu, who decides


def test_R3_6_planned_date_after_a_weekend(app: App) -> None:
    """A request for Monday 11 January becomes 2 working days away (Fri, Mon) on Thursday 7 January."""
    case = open_matter(app, "wang", "asset_purchase", "request", "2027-01-11")
    assert pending(app, case)["planned_date_near"] == "2027-01-07T00:00:00+08:00"


def test_R3_6_a_decision_cancels_the_reminders(app: App) -> None:
    """Once approved, the reminder, escalation and planned-date escalation never fire."""
    case = open_matter(app, "wang", "asset_purchase", "request", "2027-02-01")
    app.service.advance(case, "approve", "liu")
    statuses = {d["kind"]: d["status"] for d in view(app, case)["deadlines"]}
    assert statuses == {"decision_reminder": "cancelled", "decision_escalation": "cancelled",
                        "planned_date_near": "cancelled", "follow_up": "pending"}
    assert fired(app.ticker.tick(local(2027, 1, 30, 0, 0)), case) == []


def test_R3_6_a_resubmission_starts_a_new_decision_round(app: App) -> None:
    """Returned on Friday and resubmitted the next Monday: the SLA counts from the resubmission's day, each
    deadline ending with its working day (issue 17)."""
    case = open_matter(app, "zhao", "other", "request")
    app.ticker.tick(local(2027, 1, 8, 0, 0))
    set_time(app, local(2027, 1, 8, 10, 0))
    app.service.advance(case, "request_revision", "liu")
    set_time(app, local(2027, 1, 11, 14, 0))
    app.service.advance(case, "resubmit", "zhao")
    assert pending(app, case) == {"decision_reminder": "2027-01-14T23:59:59.999999+08:00",
                                  "decision_escalation": "2027-01-18T23:59:59.999999+08:00"}
    assert mails(app, "matter.request_submitted") == ["liu@gov.example.org", "liu@gov.example.org"]


# -- prohibited matters -------------------------------------------------------------------------------
@pytest.mark.parametrize("category", sorted(PROHIBITED))
def test_R3_7_business_and_guarantee_matters_are_refused_at_submission(app: App, category: str) -> None:
    """A business or guarantee matter is refused when submitted, citing R-3.7 and its clause; nothing is written."""
    with pytest.raises(RuleViolation) as refused:
        open_matter(app, "wang", category, "request", "2027-02-01")
    assert refused.value.rule_id == "R-3.7"
    assert "五(二)2" in str(refused.value)
    assert app.store.count("cases") == 0


# -- through the real CLI ------------------------------------------------------------------------------------
@pytest.fixture
def cli_app(app: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> App:
    """The `outpost` CLI pointed at the test database (initialised, example organisation loaded)."""
    point_cli_at(monkeypatch, app.settings.database_url, tmp_path)
    return app


def test_R3_7_cli_refuses_a_business_matter_with_exit_3(cli_app: App, capsys: pytest.CaptureFixture[str]) -> None:
    """`outpost case open matter --category business` exits 3 with one line naming R-3.7."""
    capsys.readouterr()
    rc = run(["case", "open", "matter", "--as", "wang", "--category", "business", "--kind", "request",
              "--title", "开公司"])
    err = capsys.readouterr().err
    assert rc == 3
    assert err.count("\n") == 1 and "R-3.7" in err and "Traceback" not in err


def test_R3_3_cli_refuses_execution_before_approval_with_exit_3(cli_app: App,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A request opened through the CLI cannot be marked executed before approval: exit 3, R-3.3."""
    rc = run(["case", "open", "matter", "--as", "zhao", "--category", "other", "--kind", "request",
              "--title", "更换车辆", "--json"])
    assert rc == 0
    case = json.loads(capsys.readouterr().out)
    assert (case["process"], case["state"]) == ("matter", "submitted")
    rc = run(["case", "advance", str(case["id"]), "execute", "--as", "wang"])
    err = capsys.readouterr().err
    assert rc == 3
    assert err.startswith("outpost: ") and err.count("\n") == 1 and "R-3.3" in err


def test_R3_3_a_malformed_date_on_an_early_execution_is_bad_input_and_records_no_incident(
        cli_app: App, capsys: pytest.CaptureFixture[str]) -> None:
    """`execute --date 2027-02-29` before approval: exit 2 for the date, and the database as it was (no R-3.3
    incident, no mail): input is checked before any rule records a refusal."""
    rc = run(["case", "open", "matter", "--as", "zhao", "--category", "other", "--kind", "request",
              "--title", "更换车辆", "--json"])
    assert rc == 0
    case = json.loads(capsys.readouterr().out)
    before = dump(cli_app.settings.database_url)
    for bad in ("2027-02-29", "x", "9999-99-99"):
        rc = run(["case", "advance", str(case["id"]), "execute", "--as", "wang", "--date", bad])
        err = capsys.readouterr().err
        assert rc == 2, err
        assert err.count("\n") == 1 and "--date" in err
        assert dump(cli_app.settings.database_url) == before
    rc = run(["case", "advance", str(case["id"]), "execute", "--as", "wang", "--date", "2027-03-01"])
    assert rc == 3 and "R-3.3" in capsys.readouterr().err  # a well-formed date: the refusal, recorded


# -- random walks (hypothesis, stateful) -----------------------------------------------------------------------
OFFICE_PEOPLE = ("wang", "li", "zhao", "chen", "huang")
PEOPLE = (*OFFICE_PEOPLE, "liu", "sun", "zhou", "wu")
DIRECTOR = {"BJ": "wang", "SZ": "chen"}
RECORDS = ("escalate", "compliance_incident")  # history rows written without a transition
TRIGGERS = ("acknowledge", "approve", "reject", "request_revision", "resubmit", "execute", "abandon", "close")


class MatterCases(CaseWalk):
    """Random submissions, triggers by random people and ticks, on one SQLite file; every step is its own
    transaction and every check reads the database."""

    process = "matter"
    records = RECORDS
    cases = Bundle("cases")

    @initialize(target=cases)
    def first_matters(self) -> Any:
        """A report and an asset request, so that triggers have cases from the start."""
        report = self.app.service.open("matter", "zhao", {"category": "other", "kind": "report", "title": "t"})
        request = self.app.service.open("matter", "chen", {"category": "asset_purchase", "kind": "request",
                                                           "title": "t", "event_date": "2027-01-20"})
        return multiple(report.id, request.id)

    @rule(target=cases, who=st.sampled_from((*OFFICE_PEOPLE, *OFFICE_PEOPLE, *PEOPLE)),
          category=st.sampled_from((*CATEGORIES, *PROHIBITED)), kind=st.sampled_from(("report", "request")),
          offset=st.one_of(st.none(), st.integers(-3, 20)))
    def submit(self, who: str, category: str, kind: str, offset: int | None) -> Any:
        today = self.clock.now().astimezone(LOCAL_TZ).date()
        event = None if offset is None else (today + timedelta(days=offset)).isoformat()
        before = self.written()
        try:
            case = self.app.service.open("matter", who, {"category": category, "kind": kind, "title": "t",
                                                         "event_date": event})
        except WorkflowError:
            assert self.written() == before, "a refused submission wrote to the database"
            return multiple()
        assert category not in PROHIBITED, "R-3.7 bypassed"
        assert kind in CATEGORIES[category].kinds, "R-3.3 bypassed"
        return case.id

    @rule(case=cases, trigger=st.sampled_from((*TRIGGERS, "frob")), who=st.sampled_from(PEOPLE),
          offset=st.one_of(st.none(), st.integers(-2, 10)))
    def advance(self, case: int, trigger: str, who: str, offset: int | None) -> None:
        self._advance(case, trigger, who, offset)

    @rule(case=cases, trigger=st.sampled_from(TRIGGERS), offset=st.one_of(st.none(), st.integers(-2, 10)))
    def advance_by_the_usual_person(self, case: int, trigger: str, offset: int | None) -> None:
        """The person the trigger is meant for, so that cases get far along their paths."""
        view = self.app.case_view(case, with_history=False)
        who = {"approve": "liu", "reject": "liu", "request_revision": "liu", "acknowledge": "sun", "close": "sun",
               "resubmit": view["data"]["requester"]}.get(trigger, DIRECTOR[view["office"]])
        self._advance(case, trigger, who, offset)

    @rule(case=cases, choice=st.integers(0, 3))
    def next_step(self, case: int, choice: int) -> None:
        """A step that the case's state allows, by the person it belongs to, so that matters get to their end."""
        view = self.app.case_view(case, with_history=False)
        options = [t for t in TRIGGERS if (spec := self.definition.transition(t, view["state"])) is not None
                   and spec.dest is not None] or ["close"]
        self.advance_by_the_usual_person(case, options[choice % len(options)], None)

    def _advance(self, case: int, trigger: str, who: str, offset: int | None) -> None:
        before = self.app.case_view(case, with_history=False)
        today = self.clock.now().astimezone(LOCAL_TZ).date()
        options = None if offset is None else {"date": (today + timedelta(days=offset)).isoformat()}
        written = self.written()
        try:
            after = self.app.service.advance(case, trigger, who, options=options)
        except WorkflowError as exc:
            after_refusal = self.app.case_view(case)
            if trigger == "execute" and getattr(exc, "rule_id", None) == "R-3.3":
                # the one refusal that is recorded: a compliance incident, the state untouched
                assert after_refusal["state"] == before["state"]
                assert after_refusal["history"][-1]["trigger"] == "compliance_incident"
                return
            assert self.written() == written, f"a refused {trigger} wrote to the database"
            assert after_refusal["version"] == before["version"]
            return
        spec = self.definition.transition(trigger, before["state"])
        assert spec is not None and not spec.system
        assert after.state == (spec.dest or before["state"])
        data = before["data"]
        if trigger == "execute":
            assert before["state"] == "approved", "R-3.3: executed before approval"
        if trigger in ("approve", "reject", "request_revision"):
            assert (who, data["kind"]) == ("liu", "request"), "R-3.2"
        if trigger == "acknowledge":
            assert who in ("liu", "sun") and data["kind"] == "report", "R-3.2"
        if trigger in ("execute", "abandon"):
            assert who == DIRECTOR[before["office"]], "R-3.5"
        if trigger == "close":
            assert who == "sun", "R-3.5"


def test_random_triggers_by_random_people_never_bypass_a_matter_rule() -> None:
    """Hypothesis drives matters at random: no refused step writes, no rule of R-3 is bypassed, the history
    replays to the state and the hash chain verifies."""
    run_state_machine_as_test(MatterCases, settings=settings(
        max_examples=15, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
