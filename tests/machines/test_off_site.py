"""Other recorded off-site days (REGULATION.md R-2.5, process `off_site`), on SQLite and PostgreSQL.

R-2.5 counts "approved/recorded leave (and any other recorded off-site days)". These tests check that the
recorded days count exactly like leave: toward the limit (121 pass in 2027, the 122nd needs an override
from the approver), once per day, in the compliance report, and for the approver's availability (R-2.4);
and that nobody records, passes or erases their own days.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from machines import leave as leave_machine
from outpost.app import App
from tests.conftest import dump, mails, schema_url
from tests.machines.test_leave import open_leave
from tests.workflow.test_compliance import compliance
from workflow.errors import BadInput, NotFound, NotPermitted, RuleViolation
from workflow.ports import CaseFilter
from workflow.timeutil import overlap_days


def record(app: App, by: str, start: date, end: date, subject: str = "zhao", reason: str = "出差",
           override: str | None = None) -> int:
    params = {"subject": subject, "start": start.isoformat(), "end": end.isoformat(), "reason": reason}
    return app.service.open("off_site", by, params, override=override).id


def days_off(app: App, person: str, year: int = 2027) -> int:
    """The days the engine adds up for R-2.5: every off-site row, each counted (a day stored twice counts
    twice here, so "each day counted once" is really checked)."""
    with app.store.transaction(write=False) as tx:
        return sum(overlap_days(r.start, r.end, year) for r in tx.off_site(person, year))


def reported(app: App, person: str, year: int = 2027) -> int:
    """The person's off-site days in the compliance report."""
    [row] = [p for o in compliance(app, year) for p in o["presence"] if p["person"] == person]
    return int(row["off_site_days"])


def test_R2_5_recorded_off_site_days_count_toward_the_limit(app: App) -> None:
    """A 100-day trip and a 21-day leave make 121 days in 2027, which pass; one more leave day is refused
    without an override, and the refusal counts the trip. The compliance report shows the same days."""
    trip = record(app, "wang", date(2027, 2, 1), date(2027, 2, 1) + timedelta(days=99))
    assert app.case_view(trip)["state"] == "recorded" and days_off(app, "zhao") == 100
    first = open_leave(app, "zhao", date(2027, 7, 1), date(2027, 7, 21))  # 21 days → 121
    app.service.advance(first, "approve", "wang")
    assert days_off(app, "zhao") == 121 and reported(app, "zhao") == 121
    extra = open_leave(app, "zhao", date(2027, 9, 1), date(2027, 9, 1))
    with pytest.raises(RuleViolation, match=r"122 days in 2027 \(121 already\), over the limit of 121") as refused:
        app.service.advance(extra, "approve", "wang")
    assert refused.value.rule_id == "R-2.5"


def test_R2_5_days_past_the_limit_are_recorded_only_with_the_approvers_override(app: App) -> None:
    """121 recorded days pass with no override; the 122nd needs --override REASON from the office director
    or a supervising leader, not from the clerk; a director's own days, only from a supervising leader."""
    record(app, "sun", date(2027, 2, 1), date(2027, 2, 1) + timedelta(days=120))  # exactly 121
    assert days_off(app, "zhao") == 121
    one_more = (date(2027, 10, 8), date(2027, 10, 8))
    with pytest.raises(RuleViolation, match=r"122 days in 2027.*--override REASON") as refused:
        record(app, "wang", *one_more)
    assert refused.value.rule_id == "R-2.5"
    with pytest.raises(NotPermitted, match="sun may not pass zhao's presence limit") as clerk:
        record(app, "sun", *one_more, override="the clerk says so")
    assert clerk.value.rule_id == "R-2.4" and days_off(app, "zhao") == 121
    case = record(app, "wang", *one_more, override="省招商局抽调")
    first = app.case_view(case)["history"][0]
    assert first["override"] == "省招商局抽调"
    assert first["details"]["overridden"][0]["rule"] == "R-2.5"
    assert days_off(app, "zhao") == 122
    # the director's own days: recorded by the clerk, past the limit only with a supervising leader's override
    record(app, "sun", date(2027, 2, 1), date(2027, 2, 1) + timedelta(days=120), subject="wang")
    with pytest.raises(NotPermitted, match="wang may not record wang's off-site days"):
        record(app, "wang", *one_more, subject="wang", override="mine")
    with pytest.raises(NotPermitted, match="sun may not pass wang's presence limit"):
        record(app, "sun", *one_more, subject="wang", override="clerk")
    record(app, "liu", *one_more, subject="wang", override="全省招商周")
    assert days_off(app, "wang") == 122


def test_R2_4_a_director_who_is_away_cannot_pass_the_limit_for_staff(app: App) -> None:
    """Like approving a leave (R-2.4), passing the limit needs the director present: while wang is away on
    recorded days, only the supervising leader records zhao's 122nd day."""
    record(app, "sun", date(2027, 2, 1), date(2027, 2, 1) + timedelta(days=120))  # zhao: 121
    record(app, "sun", date(2027, 1, 4), date(2027, 1, 8), subject="wang")  # the app's clock: 4 January 2027
    with pytest.raises(NotPermitted, match="while present") as away:
        record(app, "wang", date(2027, 10, 8), date(2027, 10, 8), override="急需")
    assert away.value.rule_id == "R-2.4"
    record(app, "liu", date(2027, 10, 8), date(2027, 10, 8), override="急需")
    assert days_off(app, "zhao") == 122


def test_R2_5_the_dual_role_director_still_cannot_record_past_his_own_limit(make_app: Callable[..., App], db_url: str,
                                                                    tmp_path: Any) -> None:
    """A director who is also a supervising leader may not record his own days, so not pass his own limit
    either, even with --override (R-2.4)."""
    from tests.machines.test_permission_matrix import dual_roles_org

    org = tmp_path / "dual.toml"
    org.write_text(dual_roles_org(), encoding="utf-8")
    app = make_app(db_url, org=org)
    record(app, "liu", date(2027, 2, 1), date(2027, 2, 1) + timedelta(days=120), subject="wang")
    with pytest.raises(NotPermitted, match="wang may not record wang's"):
        record(app, "wang", date(2027, 10, 8), date(2027, 10, 8), subject="wang", override="self")
    assert days_off(app, "wang") == 121


def test_R2_5_an_override_within_the_limit_is_refused_as_bad_input(app: App) -> None:
    """--override passes a rule on purpose; there is none to pass within the limit, so it is a mistake."""
    with pytest.raises(BadInput, match="within the presence limit"):
        record(app, "wang", date(2027, 3, 1), date(2027, 3, 2), override="just in case")


@pytest.mark.parametrize("by, subject, allowed", [
    ("wang", "zhao", True),  # their office's director
    ("sun", "zhao", True),  # the General Office's clerk
    ("liu", "zhao", True),  # a supervising leader
    ("sun", "wang", True),  # a director's days: the clerk ...
    ("liu", "wang", True),  # ... or a supervising leader
    ("zhao", "zhao", False),  # never the person: their own absence is a leave request
    ("wang", "wang", False),
    ("li", "zhao", False),  # a deputy director of the same office
    ("chen", "zhao", False),  # another office's director
    ("huang", "zhao", False),  # another office's staff
    ("zhou", "zhao", False),  # the auditor
])
def test_R2_5_who_may_record_and_cancel_future_off_site_days(app: App, by: str, subject: str,
                                                             allowed: bool) -> None:
    """Future days are recorded, and cancelled, by the person's director, the clerk or a supervising leader;
    anyone else, the person included, is refused naming R-2.5, and nothing is written."""
    if allowed:
        case = record(app, by, date(2027, 3, 1), date(2027, 3, 2), subject=subject)
        assert app.case_view(case)["subject"] == subject
        app.service.advance(case, "cancel", by, comment="trip called off")
        assert app.case_view(case)["state"] == "cancelled" and days_off(app, subject) == 0
        return
    before = dump(app.settings.database_url)
    with pytest.raises(NotPermitted, match=f"{by} may not record {subject}'s off-site days") as refused:
        record(app, by, date(2027, 3, 1), date(2027, 3, 2), subject=subject)
    assert refused.value.rule_id == "R-2.5"
    assert dump(app.settings.database_url) == before
    case = record(app, "liu", date(2027, 3, 1), date(2027, 3, 2), subject=subject)
    with pytest.raises(NotPermitted, match="recorded and cancelled by") as not_theirs:
        app.service.advance(case, "cancel", by, comment="not mine to cancel")
    assert not_theirs.value.rule_id == "R-2.5"
    assert app.case_view(case)["state"] == "recorded"


def test_R2_5_days_already_begun_are_corrected_only_by_the_general_office(app: App) -> None:
    """From the first day on, the days are a fact: the director may no longer cancel them, nor may the
    person (who could otherwise free room under the limit); the clerk or a supervising leader may."""
    case = record(app, "wang", date(2027, 1, 4), date(2027, 1, 6))  # the app's clock: 4 January 2027
    for who in ("wang", "zhao"):
        with pytest.raises(NotPermitted, match="began on 2027-01-04: only the General Office") as refused:
            app.service.advance(case, "cancel", who, comment="撤销")
        assert refused.value.rule_id == "R-2.5"
    assert {i.trigger: i.allowed for i in app.service.triggers(case, "wang")} == {"cancel": False}
    assert days_off(app, "zhao") == 3
    app.service.advance(case, "cancel", "sun", comment="登记错误：实际未出差")
    assert app.case_view(case)["state"] == "cancelled" and days_off(app, "zhao") == 0


def test_R2_5_only_the_offices_people_have_off_site_days(app: App) -> None:
    """The presence rule covers the offices' people: the clerk (General Office) has none to record, and an
    unknown person is bad input."""
    with pytest.raises(RuleViolation, match="qian is not staff of an office"):
        record(app, "sun", date(2027, 3, 1), date(2027, 3, 2), subject="qian")
    with pytest.raises(NotFound, match="nobody"):
        record(app, "sun", date(2027, 3, 1), date(2027, 3, 2), subject="nobody")


def test_R2_5_each_off_site_day_is_counted_once(app: App) -> None:
    """A record over days already off site (leave or another record), or already asked for in a pending
    leave, is refused naming the case; adjoining days are fine; and a leave over recorded days is refused."""
    away = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 5))
    app.service.advance(away, "approve", "wang")
    with pytest.raises(RuleViolation, match=f"already off site 2027-03-05 – 2027-03-05 \\(case {away}\\)"):
        record(app, "wang", date(2027, 3, 5), date(2027, 3, 6))
    asked = open_leave(app, "zhao", date(2027, 4, 1), date(2027, 4, 2))
    with pytest.raises(RuleViolation, match=f"already asked for 2027-04-02 – 2027-04-02 \\(case {asked}\\)"):
        record(app, "wang", date(2027, 4, 2), date(2027, 4, 3))
    trip = record(app, "wang", date(2027, 3, 6), date(2027, 3, 7))
    with pytest.raises(RuleViolation, match=f"already off site 2027-03-07 – 2027-03-07 \\(case {trip}\\)"):
        record(app, "sun", date(2027, 3, 7), date(2027, 3, 9))
    with pytest.raises(RuleViolation, match=f"R-2.5.*case {trip}"):
        open_leave(app, "zhao", date(2027, 3, 7), date(2027, 3, 8))
    assert days_off(app, "zhao") == 7 and reported(app, "zhao") == 7


def test_R2_5_a_cancelled_record_stops_counting(app: App) -> None:
    """`cancel` needs a reason (bad input without one, nothing written); afterwards the days no longer count:
    a leave that the record would have pushed past the limit is approved without an override."""
    trip = record(app, "wang", date(2027, 2, 1), date(2027, 2, 1) + timedelta(days=120))  # 121 days
    later = open_leave(app, "zhao", date(2027, 7, 1), date(2027, 7, 3))
    with pytest.raises(RuleViolation, match="124 days in 2027"):
        app.service.advance(later, "approve", "wang")
    before = dump(app.settings.database_url)
    with pytest.raises(BadInput, match="cancel needs --comment"):
        app.service.advance(trip, "cancel", "wang")
    assert dump(app.settings.database_url) == before
    app.service.advance(trip, "cancel", "wang", comment="the trip was called off")
    view = app.case_view(trip)
    assert view["state"] == "cancelled" and view["history"][-1]["comment"] == "the trip was called off"
    assert days_off(app, "zhao") == 0
    app.service.advance(later, "approve", "wang")
    assert app.case_view(later)["history"][-1].get("override") is None and days_off(app, "zhao") == 3
    assert app.verify().ok


def test_R2_5_the_person_their_director_and_the_clerk_are_told(app: App) -> None:
    """Recording and cancelling mail the person, their director and the clerk, never the one who did it
    (as R-2.2 tells the General Office of a director's recorded leave)."""
    case = record(app, "wang", date(2027, 3, 1), date(2027, 3, 3))
    assert mails(app, "off_site.recorded") == ["sun@gov.example.org", "zhao@bj.example.org"]
    app.service.advance(case, "cancel", "sun", comment="取消")
    assert mails(app, "off_site.cancelled") == ["wang@bj.example.org", "zhao@bj.example.org"]
    preview = next(m for m in app.store.mails() if m.event == "off_site.recorded")
    assert preview.params["days"] == 3 and preview.params["start"] == "2027-03-01"


def test_R2_4_a_director_away_on_recorded_days_passes_requests_up(app: App) -> None:
    """A director away on recorded days is unavailable like a director on leave (R-2.4): a staff request
    made meanwhile goes to the supervising leader."""
    record(app, "sun", date(2027, 1, 4), date(2027, 1, 8), subject="wang")  # the app's clock: 4 January 2027
    case = open_leave(app, "zhao", date(2027, 1, 20), date(2027, 1, 21))
    data = app.case_view(case)["data"]
    assert (data["approver_role"], data["route_rule"]) == ("supervising_leader", "R-2.4")


def test_R2_5_recorded_days_split_across_new_year_and_leap_year_limit(app: App) -> None:
    """Days are counted per calendar year, as for leave; 2028 is a leap year with a limit of 122."""
    record(app, "wang", date(2027, 12, 29), date(2028, 1, 3))
    assert (days_off(app, "zhao", 2027), days_off(app, "zhao", 2028)) == (3, 3)
    record(app, "wang", date(2028, 2, 1), date(2028, 2, 1) + timedelta(days=118))  # 3 + 119 = 122 in 2028
    with pytest.raises(RuleViolation, match=r"123 days in 2028 \(122 already\), over the limit of 122"):
        record(app, "wang", date(2028, 9, 1), date(2028, 9, 1))


@pytest.mark.postgres
@pytest.mark.parametrize("step", ["record", "approve"])
def test_R2_5_two_writers_at_once_cannot_both_pass_the_limit_on_postgresql(
        step: str, make_app: Callable[..., App], pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two transactions adding 100 days each for one person, at the same moment, on two connections:
    under READ COMMITTED each would see 0 days used. The person is held until commit, so the second waits,
    then counts the first one's days and is refused (R-2.5)."""
    url = schema_url(pg_schema)
    first, second = make_app(url), make_app(url, org=None)
    spans = [(date(2027, 2, 1), date(2027, 5, 11)), (date(2027, 6, 1), date(2027, 9, 8))]  # 100 days each
    cases = [open_leave(first, "zhao", *span) for span in spans] if step == "approve" else []
    both = threading.Barrier(2)
    counted = leave_machine.presence_excess

    def meet(*args: Any, **kwargs: Any) -> str | None:
        """Count, then wait up to 1 s for the other writer to have counted too: without the hold both
        meet here having seen 0 days, and both commit; with it the second cannot count until the first
        commits, so the first goes on alone."""
        found = counted(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            both.wait(timeout=1.0)
        return found

    monkeypatch.setattr(leave_machine, "presence_excess", meet)
    outcomes: list[str] = []

    def write(app: App, i: int) -> None:
        try:
            if step == "record":
                record(app, "wang", *spans[i])
            else:
                app.service.advance(cases[i], "approve", "wang")
            outcomes.append("done")
        except RuleViolation as exc:
            outcomes.append(exc.rule_id)

    threads = [threading.Thread(target=write, args=(app, i)) for i, app in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["R-2.5", "done"] and days_off(first, "zhao") == 100


@pytest.mark.postgres
@pytest.mark.parametrize("second", ["record", "leave"])
def test_R2_5_a_request_and_a_record_for_the_same_day_queued_behind_another_writer(
        second: str, make_app: Callable[..., App], pg_schema: str) -> None:
    """Both wait for a third writer that holds zhao; released, each reads zhao's pending requests only once
    it holds zhao itself, so the later one sees the earlier one's request for the same day and is refused:
    the day is not counted twice (R-2.5)."""
    from sqlalchemy import create_engine, text

    from tests.conftest import wait_for

    url = schema_url(pg_schema)
    first, other = make_app(url), make_app(url, org=None)
    day = (date(2027, 3, 1), date(2027, 3, 2))
    holder = create_engine(url)
    waiting = create_engine(url)
    outcomes: list[str] = []

    def write(step: Callable[[], int]) -> None:
        try:
            step()
            outcomes.append("done")
        except RuleViolation as exc:
            outcomes.append(exc.rule_id)

    def blocked() -> int:
        with waiting.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                         "AND datname = current_database()")).scalar_one())

    later: Callable[[], int] = ((lambda: record(other, "wang", *day)) if second == "record" else
                                (lambda: open_leave(other, "zhao", *day)))
    try:
        with holder.connect() as conn:
            conn.execute(text("SELECT id FROM person WHERE id = 'zhao' FOR NO KEY UPDATE"))
            threads = [threading.Thread(target=write, args=(lambda: open_leave(first, "zhao", *day),)),
                       threading.Thread(target=write, args=(later,))]
            threads[0].start()
            assert wait_for(lambda: blocked() == 1, 4)
            threads[1].start()
            assert wait_for(lambda: blocked() == 2, 4)
            conn.rollback()  # the third writer lets go
        for thread in threads:
            thread.join(30)
    finally:
        holder.dispose()
        waiting.dispose()
    assert sorted(outcomes) == ["R-2.5", "done"]
    asked = [c for c in first.store.list_cases(CaseFilter()) if c.subject == "zhao"]
    assert len(asked) == 1


def test_off_site_through_the_cli(frozen_cli: Any, sqlite_url: str) -> None:
    """`case open off_site` with --json prints the case; bad input is exit 2 with one line and nothing
    written; a refusal is exit 3 naming the rule."""
    rc, out, err = frozen_cli("case", "open", "off_site", "--as", "wang", "--subject", "zhao", "--start",
                              "2027-06-01", "--end", "2027-06-04", "--reason", "出差 上海招商会", "--json")
    assert rc == 0, err
    case = json.loads(out)
    assert (case["process"], case["state"], case["subject"], case["office"]) == ("off_site", "recorded", "zhao", "BJ")
    assert case["data"]["days"] == 4 and case["deadlines"] == []
    before = dump(sqlite_url)
    base = ["case", "open", "off_site", "--as", "wang", "--subject", "zhao"]
    for args, fragment in [
        (["--start", "2027-07-02", "--end", "2027-07-01", "--reason", "x"], "is before --start"),
        (["--start", "2027-07-01", "--end", "2027-07-02"], "--reason is required"),
        (["--start", "2027-07-01", "--end", "2027-07-02", "--reason", "  "], "--reason is required"),
        (["--start", "2027-02-30", "--end", "2027-07-02", "--reason", "x"], "--start"),
        (["--start", "2027-07-01", "--end", "2028-07-02", "--reason", "x"], "at most one year"),
        (["--start", "2026-01-01", "--end", "2026-01-02", "--reason", "x"], "more than a year in the past"),
        (["--start", "2027-07-01", "--end", "2027-07-02", "--reason", "x", "--override", "y"], "within the presence"),
        (["--start", "2027-07-01", "--end", "2027-07-02", "--reason", "x", "--title", "t"], "does not apply"),
    ]:
        rc, _out, err = frozen_cli(*base, *args)
        assert rc == 2 and fragment in err and len(err.strip().splitlines()) == 1, (args, rc, err)
    rc, _out, err = frozen_cli("case", "open", "off_site", "--as", "wang", "--start", "2027-07-01", "--end",
                               "2027-07-02", "--reason", "x")
    assert rc == 2 and "--subject PERSON is required" in err
    for who in ("huang", "zhao"):
        rc, _out, err = frozen_cli("case", "open", "off_site", "--as", who, "--subject", "zhao", "--start",
                                   "2027-07-01", "--end", "2027-07-02", "--reason", "x")
        assert rc == 3 and "(R-2.5)" in err, (who, err)
    rc, _out, err = frozen_cli("case", "advance", str(case["id"]), "cancel", "--as", "wang")
    assert rc == 2 and "--comment" in err
    assert dump(sqlite_url) == before
    rc, out, _err = frozen_cli("case", "list", "--process", "off_site", "--json")
    assert rc == 0 and [c["id"] for c in json.loads(out)] == [case["id"]]
    assert frozen_cli("audit", "verify")[0] == 0
