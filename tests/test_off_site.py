"""Other recorded off-site days (REGULATION.md R-2.5, process `off_site`), on SQLite and PostgreSQL.

R-2.5 counts "approved/recorded leave (and any other recorded off-site days)". These tests check that the
recorded days count exactly like leave: toward the limit (121 pass in 2027, the 122nd needs an override),
once per day, in the compliance report, and for the approver's availability (R-2.4).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from tests.conftest import dump
from tests.test_compliance import compliance
from workflow.app import App
from workflow.errors import BadInput, NotFound, NotPermitted, RuleViolation


def record(app: App, by: str, start: date, end: date, subject: str | None = None, reason: str = "出差",
           override: str | None = None) -> int:
    params = {"subject": subject, "start": start.isoformat(), "end": end.isoformat(), "reason": reason}
    return app.service.open("off_site", by, params, override=override).id


def leave(app: App, who: str, start: date, end: date) -> int:
    return app.service.open("leave", who, {"start": start.isoformat(), "end": end.isoformat()}).id


def days_off(app: App, person: str, year: int = 2027) -> int:
    [office] = [o for o in compliance(app, year) if any(p["person"] == person for p in o["presence"])]
    [row] = [p for p in office["presence"] if p["person"] == person]
    return int(row["off_site_days"])


def test_R2_5_recorded_off_site_days_count_toward_the_limit(app: App) -> None:
    """A 100-day trip and a 21-day leave make 121 days in 2027, which pass; one more leave day is refused
    without an override, and the refusal counts the trip."""
    trip = record(app, "wang", date(2027, 2, 1), date(2027, 2, 1) + timedelta(days=99), subject="zhao")
    assert app.case_view(trip)["state"] == "recorded" and days_off(app, "zhao") == 100
    first = leave(app, "zhao", date(2027, 7, 1), date(2027, 7, 21))  # 21 days → 121
    app.service.advance(first, "approve", "wang")
    assert days_off(app, "zhao") == 121
    extra = leave(app, "zhao", date(2027, 9, 1), date(2027, 9, 1))
    with pytest.raises(RuleViolation, match=r"122 days in 2027 \(121 already\), over the limit of 121") as refused:
        app.service.advance(extra, "approve", "wang")
    assert refused.value.rule_id == "R-2.5"


def test_R2_5_days_past_the_limit_are_recorded_only_with_the_approvers_override(app: App) -> None:
    """121 recorded days pass with no override; the 122nd needs --override REASON from the office director
    or a supervising leader: not from the clerk, and never from the person themselves (R-2.4)."""
    record(app, "zhao", date(2027, 2, 1), date(2027, 2, 1) + timedelta(days=120))  # exactly 121
    assert days_off(app, "zhao") == 121
    one_more = (date(2027, 10, 8), date(2027, 10, 8))
    with pytest.raises(RuleViolation, match=r"122 days in 2027.*--override REASON") as refused:
        record(app, "zhao", *one_more)
    assert refused.value.rule_id == "R-2.5"
    with pytest.raises(NotPermitted, match="nobody passes their own presence limit") as own:
        record(app, "zhao", *one_more, override="I was sent")
    assert own.value.rule_id == "R-2.4"
    with pytest.raises(NotPermitted, match="sun may not pass zhao's presence limit"):
        record(app, "sun", *one_more, subject="zhao", override="the clerk says so")
    assert days_off(app, "zhao") == 121
    case = record(app, "wang", *one_more, subject="zhao", override="省招商局抽调")
    first = app.case_view(case)["history"][0]
    assert first["override"] == "省招商局抽调"
    assert first["details"]["overridden"][0]["rule"] == "R-2.5"
    assert days_off(app, "zhao") == 122
    # a director's own days past the limit: the supervising leader, never the director
    record(app, "wang", date(2027, 2, 1), date(2027, 2, 1) + timedelta(days=120))
    with pytest.raises(NotPermitted, match="nobody passes their own"):
        record(app, "wang", *one_more, override="mine")
    record(app, "liu", *one_more, subject="wang", override="全省招商周")
    assert days_off(app, "wang") == 122


def test_R2_5_an_override_within_the_limit_is_refused_as_bad_input(app: App) -> None:
    """--override passes a rule on purpose; there is none to pass within the limit, so it is a mistake."""
    with pytest.raises(BadInput, match="within the presence limit"):
        record(app, "wang", date(2027, 3, 1), date(2027, 3, 2), subject="zhao", override="just in case")


@pytest.mark.parametrize("by, subject, allowed", [
    ("zhao", None, True),  # the person themselves
    ("wang", "zhao", True),  # their office's director
    ("sun", "zhao", True),  # the General Office's clerk
    ("liu", "zhao", True),  # a supervising leader
    ("li", "zhao", False),  # a deputy director of the same office
    ("chen", "zhao", False),  # another office's director
    ("huang", "zhao", False),  # another office's staff
    ("zhou", "zhao", False),  # the auditor
])
def test_R2_5_who_may_record_and_cancel_off_site_days(app: App, by: str, subject: str | None,
                                                      allowed: bool) -> None:
    """The days are recorded, and cancelled, by the person, their director, the clerk or a supervising
    leader; anyone else is refused naming R-2.5, and nothing is written."""
    if allowed:
        case = record(app, by, date(2027, 3, 1), date(2027, 3, 2), subject=subject)
        assert app.case_view(case)["subject"] == "zhao"
        app.service.advance(case, "cancel", by, comment="trip called off")
        assert app.case_view(case)["state"] == "cancelled"
        return
    before = dump(app.settings.database_url)
    with pytest.raises(NotPermitted, match=f"{by} may not record zhao's off-site days") as refused:
        record(app, by, date(2027, 3, 1), date(2027, 3, 2), subject=subject)
    assert refused.value.rule_id == "R-2.5"
    assert dump(app.settings.database_url) == before
    case = record(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    with pytest.raises(NotPermitted, match="recorded and cancelled by") as not_theirs:
        app.service.advance(case, "cancel", by, comment="not mine to cancel")
    assert not_theirs.value.rule_id == "R-2.5"
    assert app.case_view(case)["state"] == "recorded"


def test_R2_5_only_the_offices_people_have_off_site_days(app: App) -> None:
    """The presence rule covers the offices' people: the clerk (General Office) has none to record, and an
    unknown person is bad input."""
    with pytest.raises(RuleViolation, match="sun is not staff of an office"):
        record(app, "sun", date(2027, 3, 1), date(2027, 3, 2))
    with pytest.raises(NotFound, match="nobody"):
        record(app, "sun", date(2027, 3, 1), date(2027, 3, 2), subject="nobody")


def test_R2_5_each_off_site_day_is_counted_once(app: App) -> None:
    """A record over days already off site (leave or another record), or already asked for in a pending
    leave, is refused naming the case; adjoining days are fine; and a leave over recorded days is refused."""
    away = leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 5))
    app.service.advance(away, "approve", "wang")
    with pytest.raises(RuleViolation, match=f"already off site 2027-03-05 – 2027-03-05 \\(case {away}\\)"):
        record(app, "zhao", date(2027, 3, 5), date(2027, 3, 6))
    asked = leave(app, "zhao", date(2027, 4, 1), date(2027, 4, 2))
    with pytest.raises(RuleViolation, match=f"already asked for 2027-04-02 – 2027-04-02 \\(case {asked}\\)"):
        record(app, "zhao", date(2027, 4, 2), date(2027, 4, 3))
    trip = record(app, "zhao", date(2027, 3, 6), date(2027, 3, 7))
    with pytest.raises(RuleViolation, match=f"already off site 2027-03-07 – 2027-03-07 \\(case {trip}\\)"):
        record(app, "wang", date(2027, 3, 7), date(2027, 3, 9), subject="zhao")
    with pytest.raises(RuleViolation, match=f"R-2.5.*case {trip}"):
        leave(app, "zhao", date(2027, 3, 7), date(2027, 3, 8))
    assert days_off(app, "zhao") == 7


def test_R2_5_a_cancelled_record_stops_counting(app: App) -> None:
    """`cancel` needs a reason (bad input without one, nothing written); afterwards the days no longer count:
    a leave that the record would have pushed past the limit is approved without an override."""
    trip = record(app, "zhao", date(2027, 2, 1), date(2027, 2, 1) + timedelta(days=120))  # 121 days
    before = dump(app.settings.database_url)
    with pytest.raises(BadInput, match="cancel needs --comment"):
        app.service.advance(trip, "cancel", "wang")
    assert dump(app.settings.database_url) == before
    app.service.advance(trip, "cancel", "wang", comment="the trip was called off")
    view = app.case_view(trip)
    assert view["state"] == "cancelled" and view["history"][-1]["comment"] == "the trip was called off"
    assert days_off(app, "zhao") == 0
    later = leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 3))
    app.service.advance(later, "approve", "wang")
    assert app.case_view(later)["history"][-1].get("override") is None
    assert app.verify().ok


def test_R2_4_a_director_away_on_recorded_days_passes_requests_up(app: App) -> None:
    """A director away on recorded days today is unavailable like a director on leave (R-2.4): a staff
    request made meanwhile goes to the supervising leader."""
    record(app, "wang", date(2027, 1, 4), date(2027, 1, 8))  # the app's clock: Monday 4 January 2027
    case = leave(app, "zhao", date(2027, 1, 20), date(2027, 1, 21))
    data = app.case_view(case)["data"]
    assert (data["approver_role"], data["route_rule"]) == ("supervising_leader", "R-2.4")


def test_R2_5_recorded_days_split_across_new_year(app: App) -> None:
    """Days are counted per calendar year, as for leave."""
    record(app, "zhao", date(2027, 12, 29), date(2028, 1, 3))
    assert days_off(app, "zhao", 2027) == 3 and days_off(app, "zhao", 2028) == 3


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
    rc, _out, err = frozen_cli("case", "open", "off_site", "--as", "huang", "--subject", "zhao", "--start",
                               "2027-07-01", "--end", "2027-07-02", "--reason", "x")
    assert rc == 3 and "(R-2.5)" in err
    rc, _out, err = frozen_cli("case", "advance", str(case["id"]), "cancel", "--as", "wang")
    assert rc == 2 and "--comment" in err
    assert dump(sqlite_url) == before
    rc, out, _err = frozen_cli("case", "list", "--process", "off_site", "--json")
    assert rc == 0 and [c["id"] for c in json.loads(out)] == [case["id"]]
    assert frozen_cli("audit", "verify")[0] == 0
