"""Dated delegation (issue 15.4): "李明 acting for 王建国, 1–14 March", on SQLite and PostgreSQL.

li (李明, BJ deputy director) acts for wang (王建国, BJ director) 1–14 March 2027: li may then fire what
wang's own roles permit, the history says "li acting for wang", li gets wang's mail, and the self-approval
(R-2.4) and audited-person (R-4.3) blocks hold through the delegation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest

from notifications.delivery import ActionFilter
from notifications.render import render
from outpost.app import App
from tests.conftest import dump, local, set_time
from workflow.errors import BadInput, NotFound, NotPermitted, RuleViolation
from workflow.model import Mail

MARCH_1 = local(2027, 3, 1, 0, 0)


def open_leave(app: App, who: str, start: date, end: date) -> int:
    return app.service.open("leave", who, {"start": start.isoformat(), "end": end.isoformat()}).id


def li_for_wang(app: App, by: str = "wang", start: str = "2027-03-01", end: str = "2027-03-14") -> int:
    return int(app.delegations.add(by, "wang", "li", start, end, reason="出差")["id"])


def may(app: App, case_id: int, person: str, trigger: str) -> Any:
    return {i.trigger: i for i in app.service.triggers(case_id, person)}[trigger]


def mail_to(app: App, event: str, person: str) -> list[Mail]:
    return [m for m in app.store.mails() if m.event == event and m.recipients[0]["person"] == person]  # type: ignore[attr-defined]


def history(app: App, case_id: int) -> list[dict[str, Any]]:
    return list(app.case_view(case_id)["history"])


@pytest.mark.parametrize(("at", "in_force"), [
    (local(2027, 2, 28, 23, 59), False),  # the day before the first day (15:59 UTC on 28 February)
    (MARCH_1, True),                      # the first day from 00:00 Beijing time (still 28 February in UTC)
    (local(2027, 3, 14, 23, 59), True),   # the last day, to its end
    (local(2027, 3, 15, 0, 0), False),    # the day after the last
])
def test_a_delegation_is_in_force_on_its_days_inclusive_in_beijing_time(app: App, at: datetime,
                                                                        in_force: bool) -> None:
    """li may decide zhao's leave for wang exactly from 1 March 00:00 to 14 March 23:59 local time (R-0.4)."""
    case = open_leave(app, "zhao", date(2027, 4, 1), date(2027, 4, 2))
    li_for_wang(app)
    set_time(app, at)
    info = may(app, case, "li", "approve")
    assert info.allowed is in_force
    assert info.acting_for == ("wang" if in_force else None)
    if not in_force:
        with pytest.raises(NotPermitted) as refused:
            app.service.advance(case, "approve", "li")
        assert refused.value.rule_id == "R-2.3"
        return
    assert info.as_json() == {"trigger": "approve", "allowed": True, "reason": "acting for wang",
                              "acting_for": "wang"}
    app.service.advance(case, "approve", "li", comment="同意")
    assert app.case_view(case)["state"] == "approved"


def test_the_history_says_who_acted_and_for_whom(app: App) -> None:
    """The step's history row has actor li and details acting_for wang; the chain still verifies."""
    case = open_leave(app, "zhao", date(2027, 4, 1), date(2027, 4, 2))
    li_for_wang(app)
    set_time(app, local(2027, 3, 2, 10, 0))
    app.service.advance(case, "approve", "li", comment="同意")
    row = history(app, case)[-1]
    assert (row["trigger"], row["actor"], row["details"]["acting_for"]) == ("approve", "li", "wang")
    assert app.verify().ok
    # a step li's own roles permit is li's own: no acting_for
    other = open_leave(app, "zhao", date(2027, 5, 1), date(2027, 5, 1))
    app.service.advance(other, "withdraw", "zhao")
    assert history(app, other)[-1]["actor"] == "zhao" and "acting_for" not in history(app, other)[-1]["details"]


def test_what_the_absent_persons_own_roles_do_not_permit_stays_refused(app: App) -> None:
    """Acting for wang lends wang's roles only: li may not decide what only the supervising leader may."""
    case = open_leave(app, "wang", date(2027, 4, 1), date(2027, 4, 10))  # a director's 10 days: liu decides
    li_for_wang(app)
    set_time(app, local(2027, 3, 2, 10, 0))
    assert not may(app, case, "li", "approve").allowed
    with pytest.raises(NotPermitted) as refused:
        app.service.advance(case, "approve", "li")
    assert refused.value.rule_id == "R-2.1"


def test_R2_4_the_delegate_does_not_approve_their_own_leave_acting_for_the_director(app: App) -> None:
    """li's own leave goes to wang; li acting for wang may neither approve nor reject it, and nothing is written."""
    case = open_leave(app, "li", date(2027, 4, 1), date(2027, 4, 3))
    li_for_wang(app)
    set_time(app, local(2027, 3, 2, 10, 0))
    before = history(app, case)
    for trigger in ("approve", "reject"):
        info = may(app, case, "li", trigger)
        assert not info.allowed and str(info.reason).startswith("R-2.4")
        with pytest.raises(NotPermitted) as refused:
            app.service.advance(case, trigger, "li", comment="同意")
        assert refused.value.rule_id == "R-2.4"
    assert history(app, case) == before
    app.service.advance(case, "approve", "wang")  # wang himself still may
    assert app.case_view(case)["state"] == "approved"


def test_R4_3_the_audited_person_does_not_audit_their_own_audit_acting_for_the_auditor(app: App) -> None:
    """li, audited, acting for the auditor zhou is refused every auditor's step (R-4.3); huang acting for
    zhou may take them, recorded as acting for zhou."""
    case = app.service.open("departure_audit", "wu", {"subject": "li"}).id
    first = int(app.delegations.add("zhou", "zhou", "li", "2027-03-01", "2027-03-14")["id"])
    set_time(app, local(2027, 3, 2, 10, 0))
    info = may(app, case, "li", "issue_notice")
    assert not info.allowed and str(info.reason).startswith("R-4.3")
    with pytest.raises(NotPermitted) as refused:
        app.service.advance(case, "issue_notice", "li")
    assert refused.value.rule_id == "R-4.3"
    assert app.case_view(case)["state"] == "opened"
    app.delegations.end("zhou", first)
    app.delegations.add("sun", "zhou", "huang", "2027-03-02", "2027-03-14")
    app.service.advance(case, "issue_notice", "huang")
    row = history(app, case)[-1]
    assert (row["actor"], row["details"]["acting_for"], row["to"]) == ("huang", "zhou", "notified")


def test_no_chains_of_delegation(app: App) -> None:
    """A delegate who is away, or an absent person who is acting for someone, on any shared day is refused."""
    li_for_wang(app)
    with pytest.raises(RuleViolation, match="no chains"):  # li holds wang's authority 10–14 March
        app.delegations.add("li", "li", "zhao", "2027-03-10", "2027-03-20")
    with pytest.raises(RuleViolation, match="no chains"):  # wang is away 1–14 March
        app.delegations.add("zhao", "zhao", "wang", "2027-03-14", "2027-03-20")
    assert [d["id"] for d in app.delegations.list()] == [1]
    app.delegations.add("li", "li", "zhao", "2027-03-15", "2027-03-20")  # after wang's return: fine
    assert len(app.delegations.list()) == 2


def test_overlapping_delegations_of_one_absent_person_are_refused(app: App) -> None:
    """wang has one delegate at a time: sharing even the last day (inclusive) is refused; the day after is not."""
    li_for_wang(app)
    with pytest.raises(RuleViolation, match="already has delegation 1"):
        app.delegations.add("sun", "wang", "zhao", "2027-03-14", "2027-03-20")
    app.delegations.add("sun", "wang", "zhao", "2027-03-15", "2027-03-20")
    assert [(d["acting"], d["start"]) for d in app.delegations.list()] == [("li", "2027-03-01"),
                                                                          ("zhao", "2027-03-15")]


def test_only_the_absent_person_or_a_clerk_sets_or_ends_a_delegation(app: App) -> None:
    """zhao, liu and li himself may not set wang's delegation or end it; wang and the clerk sun may."""
    for outsider in ("zhao", "liu", "li"):
        with pytest.raises(NotPermitted) as refused:
            app.delegations.add(outsider, "wang", "li", "2027-03-01", "2027-03-14")
        assert refused.value.rule_id == "R-0"
    assert app.delegations.list() == []
    first = li_for_wang(app, by="sun")
    with pytest.raises(NotPermitted):
        app.delegations.end("li", first)
    ended = app.delegations.end("wang", first)
    assert (ended["status"], ended["ended_by"]) == ("ended", "wang")
    with pytest.raises(RuleViolation, match="was ended"):
        app.delegations.end("sun", first)


def test_an_ended_delegation_lends_nothing_more(app: App) -> None:
    """Ended on 3 March, li no longer acts for wang although 14 March has not come."""
    case = open_leave(app, "zhao", date(2027, 4, 1), date(2027, 4, 2))
    first = li_for_wang(app)
    set_time(app, local(2027, 3, 3, 9, 0))
    assert may(app, case, "li", "approve").allowed
    app.delegations.end("sun", first)
    assert not may(app, case, "li", "approve").allowed


@pytest.mark.parametrize(("args", "error"), [
    (("wang", "wang", "li", "2027-03-10", "2027-03-01"), BadInput),   # end before start
    (("wang", "wang", "li", "2027-02-30", "2027-03-01"), BadInput),   # no such day
    (("wang", "wang", "nobody", "2027-03-01", "2027-03-14"), NotFound),
    (("wang", "wang", "wang", "2027-03-01", "2027-03-14"), BadInput),  # acting for oneself
    (("wang", "wang", "li", "2026-12-01", "2026-12-31"), BadInput),   # over before today (4 January 2027)
])
def test_bad_input_writes_nothing(app: App, db_url: str, args: tuple[str, ...], error: type[Exception]) -> None:
    """Malformed or impossible delegations are bad input (exit 2) and write nothing."""
    before = dump(db_url)
    with pytest.raises(error) as refused:
        app.delegations.add(*args)
    assert refused.value.exit_code == 2  # type: ignore[attr-defined]
    assert dump(db_url) == before


def test_the_delegate_gets_the_mail_meant_for_the_absent_person(app: App) -> None:
    """zhao's request in the window goes to wang and to li "acting for wang" (offering li the approval);
    li's own request is not copied to li; after the window wang alone is asked."""
    li_for_wang(app)
    set_time(app, local(2027, 3, 2, 10, 0))
    zhao = open_leave(app, "zhao", date(2027, 4, 1), date(2027, 4, 2))
    own = open_leave(app, "li", date(2027, 4, 5), date(2027, 4, 6))
    to_wang = [m for m in mail_to(app, "leave.requested", "wang") if m.case_id == zhao]
    to_li = [m for m in mail_to(app, "leave.requested", "li") if m.case_id == zhao]
    assert len(to_wang) == 1 and len(to_li) == 1
    rcpt = to_li[0].recipients[0]
    assert (rcpt["acting_for"], rcpt["email"], "roles" in rcpt) == ("wang", "li@bj.example.org", False)
    assert to_li[0].message_id != to_wang[0].message_id
    assert not [m for m in app.store.mails() if m.case_id == own and m.recipients[0]["person"] == "li"]  # type: ignore[attr-defined]
    with app.store.transaction(write=False) as tx:
        org = tx.org()
    text = render(to_li[0], org, lang="zh", allowed=ActionFilter(app)(to_li[0])).text  # type: ignore[arg-type]
    assert "您代王建国办理" in text and f"outpost case advance {zhao} approve --as li" in text
    english = render(to_li[0], org, lang="en").text
    assert "You are acting for 王建国" in english
    assert "acting for" not in render(to_wang[0], org, lang="en").text
    set_time(app, local(2027, 3, 15, 9, 0))
    later = open_leave(app, "zhao", date(2027, 4, 10), date(2027, 4, 10))
    assert [m.recipients[0]["person"] for m in app.store.mails()  # type: ignore[attr-defined]
            if m.case_id == later and m.event == "leave.requested"] == ["wang"]


def test_the_daemons_reminder_reaches_the_delegate_too(app: App) -> None:
    """A reminder fired by the tick while the delegation is in force is queued for wang and for li."""
    li_for_wang(app, start="2027-01-04", end="2027-01-14")
    case = open_leave(app, "zhao", date(2027, 2, 1), date(2027, 2, 2))
    set_time(app, local(2027, 1, 6, 10, 0))  # the 1st working day after the request (Tue 5 Jan) has ended
    app.ticker.tick(local(2027, 1, 6, 10, 0))
    people = sorted(m.recipients[0]["person"] for m in app.store.mails()  # type: ignore[attr-defined]
                    if m.case_id == case and m.event == "leave.reminder")
    assert people == ["li", "wang"]


def test_the_cli_sets_lists_acts_and_shows_acting_for(frozen_cli: Callable[..., tuple[int, str, str]]) -> None:
    """`delegate add/list/end` and `case show` printing "li acting for wang" (CLI clock: 10 May 2027)."""
    assert frozen_cli("case", "open", "leave", "--as", "zhao", "--start", "2027-06-01", "--end", "2027-06-02")[0] == 0
    rc, out, err = frozen_cli("delegate", "add", "--as", "sun", "--absent", "wang", "--acting", "li",
                              "--start", "2027-05-10", "--end", "2027-05-20", "--reason", "出差", "--json")
    assert rc == 0, err
    import json

    made = json.loads(out)
    assert (made["id"], made["status"], made["absent"], made["acting"]) == (1, "in_force", "wang", "li")
    rc, out, _ = frozen_cli("case", "triggers", "1", "--as", "li", "--json")
    assert {"trigger": "approve", "allowed": True, "reason": "acting for wang", "acting_for": "wang"} in json.loads(out)
    assert frozen_cli("case", "advance", "1", "approve", "--as", "li")[0] == 0
    rc, out, _ = frozen_cli("case", "show", "1")
    assert "li acting for wang: approve pending → approved" in out
    rc, out, _ = frozen_cli("delegate", "list")
    assert "li 李明 acting for wang 王建国, 2027-05-10 – 2027-05-20 [in_force]" in out
    rc, out, err = frozen_cli("delegate", "end", "1", "--as", "li")
    assert rc == 3 and "R-0" in err
    assert frozen_cli("delegate", "end", "1", "--as", "wang")[0] == 0
    assert json.loads(frozen_cli("delegate", "list", "--json")[1])[0]["status"] == "ended"


@pytest.mark.parametrize("args", [
    ["--absent", "wang", "--acting", "li", "--start", "2027-05-32", "--end", "2027-05-20"],  # bad date
    ["--absent", "wang", "--acting", "li", "--start", "10/05/2027", "--end", "2027-05-20"],  # not YYYY-MM-DD
    ["--absent", "wang", "--acting", "li", "--start", "2027-05-20", "--end", "2027-05-10"],  # end before start
    ["--absent", "nobody", "--acting", "li", "--start", "2027-05-10", "--end", "2027-05-20"],  # unknown absent
    ["--absent", "wang", "--acting", "ghost", "--start", "2027-05-10", "--end", "2027-05-20"],  # unknown acting
    ["--absent", "wang", "--acting", "li", "--start", "2027-05-10"],  # no --end
])
def test_cli_bad_input_exits_2_and_writes_nothing(frozen_cli: Callable[..., tuple[int, str, str]], sqlite_url: str,
                                                  args: list[str]) -> None:
    """Bad dates, unknown people, end before start: exit 2, one line on stderr, the database unchanged."""
    before = dump(sqlite_url)
    rc, out, err = frozen_cli("delegate", "add", "--as", "wang", *args)
    assert rc == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert dump(sqlite_url) == before


def test_cli_unknown_setter_and_unknown_delegation_exit_2(frozen_cli: Callable[..., tuple[int, str, str]]) -> None:
    """`--as nobody` and `delegate end 99`/`end x` are bad input (exit 2)."""
    assert frozen_cli("delegate", "add", "--as", "nobody", "--absent", "wang", "--acting", "li",
                      "--start", "2027-05-10", "--end", "2027-05-20")[0] == 2
    assert frozen_cli("delegate", "end", "99", "--as", "wang")[0] == 2
    assert frozen_cli("delegate", "end", "x", "--as", "wang")[0] == 2
