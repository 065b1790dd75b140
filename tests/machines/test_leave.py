"""The leave process, rule by rule (REGULATION.md R-2), through the real store on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from outpost.app import App
from tests.conftest import local, mails, set_time, state
from workflow.errors import NotPermitted, RuleViolation
from workflow.ports import CaseFilter


def open_leave(app: App, who: str, start: date, end: date, **extra: object) -> int:
    params = {"start": start.isoformat(), "end": end.isoformat(), **extra}
    return app.service.open("leave", who, params).id


def fired(app: App, case_id: int, at: datetime) -> list[str]:
    """Tick at `at`; the kinds of the deadlines of this case that fired (other processes tick too)."""
    set_time(app, at)
    return [f["kind"] for f in app.ticker.tick(at).fired if f["case"] == case_id]


def test_R2_1_director_leave_of_exactly_7_days_needs_supervising_leader(app: App) -> None:
    """A director away 7 days (1–7 March) waits for the supervising leader, who alone may approve."""
    case = open_leave(app, "wang", date(2027, 3, 1), date(2027, 3, 7))
    view = app.case_view(case)
    assert view["state"] == "pending"
    assert view["data"]["approver_role"] == "supervising_leader"
    assert view["data"]["route_rule"] == "R-2.1"
    assert mails(app, "leave.requested") == ["liu@gov.example.org"]
    with pytest.raises(NotPermitted) as refused:
        app.service.advance(case, "approve", "sun")
    assert refused.value.rule_id == "R-2.1"
    app.service.advance(case, "approve", "liu")
    assert state(app, case) == "approved"


def test_R2_2_director_leave_of_6_days_is_recorded_without_approval(app: App) -> None:
    """Six days (1–6 March) need no approval: the case opens approved, counts off site, informs the clerk."""
    case = open_leave(app, "wang", date(2027, 3, 1), date(2027, 3, 6))
    view = app.case_view(case)
    assert view["state"] == "approved"
    assert view["data"]["route_rule"] == "R-2.2"
    assert mails(app, "leave.recorded") == ["sun@gov.example.org"]
    assert [d["kind"] for d in view["deadlines"]] == ["start"]
    with app.store.transaction(write=False) as tx:
        assert sum((r.end - r.start).days + 1 for r in tx.off_site("wang", 2027)) == 6


def test_R2_3_staff_ask_their_own_director_whatever_the_length(app: App) -> None:
    """Staff and deputies ask their office's director, even for one day; no one else may decide."""
    one_day = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 1))
    deputy = open_leave(app, "li", date(2027, 3, 1), date(2027, 3, 20))
    for case in (one_day, deputy):
        assert app.case_view(case)["data"]["route_rule"] == "R-2.3"
        for outsider in ("chen", "liu", "sun"):
            with pytest.raises(NotPermitted) as refused:
                app.service.advance(case, "approve", outsider)
            assert refused.value.rule_id == "R-2.3"
    app.service.advance(one_day, "approve", "wang")
    app.service.advance(deputy, "reject", "wang", comment="busy month")
    assert (state(app, one_day), state(app, deputy)) == ("approved", "rejected")


def test_R2_4_nobody_approves_their_own_leave(app: App) -> None:
    """The director cannot approve or reject their own long leave; the refusal names R-2.4."""
    case = open_leave(app, "wang", date(2027, 3, 1), date(2027, 3, 10))
    for trigger in ("approve", "reject"):
        with pytest.raises(NotPermitted) as refused:
            app.service.advance(case, trigger, "wang")
        assert refused.value.rule_id == "R-2.4"
    assert app.case_view(case)["version"] == 1


def test_R2_4_absent_director_passes_the_request_to_the_supervising_leader(app: App) -> None:
    """While the director is on recorded leave, a staff request goes straight to the next level."""
    open_leave(app, "wang", date(2027, 1, 4), date(2027, 1, 6))  # recorded, covers today
    case = open_leave(app, "zhao", date(2027, 1, 20), date(2027, 1, 21))
    data = app.case_view(case)["data"]
    assert (data["approver_role"], data["route_rule"]) == ("supervising_leader", "R-2.4")
    with pytest.raises(NotPermitted):
        app.service.advance(case, "approve", "wang")
    app.service.advance(case, "approve", "liu")
    assert state(app, case) == "approved"


def test_R2_4_vacant_director_post_goes_to_the_next_level(make_app: Callable[..., App], db_url: str,
                                                         tmp_path: Path) -> None:
    """With no director in the office, staff leave is decided by the supervising leader."""
    org = tmp_path / "org.toml"
    org.write_text(
        '[[office]]\ncode = "BJ"\nname = "北京联络处"\n'
        '[[person]]\nid = "zhao"\nname = "赵"\nemail = "zhao@x.org"\noffice = "BJ"\nroles = ["staff"]\n'
        '[[person]]\nid = "liu"\nname = "刘"\nemail = "liu@x.org"\nroles = ["supervising_leader"]\n',
        encoding="utf-8")
    app = make_app(db_url, org=org)
    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    assert app.case_view(case)["data"]["route_rule"] == "R-2.4"
    app.service.advance(case, "approve", "liu")
    assert state(app, case) == "approved"


def test_R2_4_no_one_left_to_approve_is_refused(make_app: Callable[..., App], db_url: str,
                                               tmp_path: Path) -> None:
    """A request nobody but the requester could decide is refused at once, naming R-2.4."""
    org = tmp_path / "org.toml"
    org.write_text('[[office]]\ncode = "BJ"\nname = "北京联络处"\n'
                   '[[person]]\nid = "zhao"\nname = "赵"\noffice = "BJ"\nroles = ["staff"]\n', encoding="utf-8")
    app = make_app(db_url, org=org)
    with pytest.raises(RuleViolation) as refused:
        open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    assert refused.value.rule_id == "R-2.4"


def test_R2_5_121_off_site_days_pass_in_2027_and_the_122nd_is_refused_without_override(app: App) -> None:
    """2027 has 365 days: ⌊365/3⌋ = 121 off site pass; one more is refused unless overridden (recorded)."""
    start = date(2027, 2, 1)
    first = open_leave(app, "zhao", start, start + timedelta(days=120))  # 121 days
    app.service.advance(first, "approve", "wang")
    extra = open_leave(app, "zhao", date(2027, 9, 1), date(2027, 9, 1))
    with pytest.raises(RuleViolation) as refused:
        app.service.advance(extra, "approve", "wang")
    assert refused.value.rule_id == "R-2.5"
    assert "122" in str(refused.value) and "121" in str(refused.value)
    assert state(app, extra) == "pending"
    app.service.advance(extra, "approve", "wang", override="national trade fair, approved by the mayor")
    last = app.case_view(extra)["history"][-1]
    assert last["override"] == "national trade fair, approved by the mayor"
    assert last["details"]["overridden"][0]["rule"] == "R-2.5"


def test_R2_5_an_override_that_passes_nothing_is_refused_as_bad_input(app: App) -> None:
    """--override records a reason for passing a rule; within the limit there is none to pass, and a
    trigger (or an opening) without an overridable rule has nothing to pass at all: bad input, nothing
    written."""
    from tests.conftest import dump
    from workflow.errors import BadInput

    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    before = dump(app.settings.database_url)
    with pytest.raises(BadInput, match=r"R-2\.5 holds without it"):
        app.service.advance(case, "approve", "wang", override="just in case")
    with pytest.raises(BadInput, match="it has no rule to pass"):
        app.service.advance(case, "withdraw", "zhao", override="because")
    with pytest.raises(BadInput, match="opening a matter case passes no rule here"):
        app.service.open("matter", "wang", {"category": "other", "kind": "report", "title": "x"}, override="nothing")
    with pytest.raises(BadInput, match="give the reason in words"):
        app.service.open("matter", "wang", {"category": "other", "kind": "report", "title": "x"}, override="  ")
    assert dump(app.settings.database_url) == before
    app.service.advance(case, "approve", "wang")
    assert app.case_view(case)["history"][-1]["override"] is None


def test_R2_5_122_off_site_days_pass_in_leap_year_2028(app: App) -> None:
    """2028 has 366 days: ⌊366/3⌋ = 122 off-site days are within the limit; 123 are not."""
    start = date(2028, 2, 1)
    case = open_leave(app, "zhao", start, start + timedelta(days=121))  # 122 days
    app.service.advance(case, "approve", "wang")
    assert state(app, case) == "approved"
    more = open_leave(app, "zhao", date(2028, 10, 1), date(2028, 10, 1))
    with pytest.raises(RuleViolation):
        app.service.advance(more, "approve", "wang")


def test_R2_5_a_directors_short_leave_over_the_limit_goes_to_the_supervising_leader(app: App) -> None:
    """A director's short leave is recorded without approval (R-2.2) — unless it would pass the presence
    limit: nobody passes their own limit (R-2.4), so it goes to the supervising leader, who may approve it
    only with --override REASON (R-2.5); the requester cannot give the override."""
    from workflow.errors import BadInput

    long = open_leave(app, "wang", date(2027, 2, 1), date(2027, 2, 1) + timedelta(days=118))  # 119 days
    app.service.advance(long, "approve", "liu")
    with pytest.raises(BadInput, match="--override"):
        app.service.open("leave", "wang", {"start": "2027-09-01", "end": "2027-09-03"}, override="flood relief")
    case = open_leave(app, "wang", date(2027, 9, 1), date(2027, 9, 3))  # 3 more → 122
    view = app.case_view(case)
    assert view["state"] == "pending"
    assert (view["data"]["approver_role"], view["data"]["route_rule"]) == ("supervising_leader", "R-2.5")
    with pytest.raises(RuleViolation) as refused:
        app.service.advance(case, "approve", "liu")
    assert refused.value.rule_id == "R-2.5"
    with pytest.raises(NotPermitted):
        app.service.advance(case, "approve", "wang", override="my own reason")
    app.service.advance(case, "approve", "liu", override="flood relief")
    assert app.case_view(case)["history"][-1]["override"] == "flood relief"


def test_R2_5_leave_across_new_year_counts_days_in_each_year(app: App) -> None:
    """Off-site days are counted per calendar year: a leave over New Year splits between the two."""
    case = open_leave(app, "zhao", date(2027, 12, 30), date(2028, 1, 2))
    app.service.advance(case, "approve", "wang")
    with app.store.transaction(write=False) as tx:
        rows = tx.off_site("zhao", 2028)
    assert len(rows) == 1 and rows[0].start == date(2027, 12, 30)


def test_R2_6_extension_is_routed_on_the_total_length(app: App) -> None:
    """A director's recorded 5-day leave extended by 3 days (8 in total) needs the supervising leader."""
    base = open_leave(app, "wang", date(2027, 3, 1), date(2027, 3, 5))
    assert state(app, base) == "approved"
    ext = open_leave(app, "wang", date(2027, 3, 6), date(2027, 3, 8), extends=str(base))
    data = app.case_view(ext)["data"]
    assert (data["total_days"], data["approver_role"], data["route_rule"]) == (8, "supervising_leader", "R-2.6")
    small = open_leave(app, "chen", date(2027, 3, 1), date(2027, 3, 2))
    small_ext = open_leave(app, "chen", date(2027, 3, 3), date(2027, 3, 4), extends=str(small))
    assert state(app, small_ext) == "approved"  # 4 days in total: still recorded


def test_R2_6_extension_must_follow_the_leave_it_extends(app: App) -> None:
    """An extension starts the day after the extended leave ends, and only one's own leave is extended."""
    base = open_leave(app, "wang", date(2027, 3, 1), date(2027, 3, 5))
    with pytest.raises(RuleViolation):
        open_leave(app, "zhao", date(2027, 3, 6), date(2027, 3, 8), extends=str(base))
    from workflow.errors import BadInput

    with pytest.raises(BadInput):
        open_leave(app, "wang", date(2027, 3, 9), date(2027, 3, 10), extends=str(base))


def test_R2_7_leave_starts_on_its_first_day_and_the_return_is_recorded(app: App) -> None:
    """The daemon starts the leave at 00:00 of the first day; the requester records the return early."""
    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 10))
    app.service.advance(case, "approve", "wang")
    assert fired(app, case, local(2027, 3, 1, 0, 0)) == ["start"]
    assert state(app, case) == "on_leave"
    set_time(app, local(2027, 3, 6, 9, 0))
    app.service.advance(case, "return", "zhao", options={"date": "2027-03-06"})
    view = app.case_view(case)
    assert view["state"] == "returned" and view["data"]["returned_on"] == "2027-03-06"
    with app.store.transaction(write=False) as tx:
        assert [(r.start, r.end) for r in tx.off_site("zhao", 2027)] == [(date(2027, 3, 1), date(2027, 3, 5))]
    assert not [d for d in view["deadlines"] if d["status"] == "pending"]


def test_R2_7_director_may_record_a_staff_return_but_others_may_not(app: App) -> None:
    """The return is recorded by the requester or their director, nobody else."""
    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    app.service.advance(case, "approve", "wang")
    app.ticker.tick(local(2027, 3, 1, 0, 0))
    set_time(app, local(2027, 3, 3, 9, 0))
    with pytest.raises(NotPermitted):
        app.service.advance(case, "return", "chen")
    app.service.advance(case, "return", "wang")
    assert state(app, case) == "returned"


def test_R2_7_unrecorded_return_reminds_requester_and_approver_once(app: App) -> None:
    """No return recorded by the end of the first working day after the leave: both are reminded, once."""
    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 5))  # ends Friday
    app.service.advance(case, "approve", "wang")
    app.ticker.tick(local(2027, 3, 1, 0, 0))
    due = next(d for d in app.case_view(case)["deadlines"] if d["kind"] == "return_overdue")
    assert due["due_at"].startswith("2027-03-08T23:59:59")  # Monday, 1 working day after the end
    assert fired(app, case, local(2027, 3, 8, 23, 0)) == []
    app.ticker.tick(local(2027, 3, 9, 0, 0))
    app.ticker.tick(local(2027, 3, 9, 0, 0))
    assert mails(app, "leave.return_overdue") == ["wang@bj.example.org", "zhao@bj.example.org"]


def test_R2_8_approver_reminded_after_1_and_escalated_after_2_working_days_across_national_day(
        make_app: Callable[..., App], db_url: str) -> None:
    """Asked Wed 30 Sep 2026 10:00: National Day (1–7 Oct) does not count, so the approver has all of
    Thu 8 Oct (reminded when it ends) and Fri 9 Oct (escalated when it ends); a working-day deadline ends
    with its working day, not at the minute of the request (issue 17)."""
    app = make_app(db_url, at=local(2026, 9, 30, 10, 0))
    case = open_leave(app, "zhao", date(2026, 10, 19), date(2026, 10, 20))
    due = {d["kind"]: d["due_at"] for d in app.case_view(case)["deadlines"]}
    assert due["remind_approver"] == "2026-10-08T23:59:59.999999+08:00"
    assert due["escalate"] == "2026-10-09T23:59:59.999999+08:00"
    assert fired(app, case, local(2026, 10, 8, 23, 59)) == []
    assert fired(app, case, local(2026, 10, 9, 0, 0)) == ["remind_approver"]
    assert mails(app, "leave.reminder") == ["wang@bj.example.org"]
    assert fired(app, case, local(2026, 10, 10, 0, 0)) == ["escalate"]
    assert mails(app, "leave.escalated") == ["liu@gov.example.org"]
    view = app.case_view(case)
    assert view["data"]["escalated"] is True
    assert view["history"][-1]["trigger"] == "escalate"
    set_time(app, local(2026, 10, 10, 11, 0))
    app.service.advance(case, "approve", "liu")  # the next level may now decide
    assert state(app, case) == "approved"


def test_R2_8_make_up_saturday_counts_as_a_working_day(make_app: Callable[..., App], db_url: str) -> None:
    """Asked Fri 9 Oct 2026 10:00: the approver's first working day is the make-up Saturday 10 Oct; the
    reminder is due when it ends, the escalation when Monday 12 Oct ends (issue 17: at the end of the
    working day, not at the minute of the request)."""
    app = make_app(db_url, at=local(2026, 10, 9, 10, 0))
    case = open_leave(app, "zhao", date(2026, 10, 26), date(2026, 10, 27))
    due = {d["kind"]: d["due_at"] for d in app.case_view(case)["deadlines"]}
    assert due["remind_approver"] == "2026-10-10T23:59:59.999999+08:00"
    assert due["escalate"] == "2026-10-12T23:59:59.999999+08:00"


def test_R2_8_undecided_at_start_is_flagged_and_the_superior_told(app: App) -> None:
    """The start date arrives with no decision: the case is flagged, the requester and the approver's
    superior are notified."""
    case = open_leave(app, "zhao", date(2027, 1, 6), date(2027, 1, 7))
    assert "undecided_at_start" in fired(app, case, local(2027, 1, 6, 0, 0))
    view = app.case_view(case)
    assert view["data"]["flagged"] is True
    assert mails(app, "leave.undecided_at_start") == ["liu@gov.example.org", "zhao@bj.example.org"]


def test_R2_8_a_decision_cancels_the_pending_reminders(app: App) -> None:
    """Once approved, the reminder and escalation of the pending state are cancelled and never fire."""
    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    app.service.advance(case, "approve", "wang")
    statuses = {d["kind"]: d["status"] for d in app.case_view(case)["deadlines"]}
    assert statuses == {"remind_approver": "cancelled", "escalate": "cancelled",
                        "undecided_at_start": "cancelled", "lapse": "cancelled", "start": "pending"}
    assert fired(app, case, local(2027, 2, 1, 0, 0)) == []


def test_withdraw_only_before_the_leave_starts(app: App) -> None:
    """The requester may withdraw before the first day (the off-site days are given back), not after."""
    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    app.service.advance(case, "approve", "wang")
    app.service.advance(case, "withdraw", "zhao")
    with app.store.transaction(write=False) as tx:
        assert tx.off_site("zhao", 2027) == []
    late = open_leave(app, "zhao", date(2027, 1, 5), date(2027, 1, 6))
    app.service.advance(late, "approve", "wang")
    set_time(app, local(2027, 1, 5, 8, 0))
    with pytest.raises(RuleViolation):
        app.service.advance(late, "withdraw", "zhao")


def test_leave_is_asked_before_it_starts(app: App) -> None:
    """A request for days already past is refused, naming the routing rule."""
    with pytest.raises(RuleViolation) as refused:
        open_leave(app, "zhao", date(2027, 1, 1), date(2027, 1, 2))
    assert refused.value.rule_id == "R-2.3"


def test_the_same_tick_twice_queues_no_second_mail(app: App) -> None:
    """Ticking twice at the same instant fires nothing the second time and adds no outbox row."""
    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    first = fired(app, case, local(2027, 1, 6, 9, 0))  # the reminder is due when Tue 5 Jan ends (issue 17)
    count = app.store.count("mail")
    second = app.ticker.tick(local(2027, 1, 6, 9, 0))
    assert first == ["remind_approver"]
    assert second.fired == [] and app.store.count("mail") == count


def test_a_leave_is_at_most_366_days_long(app: App) -> None:
    """366 days (a leap year) is the longest leave; 367 is bad input, naming the length."""
    from workflow.errors import BadInput

    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2028-02-29"})  # 366 days
    assert case.data["days"] == 366
    with pytest.raises(BadInput, match="367 days"):
        app.service.open("leave", "huang", {"start": "2027-03-01", "end": "2028-03-01"})


def test_R2_5_each_day_is_asked_for_once(app: App) -> None:
    """A leave over days already off site or already asked for is refused (R-2.5 counts each day once); the
    adjoining days are fine."""
    first = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 5))
    with pytest.raises(RuleViolation, match=f"R-2.5.*case {first}"):  # still pending
        open_leave(app, "zhao", date(2027, 3, 5), date(2027, 3, 8))
    app.service.advance(first, "approve", "wang")
    with pytest.raises(RuleViolation, match="already off site 2027-03-03 – 2027-03-04"):
        open_leave(app, "zhao", date(2027, 3, 3), date(2027, 3, 4))
    open_leave(app, "zhao", date(2027, 3, 8), date(2027, 3, 9))  # not touching: fine
    recorded = open_leave(app, "chen", date(2027, 3, 1), date(2027, 3, 5))  # a director's recorded leave
    with pytest.raises(RuleViolation, match=r"R-2\.5"):
        open_leave(app, "chen", date(2027, 3, 1), date(2027, 3, 5))
    assert state(app, recorded) == "approved"


def test_R2_1_an_absence_asked_for_in_pieces_is_routed_on_the_whole(app: App) -> None:
    """A director's 6 days, then the next 6 days asked for separately, are one absence of 12 days: the
    second request goes to the supervising leader (R-2.1, routed on the total as R-2.6)."""
    first = open_leave(app, "chen", date(2027, 3, 1), date(2027, 3, 6))
    assert state(app, first) == "approved"  # 6 days: recorded
    second = open_leave(app, "chen", date(2027, 3, 7), date(2027, 3, 12))
    data = app.case_view(second)["data"]
    assert state(app, second) == "pending"
    assert (data["approver_role"], data["route_rule"], data["total_days"], data["continues"]) == \
        ("supervising_leader", "R-2.6", 12, first)
    with pytest.raises(NotPermitted):
        app.service.advance(second, "approve", "chen")
    app.service.advance(second, "approve", "liu")


def test_R2_4_a_director_who_goes_away_after_the_request_passes_it_up(app: App) -> None:
    """zhao asks wang on Monday; from Tuesday wang is away: the supervising leader decides, wang does not
    (R-2.4 applies on the day of the decision, not only on the day of the request)."""
    from tests.conftest import set_time

    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    assert app.case_view(case)["data"]["approver_role"] == "director"
    open_leave(app, "wang", date(2027, 1, 5), date(2027, 1, 8))  # wang's recorded leave from tomorrow
    set_time(app, local(2027, 1, 5, 10, 0))
    with pytest.raises(NotPermitted, match="now: liu"):
        app.service.advance(case, "approve", "wang")
    app.service.advance(case, "approve", "liu")
    assert state(app, case) == "approved"


def test_R2_1_leave_is_asked_before_its_first_day(app: App) -> None:
    """A leave starts at 00:00 of its first day: asked for that day, it is asked too late (R-2.3, R-2.1);
    a director's short leave is recorded, not asked for, so it may be recorded that day (R-2.2)."""
    with pytest.raises(RuleViolation, match=r"R-2\.3.*before it starts"):
        open_leave(app, "zhao", date(2027, 1, 4), date(2027, 1, 5))  # today
    with pytest.raises(RuleViolation, match=r"R-2\.1.*before it starts"):
        open_leave(app, "wang", date(2027, 1, 4), date(2027, 1, 12))  # 9 days from today
    assert state(app, open_leave(app, "chen", date(2027, 1, 4), date(2027, 1, 5))) == "approved"
    open_leave(app, "zhao", date(2027, 1, 5), date(2027, 1, 5))  # tomorrow: in time


def test_triggers_without_as_names_who_may_act_now(app: App, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`case triggers CASE` without --as says who may act and with which triggers (permission only; with
    --as the rules are asked too): the approver and the requester while pending; after R-2.8's escalation
    the supervising leader too; nobody once the leave is rejected. Daemon triggers are never listed."""
    from outpost.cli import run
    from tests.conftest import point_cli_at

    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))

    def may(case_id: int) -> dict[str, list[str]]:
        return {m["person"]: m["triggers"] for m in app.service.may_act(case_id)}

    assert may(case) == {"wang": ["approve", "reject"], "zhao": ["withdraw"]}
    fired(app, case, local(2027, 1, 7, 10, 0))  # 2 working days (5 and 6 Jan) without a decision: escalated
    assert may(case) == {"liu": ["approve", "reject"], "wang": ["approve", "reject"], "zhao": ["withdraw"]}
    point_cli_at(monkeypatch, app.settings.database_url, app.settings.outbox_dir.parent)
    capsys.readouterr()
    assert run(["case", "triggers", str(case)]) == 0
    assert capsys.readouterr().out.splitlines() == ["liu 刘主管: approve, reject", "wang 王建国: approve, reject",
                                                    "zhao 赵丽: withdraw"]
    app.service.advance(case, "reject", "liu")
    assert may(case) == {}
    assert run(["case", "triggers", str(case), "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"


def test_who_may_act_includes_people_of_other_offices_the_rules_let_in(make_app: Any, db_url: str,
                                                                      tmp_path: Path) -> None:
    """An auditor of SZ may start BJ's year-end audit (R-6.2 asks only that they do not work in BJ): the
    list without --as names them, and it agrees with `triggers --as` for every person."""
    from tests.machines.test_permission_matrix import dual_roles_org  # chen: SZ director and auditor

    org = tmp_path / "dual.toml"
    org.write_text(dual_roles_org(), encoding="utf-8")
    app = make_app(db_url, org=org)
    fired(app, -1, local(2027, 12, 1, 9, 0))  # the year-end audits open on 1 December
    # the 2026 audit opens too (due 31 March 2027, after the tracking date): take 2027's
    [audit] = [c.id for c in app.store.list_cases(CaseFilter(process="annual_audit", office="BJ"))
               if c.period == "2027-Y"]
    may = {m["person"]: m["triggers"] for m in app.service.may_act(audit)}
    assert may.get("chen") == ["start"] and "zhou" in may
    with app.store.transaction(write=False) as tx:
        people = [p.id for p in tx.org().people.values() if p.active]
    for person in people:
        allowed = {i.trigger for i in app.service.triggers(audit, person) if i.allowed}
        assert allowed <= set(may.get(person, [])), person
