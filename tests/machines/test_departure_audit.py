"""Departure audits, rule by rule (REGULATION.md R-4), through the real store on SQLite and PostgreSQL.

2027 has no holiday data yet, so its working days are Monday–Friday (R-0.6 fallback); 4 January 2027 is
a Monday. Each step is its own transaction and every check reloads the case from the database.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
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

from outpost.app import App
from outpost.cli import run
from tests.conftest import ORG_FILE, local, mails, point_cli_at, set_time, state, view
from tests.walks import CaseWalk
from workflow.definition import Transition
from workflow.errors import BadInput, NotFound, NotPermitted, RuleViolation, WorkflowError
from workflow.model import Case
from workflow.ports import CaseFilter

ORG_TEXT = ORG_FILE.read_text(encoding="utf-8")
WANG = '[[person]]\nid = "wang"\nname = "王建国"\nemail = "wang@bj.example.org"\noffice = "BJ"\nroles = ["director"]\n'
AUDITOR_STAGES = ("issue_notice", "start_fieldwork", "deliver_draft", "issue_final", "close", "add_finding",
                  "rectify_finding")


def org_with(tmp_path: Path, old: str, new: str, name: str = "org2.toml") -> Path:
    """The example organisation with one person's block replaced."""
    assert old in ORG_TEXT
    path = tmp_path / name
    path.write_text(ORG_TEXT.replace(old, new), encoding="utf-8")
    return path


def pending(app: App, case_id: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for d in view(app, case_id)["deadlines"]:
        if d["status"] == "pending":
            out.setdefault(d["kind"], []).append(d["due_at"])
    return out


def fired(report: Any, case_id: int) -> list[str]:
    """The deadlines of this case a tick fired (other processes' periodic cases tick too)."""
    return [f["kind"] for f in report.fired if f["case"] == case_id]


def findings(app: App, case_id: int) -> dict[int, str]:
    with app.store.transaction(write=False) as tx:
        return {i.id: i.status for i in tx.items(case_id, "finding") if i.id is not None}


def step(app: App, at: datetime, case_id: int, trigger: str, who: str, **kw: Any) -> None:
    set_time(app, at)
    app.service.advance(case_id, trigger, who, **kw)


def open_audit(app: App, subject: str = "wang", who: str = "wu") -> int:
    return app.service.open("departure_audit", who, {"subject": subject}).id


def to_fieldwork(app: App, case: int) -> None:
    """Notice Mon 4 Jan, materials Fri 8 Jan, fieldwork Mon 11 Jan 2027."""
    step(app, local(2027, 1, 4, 10, 0), case, "issue_notice", "zhou")
    step(app, local(2027, 1, 8, 10, 0), case, "submit_materials", "wang")
    step(app, local(2027, 1, 11, 10, 0), case, "start_fieldwork", "zhou")


def to_final(app: App, case: int, findings_text: tuple[str, ...] = ()) -> None:
    """… findings in fieldwork, draft Mon 1 Mar, feedback Fri 5 Mar, final report Thu 1 Apr 2027."""
    to_fieldwork(app, case)
    for text in findings_text:
        step(app, local(2027, 2, 1, 10, 0), case, "add_finding", "zhou", options={"finding": text})
    step(app, local(2027, 3, 1, 10, 0), case, "deliver_draft", "zhou")
    step(app, local(2027, 3, 5, 10, 0), case, "give_feedback", "wang", comment="同意报告结论")
    step(app, local(2027, 4, 1, 10, 0), case, "issue_final", "zhou")


# -- opening ---------------------------------------------------------------------------------------
def test_R4_1_org_load_changing_a_directors_role_opens_a_departure_audit(app: App, tmp_path: Path) -> None:
    """wang goes from director to staff: `org load` opens an audit for wang and BJ, with no actor, and tells
    the auditor; loading the same file again opens nothing."""
    path = org_with(tmp_path, WANG, WANG.replace('roles = ["director"]', 'roles = ["staff"]'))
    result = app.load_org(path)
    assert result["cadre_changes"] == ["wang"]
    [case] = result["departure_audits_opened"]
    v = view(app, case)
    assert (v["process"], v["subject"], v["office"], v["state"], v["opened_by"]) == (
        "departure_audit", "wang", "BJ", "opened", None)
    assert (v["data"]["roles_before"], v["data"]["roles_after"]) == (["director"], ["staff"])
    assert v["history"][0]["actor"] is None and v["history"][0]["details"]["rule"] == "R-4.1"
    assert mails(app, "departure_audit.opened") == ["zhou@gov.example.org"]
    cases = app.store.count("cases")
    again = app.load_org(path)
    assert (again["changed"], again["departure_audits_opened"]) == (False, [])
    assert app.store.count("cases") == cases


def test_R4_1_removing_a_deputy_director_opens_a_departure_audit(app: App, tmp_path: Path) -> None:
    """li (deputy director and petition deputy of BJ) leaves the file: an audit opens for li and BJ."""
    start = ORG_TEXT.index('[[person]]\nid = "li"')
    end = ORG_TEXT.index("[[person]]", start + 1)
    path = org_with(tmp_path, ORG_TEXT[start:end], "")
    [case] = app.load_org(path)["departure_audits_opened"]
    v = view(app, case)
    assert (v["subject"], v["office"]) == ("li", "BJ")
    assert v["data"]["roles_before"] == ["deputy_director", "petition_deputy"]
    assert v["data"]["roles_after"] == []


def test_R4_1_directors_transferred_to_another_office_in_the_same_role_are_each_audited(app: App,
                                                                                        tmp_path: Path) -> None:
    """wang (director of BJ) and chen (director of SZ) swap offices, both still directors: a move is a cadre
    change even with the role unchanged (store/org.py), so each gets an audit for the office they left,
    opened by nobody, saying where they went; loading the same file again opens nothing."""
    chen = ORG_TEXT[ORG_TEXT.index('[[person]]\nid = "chen"'):ORG_TEXT.index('[[person]]\nid = "huang"')]
    path = tmp_path / "swapped.toml"
    path.write_text(ORG_TEXT.replace(WANG, WANG.replace('office = "BJ"', 'office = "SZ"'))
                    .replace(chen, chen.replace('office = "SZ"', 'office = "BJ"')), encoding="utf-8")
    result = app.load_org(path)
    assert (result["people_changed"], result["cadre_changes"]) == (["wang", "chen"], ["wang", "chen"])
    audits = {view(app, c)["subject"]: view(app, c) for c in result["departure_audits_opened"]}
    assert sorted(audits) == ["chen", "wang"]
    for person, left, went in (("wang", "BJ", "SZ"), ("chen", "SZ", "BJ")):
        v = audits[person]
        assert (v["office"], v["state"], v["opened_by"]) == (left, "opened", None)
        assert (v["data"]["roles_before"], v["data"]["roles_after"]) == (["director"], ["director"])
        assert v["history"][0]["details"]["why"] == f"{person} (director of {left}) moved to {went}"
    assert mails(app, "departure_audit.opened") == ["zhou@gov.example.org"] * 2
    again = app.load_org(path)
    assert (again["changed"], again["cadre_changes"], again["departure_audits_opened"]) == (False, [], [])


def test_R4_1_staff_changes_open_no_audit(app: App, tmp_path: Path) -> None:
    """A change to ordinary staff (zhao's e-mail) is no cadre change and opens nothing."""
    path = org_with(tmp_path, "zhao@bj.example.org", "zhao2@bj.example.org")
    result = app.load_org(path)
    assert result["changed"] and result["departure_audits_opened"] == []


def test_R4_1_the_organisation_department_opens_an_audit_for_a_leading_cadre(app: App) -> None:
    """The org department may open one for a director or deputy; nobody else, and not for staff."""
    case = open_audit(app, "li")
    v = view(app, case)
    assert (v["subject"], v["office"], v["opened_by"], v["state"]) == ("li", "BJ", "wu", "opened")
    with pytest.raises(NotPermitted) as refused:
        open_audit(app, "wang", who="zhou")
    assert refused.value.rule_id == "R-4.1"
    with pytest.raises(RuleViolation) as refused:
        open_audit(app, "zhao")
    assert refused.value.rule_id == "R-4.1"
    with pytest.raises(NotFound):
        open_audit(app, "nobody")
    with pytest.raises(BadInput):
        app.service.open("departure_audit", "wu", {})


# -- stages -----------------------------------------------------------------------------------------
def test_R4_2_the_stages_follow_one_another_to_closing(app: App) -> None:
    """notice → materials → fieldwork → draft → feedback → final → closed, each by its role; a stage out of
    order is refused."""
    case = open_audit(app)
    with pytest.raises(RuleViolation) as refused:
        app.service.advance(case, "deliver_draft", "zhou")
    assert refused.value.rule_id == "departure_audit.states"
    step(app, local(2027, 1, 4, 10, 0), case, "issue_notice", "zhou")
    assert mails(app, "departure_audit.notice_issued") == ["wang@bj.example.org"]
    with pytest.raises(NotPermitted) as refused:
        app.service.advance(case, "submit_materials", "zhao")
    assert refused.value.rule_id == "R-4.2"
    step(app, local(2027, 1, 8, 10, 0), case, "submit_materials", "wang")
    assert mails(app, "departure_audit.materials_submitted") == ["zhou@gov.example.org"]
    with pytest.raises(NotPermitted) as refused:
        app.service.advance(case, "start_fieldwork", "liu")
    assert refused.value.rule_id == "R-4.2"
    step(app, local(2027, 1, 11, 10, 0), case, "start_fieldwork", "zhou")
    step(app, local(2027, 3, 1, 10, 0), case, "deliver_draft", "zhou")
    assert mails(app, "departure_audit.draft_delivered") == ["wang@bj.example.org"]
    with pytest.raises(NotPermitted) as refused:
        app.service.advance(case, "give_feedback", "zhou")
    assert refused.value.rule_id == "R-4.2"
    with pytest.raises(BadInput):
        app.service.advance(case, "give_feedback", "wang")  # written feedback: --comment is required
    step(app, local(2027, 3, 5, 10, 0), case, "give_feedback", "wang", comment="对第3项有不同意见")
    step(app, local(2027, 4, 1, 10, 0), case, "issue_final", "zhou")
    assert state(app, case) == "final_reported"
    assert pending(app, case) == {}  # no open finding: nothing to rectify
    step(app, local(2027, 4, 2, 10, 0), case, "close", "zhou")
    v = view(app, case)
    assert [h["to"] for h in v["history"]] == ["opened", "notified", "materials_submitted", "fieldwork",
                                              "draft_reported", "feedback_received", "final_reported", "closed"]
    assert v["data"]["feedback"] == "given" and v["data"]["materials_late"] is False
    assert "wang@bj.example.org" in mails(app, "departure_audit.closed")


def test_R4_2_the_office_director_may_submit_the_materials(app: App) -> None:
    """For a deputy's audit the office's director submits the materials."""
    case = open_audit(app, "li")
    app.service.advance(case, "issue_notice", "zhou")
    app.service.advance(case, "submit_materials", "wang")
    assert state(app, case) == "materials_submitted"


# -- the audited person ------------------------------------------------------------------------------------
def test_R4_3_audited_person_cannot_act_as_auditor_on_own_audit(app: App, tmp_path: Path) -> None:
    """wang moves to the General Office as an auditor: on his own audit every auditor trigger is refused
    with R-4.3, in every stage, and he is not mailed as an auditor."""
    new = WANG.replace('office = "BJ"\nroles = ["director"]', 'roles = ["auditor"]')
    [case] = app.load_org(org_with(tmp_path, WANG, new))["departure_audits_opened"]
    assert mails(app, "departure_audit.opened") == ["zhou@gov.example.org"]

    def refused_everywhere() -> None:
        for trigger in AUDITOR_STAGES:
            infos = {i.trigger: i for i in app.service.triggers(case, "wang")}
            if view(app, case)["state"] in ("fieldwork", "draft_reported", "feedback_received"):
                assert not infos["add_finding"].allowed and "R-4.3" in str(infos["add_finding"].reason)
            try:
                app.service.advance(case, trigger, "wang", options={"finding": "1"} if "finding" in trigger
                                    else None)
            except NotPermitted as exc:
                assert exc.rule_id == "R-4.3", trigger
            except RuleViolation as exc:  # not possible in this state at all
                assert exc.rule_id == "departure_audit.states", (trigger, exc)
            else:
                raise AssertionError(f"wang could {trigger} his own audit")

    refused_everywhere()
    step(app, local(2027, 1, 4, 10, 0), case, "issue_notice", "zhou")
    refused_everywhere()
    step(app, local(2027, 1, 5, 10, 0), case, "submit_materials", "wang")  # as the audited person: allowed
    refused_everywhere()
    step(app, local(2027, 1, 6, 10, 0), case, "start_fieldwork", "zhou")
    step(app, local(2027, 1, 7, 10, 0), case, "add_finding", "zhou", options={"finding": "车辆未入账"})
    refused_everywhere()
    step(app, local(2027, 3, 1, 10, 0), case, "deliver_draft", "zhou")
    refused_everywhere()
    assert mails(app, "departure_audit.materials_submitted") == ["zhou@gov.example.org"]  # not wang


def test_R4_3_audited_person_cannot_close_own_audit(app: App, tmp_path: Path) -> None:
    """wang becomes a supervising leader: he may neither waive the findings of his own audit nor close it
    (refused with R-4.3, also in his list of triggers); the auditor closes it."""
    new = WANG.replace('office = "BJ"\nroles = ["director"]', 'roles = ["supervising_leader"]')
    [case] = app.load_org(org_with(tmp_path, WANG, new))["departure_audits_opened"]
    to_final(app, case, ("账实不符",))
    app.ticker.tick(local(2027, 4, 1, 10, 1))
    assert state(app, case) == "rectifying"
    [finding] = findings(app, case)
    with pytest.raises(NotPermitted) as refused:
        app.service.advance(case, "waive_finding", "wang", options={"finding": str(finding), "reason": "小事"})
    assert refused.value.rule_id == "R-4.3"
    step(app, local(2027, 4, 10, 10, 0), case, "rectify_finding", "zhou", options={"finding": str(finding)})
    with pytest.raises(NotPermitted) as refused:
        app.service.advance(case, "close", "wang")
    assert refused.value.rule_id == "R-4.3"
    infos = {i.trigger: i for i in app.service.triggers(case, "wang")}
    assert not infos["close"].allowed and "R-4.3" in str(infos["close"].reason)
    app.service.advance(case, "close", "zhou")
    assert state(app, case) == "closed"


# -- findings ---------------------------------------------------------------------------------------------
def test_R4_4_close_refused_while_a_finding_is_open(app: App) -> None:
    """Two findings: closing is refused naming the open ones until one is rectified by the auditor and the
    other waived by the supervising leader with a reason."""
    case = open_audit(app)
    to_final(app, case, ("固定资产登记不全", "招待费超标"))
    first, second = sorted(findings(app, case))
    app.ticker.tick(local(2027, 4, 1, 10, 1))
    assert state(app, case) == "rectifying"
    with pytest.raises(RuleViolation) as refused:
        app.service.advance(case, "close", "zhou")
    assert refused.value.rule_id == "R-4.4" and f"{first}, {second}" in str(refused.value)
    step(app, local(2027, 4, 20, 10, 0), case, "rectify_finding", "zhou", options={"finding": str(first)})
    with pytest.raises(RuleViolation) as refused:
        app.service.advance(case, "close", "liu")
    assert refused.value.rule_id == "R-4.4" and str(second) in str(refused.value)
    with pytest.raises(NotPermitted) as refused:
        app.service.advance(case, "waive_finding", "zhou", options={"finding": str(second), "reason": "x"})
    assert refused.value.rule_id == "R-4.4"
    with pytest.raises(RuleViolation) as refused:
        app.service.advance(case, "waive_finding", "liu", options={"finding": str(second)})
    assert refused.value.rule_id == "R-4.4" and "--reason" in str(refused.value)
    app.service.advance(case, "waive_finding", "liu", options={"finding": str(second), "reason": "已由财政局核销"})
    with pytest.raises(RuleViolation) as refused:
        app.service.advance(case, "rectify_finding", "zhou", options={"finding": str(second)})
    assert refused.value.rule_id == "R-4.4" and "waived" in str(refused.value)
    assert findings(app, case) == {first: "rectified", second: "waived"}
    app.service.advance(case, "close", "liu")
    v = view(app, case)
    assert v["state"] == "closed" and v["data"]["findings"] == {"rectified": 1, "waived": 1}
    waived = next(h for h in v["history"] if h["trigger"] == "waive_finding")
    assert (waived["actor"], waived["details"]["reason"]) == ("liu", "已由财政局核销")


def test_R4_4_findings_change_no_state_and_keep_the_deadlines(app: App) -> None:
    """A finding added while the draft awaits feedback is a history row from draft_reported to itself; the
    feedback deadlines stay pending. An unknown finding id is bad input."""
    case = open_audit(app)
    to_fieldwork(app, case)
    step(app, local(2027, 3, 1, 10, 0), case, "deliver_draft", "zhou")
    before = pending(app, case)
    step(app, local(2027, 3, 2, 10, 0), case, "add_finding", "zhou", options={"finding": "合同未备案"})
    v = view(app, case)
    last = v["history"][-1]
    assert (last["trigger"], last["from"], last["to"]) == ("add_finding", "draft_reported", "draft_reported")
    assert last["details"]["text"] == "合同未备案"
    assert pending(app, case) == before and "no_objection" in before
    with pytest.raises(BadInput):
        app.service.advance(case, "add_finding", "zhou")
    with pytest.raises(NotFound):
        app.service.advance(case, "rectify_finding", "zhou", options={"finding": "999999"})
    app.service.advance(case, "record_handover", "zhou", options={"assets": "钥匙"})
    with app.store.transaction(write=False) as tx:
        [handover] = tx.items(case, "handover")
    with pytest.raises(NotFound):  # an item of the case that is not a finding
        app.service.advance(case, "rectify_finding", "zhou", options={"finding": str(handover.id)})


# -- due dates ---------------------------------------------------------------------------------------------
def test_R4_5_materials_due_10_working_days_after_the_notice(app: App) -> None:
    """Notice Mon 4 Jan: materials due end of Mon 18 Jan; reminders 15 and 17 Jan 09:00; escalated to the
    supervising leader (and the auditor) at 00:00 on 19 Jan, once, and submission is then marked late."""
    case = open_audit(app)
    step(app, local(2027, 1, 4, 10, 0), case, "issue_notice", "zhou")
    assert view(app, case)["data"]["materials_due"] == "2027-01-18"
    assert pending(app, case) == {
        "materials_reminder": ["2027-01-15T09:00:00+08:00", "2027-01-17T09:00:00+08:00"],
        "materials_overdue": ["2027-01-19T00:00:00+08:00"]}
    assert fired(app.ticker.tick(local(2027, 1, 15, 9, 0)), case) == ["materials_reminder"]
    assert mails(app, "departure_audit.materials_reminder") == ["wang@bj.example.org"]
    assert fired(app.ticker.tick(local(2027, 1, 18, 23, 59)), case) == ["materials_reminder"]
    assert fired(app.ticker.tick(local(2027, 1, 19, 0, 0)), case) == ["materials_overdue"]
    assert fired(app.ticker.tick(local(2027, 1, 20, 0, 0)), case) == []
    assert mails(app, "departure_audit.materials_overdue") == ["liu@gov.example.org", "zhou@gov.example.org"]
    assert view(app, case)["history"][-1]["trigger"] == "escalate"
    step(app, local(2027, 1, 20, 9, 0), case, "submit_materials", "wang")
    assert view(app, case)["data"]["materials_late"] is True


def test_R4_5_feedback_on_day_10_counts(app: App) -> None:
    """Draft delivered Mon 1 Mar: feedback at 23:59 on Thu 11 Mar (day 10) is received, and the
    no-objection deadline is cancelled."""
    case = open_audit(app)
    to_fieldwork(app, case)
    step(app, local(2027, 3, 1, 10, 0), case, "deliver_draft", "zhou")
    assert view(app, case)["data"]["feedback_due"] == "2027-03-11"
    assert pending(app, case) == {
        "feedback_reminder": ["2027-03-08T09:00:00+08:00", "2027-03-10T09:00:00+08:00"],
        "no_objection": ["2027-03-12T00:00:00+08:00"]}
    step(app, local(2027, 3, 11, 23, 59), case, "give_feedback", "wang", comment="有异议，见附件")
    v = view(app, case)
    assert (v["state"], v["data"]["feedback"]) == ("feedback_received", "given")
    assert fired(app.ticker.tick(local(2027, 3, 12, 0, 0)), case) == []


def test_R4_5_no_feedback_by_day_10_is_no_objection_on_day_11(app: App) -> None:
    """Nothing by the end of 11 Mar: at 00:00 on 12 Mar the daemon records no objection (system trigger),
    the auditor and the supervising leader are told, and feedback is no longer accepted."""
    case = open_audit(app)
    to_fieldwork(app, case)
    step(app, local(2027, 3, 1, 10, 0), case, "deliver_draft", "zhou")
    assert fired(app.ticker.tick(local(2027, 3, 8, 9, 0)), case) == ["feedback_reminder"]
    assert mails(app, "departure_audit.feedback_reminder") == ["wang@bj.example.org"]
    assert fired(app.ticker.tick(local(2027, 3, 11, 23, 59)), case) == ["feedback_reminder"]
    set_time(app, local(2027, 3, 12, 0, 0))
    with pytest.raises(RuleViolation) as refused:  # the daemon has not run yet: still too late
        app.service.advance(case, "give_feedback", "wang", comment="迟到的意见")
    assert refused.value.rule_id == "R-4.5"
    with pytest.raises(NotPermitted):
        app.service.advance(case, "no_objection", "zhou")  # fired by the daemon only
    assert fired(app.ticker.tick(local(2027, 3, 12, 0, 0)), case) == ["no_objection"]
    v = view(app, case)
    last = v["history"][-1]
    assert (v["state"], v["data"]["feedback"]) == ("feedback_received", "no_objection")
    assert (last["trigger"], last["actor"], last["details"]["rule"]) == ("no_objection", None, "R-4.5")
    assert mails(app, "departure_audit.no_objection") == ["liu@gov.example.org", "zhou@gov.example.org"]
    assert fired(app.ticker.tick(local(2027, 3, 13, 0, 0)), case) == []


def test_R4_5_rectification_due_60_days_after_the_final_report(app: App) -> None:
    """Final report Thu 1 Apr with an open finding: rectification starts at the next tick, due 31 May,
    reminders 28 and 30 May, escalation at 00:00 on 1 June while the finding is open."""
    case = open_audit(app)
    to_final(app, case, ("印章管理不规范",))
    assert pending(app, case) == {"rectification_start": ["2027-04-01T10:00:00+08:00"]}
    assert fired(app.ticker.tick(local(2027, 4, 1, 10, 0)), case) == ["rectification_start"]
    v = view(app, case)
    assert (v["state"], v["data"]["rectification_due"]) == ("rectifying", "2027-05-31")
    assert v["history"][-1]["trigger"] == "begin_rectification" and v["history"][-1]["actor"] is None
    assert mails(app, "departure_audit.rectification_started") == ["wang@bj.example.org", "zhou@gov.example.org"]
    assert pending(app, case) == {
        "rectification_reminder": ["2027-05-28T09:00:00+08:00", "2027-05-30T09:00:00+08:00"],
        "rectification_overdue": ["2027-06-01T00:00:00+08:00"]}
    assert fired(app.ticker.tick(local(2027, 5, 28, 9, 0)), case) == ["rectification_reminder"]
    assert fired(app.ticker.tick(local(2027, 5, 31, 23, 59)), case) == ["rectification_reminder"]
    assert mails(app, "departure_audit.rectification_reminder") == ["wang@bj.example.org", "wang@bj.example.org",
                                                                    "zhou@gov.example.org", "zhou@gov.example.org"]
    assert fired(app.ticker.tick(local(2027, 6, 1, 0, 0)), case) == ["rectification_overdue"]
    assert mails(app, "departure_audit.rectification_overdue") == ["liu@gov.example.org", "zhou@gov.example.org"]
    assert view(app, case)["data"]["rectification_overdue"] is True


def test_R4_5_a_daemon_down_for_days_sends_one_reminder_not_a_late_one_after_the_due_date(app: App) -> None:
    """No tick between the notice and 19 Jan: the two missed reminders are skipped, only the escalation goes."""
    case = open_audit(app)
    step(app, local(2027, 1, 4, 10, 0), case, "issue_notice", "zhou")
    report = app.ticker.tick(local(2027, 1, 19, 0, 0))
    assert fired(report, case) == ["materials_overdue"]
    assert mails(app, "departure_audit.materials_reminder") == []


# -- handover ------------------------------------------------------------------------------------------------
def test_R4_6_the_asset_handover_is_recorded_against_the_case_until_closed(app: App, tmp_path: Path) -> None:
    """wang steps down and zhao becomes director: zhao (incoming) records the handover from wang on the
    audit; someone from another office may not; after closing nothing more is recorded."""
    text = ORG_TEXT.replace(WANG, WANG.replace('roles = ["director"]', 'roles = ["staff"]'))
    text = text.replace('id = "zhao"\nname = "赵丽"\nemail = "zhao@bj.example.org"\noffice = "BJ"\n'
                        'roles = ["staff"]', 'id = "zhao"\nname = "赵丽"\nemail = "zhao@bj.example.org"\n'
                        'office = "BJ"\nroles = ["director"]')
    path = tmp_path / "org3.toml"
    path.write_text(text, encoding="utf-8")
    [case] = app.load_org(path)["departure_audits_opened"]
    step(app, local(2027, 1, 5, 10, 0), case, "record_handover", "zhao",
         options={"assets": "公务车1辆、办公设备清单、印章2枚", "date": "2027-01-05"})
    v = view(app, case)
    last = v["history"][-1]
    assert (v["state"], last["trigger"], last["from"], last["to"]) == ("opened", "record_handover", "opened",
                                                                      "opened")
    with app.store.transaction(write=False) as tx:
        [handover] = tx.items(case, "handover")
    assert (handover.data["from"], handover.data["to"], handover.data["recorded_by"]) == ("wang", "zhao", "zhao")
    with pytest.raises(NotPermitted) as refused:
        app.service.advance(case, "record_handover", "huang", options={"assets": "x"})
    assert refused.value.rule_id == "R-4.6"
    with pytest.raises(BadInput):
        app.service.advance(case, "record_handover", "zhao")
    with pytest.raises(RuleViolation) as refused:
        app.service.advance(case, "record_handover", "zhao", options={"assets": "x", "date": "2027-02-01"})
    assert refused.value.rule_id == "R-4.6"
    to_final(app, case)
    step(app, local(2027, 4, 2, 10, 0), case, "record_handover", "wang", options={"assets": "剩余档案"})
    app.service.advance(case, "close", "zhou")
    with pytest.raises(RuleViolation) as refused:
        app.service.advance(case, "record_handover", "zhao", options={"assets": "迟交的钥匙"})
    assert refused.value.rule_id == "departure_audit.states"


# -- through the real CLI ---------------------------------------------------------------------------------------------
@pytest.fixture
def cli_app(app: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> App:
    """The `outpost` CLI pointed at the test database (initialised, example organisation loaded)."""
    point_cli_at(monkeypatch, app.settings.database_url, tmp_path)
    return app


def test_R4_3_cli_refuses_the_audited_person_as_auditor_with_exit_3(
        cli_app: App, capsys: pytest.CaptureFixture[str]) -> None:
    """Opened with `case open departure_audit --subject wang`; wang issuing the notice exits 3 naming R-4.3;
    the handover is recorded with `--assets`."""
    capsys.readouterr()
    assert run(["case", "open", "departure_audit", "--as", "wu", "--subject", "wang", "--json"]) == 0
    case = json.loads(capsys.readouterr().out)
    assert (case["process"], case["subject"], case["state"]) == ("departure_audit", "wang", "opened")
    rc = run(["case", "advance", str(case["id"]), "issue_notice", "--as", "wang"])
    err = capsys.readouterr().err
    assert rc == 3
    assert err.startswith("outpost: ") and err.count("\n") == 1 and "R-4.3" in err
    rc = run(["case", "advance", str(case["id"]), "record_handover", "--as", "wang", "--assets", "印章2枚"])
    assert rc == 0, capsys.readouterr().err
    rc = run(["case", "open", "departure_audit", "--as", "wu", "--subject", "zhao"])
    err = capsys.readouterr().err
    assert rc == 3 and "R-4.1" in err


def test_org_load_through_the_cli_opens_the_audit_once(cli_app: App, capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    """`outpost org load` with chen no longer director reports the audit it opened; the same file again, none."""
    chen = 'office = "SZ"\nroles = ["director"]'
    path = org_with(tmp_path, chen, 'office = "SZ"\nroles = ["staff"]')
    capsys.readouterr()
    assert run(["org", "load", str(path), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["cadre_changes"] == ["chen"] and len(first["departure_audits_opened"]) == 1
    assert run(["org", "load", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["departure_audits_opened"] == []


def test_departure_audit_in_2026_counts_national_day_out_of_the_materials_period(
        make_app: Callable[..., App], db_url: str) -> None:
    """Notice on Wed 30 Sep 2026: the 10 working days skip 1–7 Oct and count the make-up Saturday 10 Oct,
    so the materials are due on Tue 20 Oct (R-4.5, R-0.6)."""
    app = make_app(db_url, at=local(2026, 9, 30, 10, 0))
    case = open_audit(app)
    app.service.advance(case, "issue_notice", "zhou")
    assert view(app, case)["data"]["materials_due"] == "2026-10-20"


def test_R4_1_the_org_department_cannot_open_a_second_audit_of_the_same_cadre(app: App) -> None:
    """One open departure audit per person and office: a second is refused naming the first (R-4.1); once
    the first is closed, a new one may be opened."""
    first = open_audit(app, "li")
    with pytest.raises(RuleViolation, match=f"R-4.1.*case {first}"):
        open_audit(app, "li")
    assert [c.id for c in app.store.list_cases(CaseFilter(process="departure_audit"))] == [first]
    assert open_audit(app, "wang") != first  # another cadre is another audit


# -- random walks (hypothesis, stateful) -----------------------------------------------------------------------
PEOPLE = ("wang", "li", "zhao", "chen", "huang", "liu", "sun", "zhou", "wu")
HUMAN = ("issue_notice", "submit_materials", "start_fieldwork", "deliver_draft", "give_feedback", "issue_final",
         "close", "add_finding", "rectify_finding", "waive_finding", "record_handover")
BY_AUDITOR = ("issue_notice", "start_fieldwork", "deliver_draft", "issue_final", "add_finding", "rectify_finding")
USUAL = {"submit_materials": "subject", "give_feedback": "subject", "record_handover": "subject",
         "waive_finding": "liu", "close": "zhou"}


NEXT = {"opened": ("issue_notice",), "notified": ("submit_materials",), "materials_submitted": ("start_fieldwork",),
        "fieldwork": ("deliver_draft", "add_finding"), "draft_reported": ("give_feedback", "add_finding"),
        "feedback_received": ("issue_final",), "final_reported": ("close",),
        "rectifying": ("rectify_finding", "waive_finding", "close")}


class AuditCases(CaseWalk):
    """Random triggers by random people, with random options, and ticks on departure audits."""

    process = "departure_audit"
    records = ("escalate",)
    cases = Bundle("cases")

    @initialize(target=cases)
    def audits(self) -> Any:
        """Two audits: the BJ director's and the SZ director's (opening is tested rule by rule above)."""
        return multiple(open_audit(self.app, "wang"), open_audit(self.app, "chen"))

    @rule(case=cases, trigger=st.sampled_from((*HUMAN, "no_objection", "frob")), who=st.sampled_from(PEOPLE),
          pick=st.integers(0, 3), text=st.sampled_from((None, "", "账实不符")),
          reason=st.sampled_from((None, "已核销")))
    def advance(self, case: int, trigger: str, who: str, pick: int, text: str | None, reason: str | None) -> None:
        self._advance(case, trigger, who, pick, text, reason)

    @rule(case=cases, trigger=st.sampled_from(HUMAN), pick=st.integers(0, 3),
          text=st.sampled_from(("账实不符", None)), reason=st.sampled_from(("已核销", None)))
    def advance_by_the_usual_person(self, case: int, trigger: str, pick: int, text: str | None,
                                    reason: str | None) -> None:
        subject = self.app.case_view(case, with_history=False)["subject"]
        who = USUAL.get(trigger, "zhou")
        self._advance(case, trigger, subject if who == "subject" else who, pick, text, reason)

    @rule(case=cases, choice=st.integers(0, 2), pick=st.integers(0, 3))
    def next_stage(self, case: int, choice: int, pick: int) -> None:
        """The next step of R-4.2 by the person it belongs to, so that audits get to their end."""
        view = self.app.case_view(case, with_history=False)
        options = NEXT.get(view["state"], ("close",))
        trigger = options[choice % len(options)]
        who = USUAL.get(trigger, "zhou")
        self._advance(case, trigger, view["subject"] if who == "subject" else who, pick, "账实不符", "已核销")

    def _advance(self, case: int, trigger: str, who: str, pick: int, text: str | None, reason: str | None) -> None:
        before = self.app.case_view(case, with_history=False)
        with self.app.store.transaction(write=False) as tx:
            known = [i.id for i in tx.items(case, "finding")]
        options: dict[str, Any] = {"finding": text, "reason": reason, "assets": text}
        if trigger in ("rectify_finding", "waive_finding"):
            options["finding"] = str(known[pick % len(known)]) if known else str(pick + 1)
        spec = self.definition.transition(trigger, before["state"])
        if spec is not None:  # only the options the trigger takes, so that the rules are what is tested
            options = {k: v for k, v in options.items() if k in spec.options}
        written = self.written()
        try:
            after = self.app.service.advance(case, trigger, who, comment=text, options=options)
        except WorkflowError:
            assert self.written() == written, f"a refused {trigger} wrote to the database"
            assert self.app.case_view(case, with_history=False)["version"] == before["version"]
            return
        assert spec is not None and not spec.system
        assert after.state == (spec.dest or before["state"])
        assert not (trigger in (*BY_AUDITOR, "close", "waive_finding") and who == before["subject"]), "R-4.3"
        if trigger == "close":
            with self.app.store.transaction(write=False) as tx:
                assert all(i.status != "open" for i in tx.items(case, "finding")), "R-4.4"
        if trigger == "waive_finding":
            assert who == "liu" and reason, "R-4.4"

    def check_record(self, case: Case, row: dict[str, Any]) -> None:
        assert row["actor"] is None  # an escalation is the daemon's

    def check_step(self, case: Case, row: dict[str, Any], spec: Transition) -> None:
        assert (row["actor"] is None) == spec.system
        assert row["actor"] != case.subject or row["trigger"] not in (*BY_AUDITOR, "close"), "R-4.3"


def test_random_triggers_by_random_people_never_bypass_a_departure_audit_rule() -> None:
    """Hypothesis drives departure audits at random: no refused step writes, R-4.3 and R-4.4 always hold,
    the history replays to the state and the hash chain verifies."""
    run_state_machine_as_test(AuditCases, settings=settings(
        max_examples=15, stateful_step_count=40, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))


def test_R4_1_a_cadre_already_being_audited_gets_no_second_audit(app: App, tmp_path: Path) -> None:
    """The org department opened li's audit; when `org load` then removes li, no second audit is opened."""
    first = open_audit(app, "li")
    start = ORG_TEXT.index('[[person]]\nid = "li"')
    end = ORG_TEXT.index("[[person]]", start + 1)
    result = app.load_org(org_with(tmp_path, ORG_TEXT[start:end], ""))
    assert result["cadre_changes"] == ["li"] and result["departure_audits_opened"] == []
    assert [c.id for c in app.store.list_cases(CaseFilter(process="departure_audit"))] == [first]
