"""Leave as a whole absence (issue 16): extensions share the leave's fate (R-2.6), an undecided request
lapses and a catching-up tick sends nothing stale (R-2.8), leave recorded after it began (R-2.3, R-2.5,
R-2.7), and the rule cited is the one the case was routed by. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from outpost.app import App
from tests.conftest import local, mails, set_time, state
from tests.machines.test_leave import fired, open_leave
from workflow.errors import BadInput, NotPermitted, RuleViolation


def rows(app: App, event: str) -> list[Any]:
    return [m for m in app.store.mails() if m.event == event]


def off_site(app: App, person: str) -> list[tuple[date, date]]:
    with app.store.transaction(write=False) as tx:
        return sorted((r.start, r.end) for r in tx.off_site(person, 2027))


def history(app: App, case_id: int) -> list[tuple[str, str | None, str, dict[str, Any]]]:
    return [(h["trigger"], h["from"], h["to"], h["details"]) for h in app.case_view(case_id)["history"]]


# -- 1. a leave and its extensions are one absence (R-2.6) ---------------------------------------------------
def test_R2_6_withdrawing_a_leave_withdraws_its_pending_extension(app: App) -> None:
    """chen's recorded 5 days and a pending 3-day extension (8 in total, for the leader): withdrawing the
    leave withdraws the extension too, with a history row naming the leave, and tells chen and liu."""
    base = open_leave(app, "chen", date(2027, 3, 1), date(2027, 3, 5))
    ext = open_leave(app, "chen", date(2027, 3, 6), date(2027, 3, 8), extends=str(base))
    assert (state(app, base), state(app, ext)) == ("approved", "pending")
    app.service.advance(base, "withdraw", "chen")
    assert state(app, ext) == "withdrawn"
    trigger, before, after, details = history(app, ext)[-1]
    assert (trigger, before, after, details["rule"], details["with"]) == ("withdraw", "pending", "withdrawn",
                                                                          "R-2.6", base)
    assert mails(app, "leave.cancelled") == ["chen@sz.example.org", "liu@gov.example.org"]
    with pytest.raises(RuleViolation):
        app.service.advance(ext, "approve", "liu")
    assert off_site(app, "chen") == []


def test_R2_6_rejecting_a_leave_refuses_what_continues_it(app: App) -> None:
    """zhao asks for 1–5 March and then 6–8 March (one absence): wang rejects the first, the second is
    refused with it (history row and mail to zhao)."""
    base = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 5))
    more = open_leave(app, "zhao", date(2027, 3, 6), date(2027, 3, 8))
    app.service.advance(base, "reject", "wang", comment="busy month")
    assert state(app, more) == "rejected"
    assert history(app, more)[-1][3]["with"] == base
    assert mails(app, "leave.rejected") == ["zhao@bj.example.org"] * 2


def test_R2_6_an_approved_extension_moves_the_expected_return_and_one_return_closes_both(app: App) -> None:
    """zhao on leave 1–5 March is granted 6–10 March: the leave's own 销假 reminder (Mon 8 March) is
    dropped and never fires; the return recorded once, on the extension, closes both; 10 days off site."""
    base = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 5))
    app.service.advance(base, "approve", "wang")
    assert fired(app, base, local(2027, 3, 1, 0, 0)) == ["start"]
    set_time(app, local(2027, 3, 2, 9, 0))
    ext = open_leave(app, "zhao", date(2027, 3, 6), date(2027, 3, 10), extends=str(base))
    app.service.advance(ext, "approve", "wang")
    view = app.case_view(base)
    assert (view["state"], view["data"]["extended_by"], view["data"]["expected_end"]) == (
        "on_leave", ext, "2027-03-10")
    assert [d["status"] for d in view["deadlines"] if d["kind"] == "return_overdue"] == ["cancelled"]
    assert fired(app, ext, local(2027, 3, 6, 0, 0)) == ["start"]
    assert fired(app, base, local(2027, 3, 9, 0, 5)) == []
    assert rows(app, "leave.return_overdue") == []
    set_time(app, local(2027, 3, 11, 9, 0))
    app.service.advance(ext, "return", "zhao")
    assert (state(app, base), state(app, ext)) == ("returned", "returned")
    assert history(app, base)[-1][3]["with"] == ext
    assert off_site(app, "zhao") == [(date(2027, 3, 1), date(2027, 3, 5)), (date(2027, 3, 6), date(2027, 3, 10))]


def test_R2_6_back_before_the_extension_begins_withdraws_it(app: App) -> None:
    """The return recorded on the leave itself, before the granted extension begins: the extension is
    withdrawn with it and its days are given back."""
    base = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 5))
    app.service.advance(base, "approve", "wang")
    ext = open_leave(app, "zhao", date(2027, 3, 6), date(2027, 3, 10), extends=str(base))
    app.service.advance(ext, "approve", "wang")
    fired(app, base, local(2027, 3, 1, 0, 0))
    set_time(app, local(2027, 3, 5, 9, 0))
    app.service.advance(base, "return", "zhao", options={"date": "2027-03-05"})
    assert (state(app, base), state(app, ext)) == ("returned", "withdrawn")
    assert off_site(app, "zhao") == [(date(2027, 3, 1), date(2027, 3, 4))]


# -- 2. escalation goes above the approver, never to them (R-2.8) ----------------------------------------------
def test_R2_8_escalating_a_request_the_supervising_leader_decides_tells_the_clerks(app: App) -> None:
    """wang's 10 days are decided by liu: when the 2nd working day after the request has ended, the
    escalation goes to the General Office clerk sun, not to liu again, and invites no action (sun cannot
    decide it)."""
    case = open_leave(app, "wang", date(2027, 3, 1), date(2027, 3, 10))
    assert "escalate" in fired(app, case, local(2027, 1, 7, 9, 0))
    [row] = rows(app, "leave.escalated")
    assert (row.to, row.params["actions"]) == (["sun@gov.example.org"], [])
    assert history(app, case)[-1][3]["to"] == "clerk"


def test_R2_8_with_the_director_away_the_escalation_passes_over_the_stand_in(app: App) -> None:
    """zhao's request passes to liu while wang is away (R-2.4): its escalation and its undecided-at-start
    flag go to the clerk, never to liu, who decides it."""
    case = open_leave(app, "zhao", date(2027, 1, 8), date(2027, 1, 8))
    open_leave(app, "wang", date(2027, 1, 5), date(2027, 1, 9))  # wang's recorded leave from tomorrow
    fired(app, case, local(2027, 1, 8, 0, 0))
    assert mails(app, "leave.escalated") == ["sun@gov.example.org"]
    assert mails(app, "leave.undecided_at_start") == ["sun@gov.example.org", "zhao@bj.example.org"]


# -- 3. catch-up sends nothing stale; an undecided request lapses (R-2.8) ---------------------------------------
def test_R2_8_a_tick_after_the_leave_is_over_lapses_it_with_one_mail(make_app: Any, db_url: str) -> None:
    """A leave of 15–16 March asked on 8 March, no tick until 31 March: no reminder, escalation or "starts
    today", only the lapse, mailed once to zhao and the clerk; the request is `lapsed` for good."""
    app = make_app(db_url, at=local(2027, 3, 8, 10, 0))
    case = open_leave(app, "zhao", date(2027, 3, 15), date(2027, 3, 16))
    before = {m.id for m in app.store.mails()}
    kinds = fired(app, case, local(2027, 3, 31, 9, 0))
    assert kinds == ["remind_approver", "escalate", "undecided_at_start", "lapse"]
    new = [m for m in app.store.mails() if m.id not in before and m.case_id == case]
    assert sorted((m.event, a) for m in new for a in m.to) == [
        ("leave.lapsed", "sun@gov.example.org"), ("leave.lapsed", "zhao@bj.example.org")]
    assert new[0].params["rule"] == "R-2.3"
    assert state(app, case) == "lapsed"
    assert [h[0] for h in history(app, case)] == ["open", "lapse"]
    with pytest.raises(RuleViolation):
        app.service.advance(case, "approve", "wang")


def test_R2_8_a_flag_sent_after_the_first_day_says_when_the_leave_started(make_app: Any, db_url: str) -> None:
    """Ticking again only on the second day of an undecided leave: the flag says it started the day before,
    not "starts today"."""
    app = make_app(db_url, at=local(2027, 3, 8, 10, 0))
    case = open_leave(app, "zhao", date(2027, 3, 15), date(2027, 3, 17))
    fired(app, case, local(2027, 3, 16, 9, 0))
    [flag, *_] = rows(app, "leave.undecided_at_start")
    assert (flag.params["starts_today"], flag.params["started"]) == (False, "2027-03-15")
    from notifications.render import render

    assert "2027-03-15" in render(flag, None, lang="zh").title


# -- 9. leave after the fact (R-2.3, R-2.5, R-2.7) ------------------------------------------------------------------
def test_R2_3_a_leave_that_has_begun_is_recorded_by_the_clerk_and_decided_as_a_request(app: App) -> None:
    """zhao fell ill on 2 January: sun records 2–5 January (病假) on the 4th; its days count off site at
    once (R-2.5), wang is asked as for a request, and approves it."""
    case = app.service.open("leave", "sun", {"start": "2027-01-02", "end": "2027-01-05", "reason": "病假",
                                              "subject": "zhao"})
    view = app.case_view(case.id)
    assert (view["state"], view["subject"], view["data"]["after_the_fact"], view["data"]["recorded_by"]) == (
        "pending", "zhao", True, "sun")
    assert off_site(app, "zhao") == [(date(2027, 1, 2), date(2027, 1, 5))]
    assert mails(app, "leave.requested") == ["wang@bj.example.org"]
    assert {d["kind"] for d in view["deadlines"]} == {"remind_approver", "escalate"}
    app.service.advance(case.id, "approve", "wang")
    assert off_site(app, "zhao") == [(date(2027, 1, 2), date(2027, 1, 5))]


def test_R2_3_only_the_clerk_or_the_persons_director_records_a_leave_that_has_begun(app: App) -> None:
    """huang (staff) and chen (SZ's director) may not record zhao's leave; wang (BJ's director) may; nobody
    records a leave that has not begun for someone else; zhao's own request for it is refused, pointing
    at the way to record it."""
    params = {"start": "2027-01-03", "end": "2027-01-04", "subject": "zhao"}
    for outsider in ("huang", "chen"):
        with pytest.raises(NotPermitted, match=r"R-2\.3"):
            app.service.open("leave", outsider, params)
    with pytest.raises(RuleViolation, match="--subject zhao"):
        app.service.open("leave", "zhao", {"start": "2027-01-03", "end": "2027-01-04"})
    with pytest.raises(RuleViolation, match="after today"):
        app.service.open("leave", "sun", {**params, "start": "2027-01-05", "end": "2027-01-06"})
    assert app.service.open("leave", "wang", params).subject == "zhao"


def test_rejecting_a_leave_recorded_after_the_fact_needs_a_reason(app: App) -> None:
    """A leave already taken is rejected only with a reason (bad input without, nothing written); its days
    stay off site, since they were."""
    case = app.service.open("leave", "sun", {"start": "2027-01-02", "end": "2027-01-03", "subject": "zhao"}).id
    with pytest.raises(BadInput, match="--comment"):
        app.service.advance(case, "reject", "wang")
    assert state(app, case) == "pending"
    app.service.advance(case, "reject", "wang", comment="未按规定事先请假")
    assert state(app, case) == "rejected"
    assert off_site(app, "zhao") == [(date(2027, 1, 2), date(2027, 1, 3))]


def test_R2_7_a_late_return_is_flagged_and_its_late_days_count_off_site(app: App) -> None:
    """zhao's leave ends Friday 5 March; the return is recorded on 10 March for the 9th: flagged, 3 late
    days (6–8 March) counted off site, 8 in all."""
    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 5))
    app.service.advance(case, "approve", "wang")
    fired(app, case, local(2027, 3, 1, 0, 0))
    set_time(app, local(2027, 3, 10, 9, 0))
    app.service.advance(case, "return", "zhao", options={"date": "2027-03-09"})
    data = app.case_view(case)["data"]
    assert (data["late_return_days"], data["return_recorded_late"]) == (3, True)
    assert off_site(app, "zhao") == [(date(2027, 3, 1), date(2027, 3, 8))]


def test_R2_3_case_open_leave_with_subject_on_the_command_line(frozen_cli: Any) -> None:
    """`case open leave --as sun --subject zhao … --reason 病假` records the leave that began on 8 May."""
    code, out, err = frozen_cli("case", "open", "leave", "--as", "sun", "--subject", "zhao", "--start", "2027-05-08",
                                "--end", "2027-05-11", "--reason", "病假", "--json")
    assert code == 0, err
    assert '"after_the_fact": true' in out


# -- 11. the rule the case was routed by -------------------------------------------------------------------------
def test_R2_3_staff_leave_mail_and_refusals_cite_R2_3_not_R2_1(app: App) -> None:
    """zhao's request is routed by R-2.3: the request and the approval mail cite it, and so does the refusal
    to withdraw once the leave has started."""
    case = open_leave(app, "zhao", date(2027, 1, 6), date(2027, 1, 7))
    app.service.advance(case, "approve", "wang")
    assert [m.params["rule"] for m in rows(app, "leave.requested") + rows(app, "leave.approved")] == ["R-2.3"] * 2
    set_time(app, local(2027, 1, 6, 8, 0))
    with pytest.raises(RuleViolation) as refused:
        app.service.advance(case, "withdraw", "zhao")
    assert refused.value.rule_id == "R-2.3"


def test_R2_4_and_R2_6_routes_are_cited_in_their_mail(app: App) -> None:
    """A request passed up while the director is away cites R-2.4; an extension routed on the total
    cites R-2.6, in the request to the leader and in the rejection."""
    open_leave(app, "wang", date(2027, 1, 4), date(2027, 1, 6))  # wang away today (recorded)
    passed_up = open_leave(app, "zhao", date(2027, 1, 20), date(2027, 1, 21))
    [asked] = [m for m in rows(app, "leave.requested") if m.case_id == passed_up]
    assert asked.params["rule"] == "R-2.4"
    base = open_leave(app, "chen", date(2027, 3, 1), date(2027, 3, 5))
    ext = open_leave(app, "chen", date(2027, 3, 6), date(2027, 3, 8), extends=str(base))
    app.service.advance(ext, "reject", "liu")
    assert {m.params["rule"] for m in app.store.mails() if m.case_id == ext} == {"R-2.6"}
