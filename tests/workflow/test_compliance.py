"""`outpost report compliance`: the JSON shape of PRODUCT.md, statuses, presence (R-2.5), grades (R-6.5),
ranking (R-5.3) and compliance incidents; the pure report logic on plain data, the SQL on both backends,
the real CLI with a frozen clock."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from machines.info_quota import accept_item, add_item
from machines.investment import add_investment
from outpost.app import App
from store.reports import SqlReports
from tests.conftest import local, set_time
from workflow.compliance import Incident, YearData, build, ranking, read
from workflow.errors import RuleViolation
from workflow.model import Case, Office, OffSite, Org, Person
from workflow.ports import CaseFilter

PRODUCT_KEYS = {"office", "year", "investment_total", "investment_target_met", "reports", "info_short_months",
                "fin_statements_late", "presence", "people"}


def compliance(app: App, year: int = 2027, office: str | None = None) -> list[dict[str, Any]]:
    return build(read(SqlReports(app.store), year), app.clock.now(), office)


def case_id(app: App, process: str, office: str, period: str) -> int:
    [found] = [c.id for c in app.store.list_cases(CaseFilter(process=process, office=office)) if c.period == period]
    return found


def tick(app: App, *at: int) -> None:
    set_time(app, local(*at))
    assert app.ticker.tick(local(*at)).failed == []


# -- pure logic on plain data ----------------------------------------------------------------------------
ORG = Org(offices={"BJ": Office("BJ", "北京联络处"), "SZ": Office("SZ", "深圳办事处")},
          people={"wang": Person("wang", "王建国", None, "BJ", frozenset({"director"})),
                  "zhao": Person("zhao", "赵丽", None, "BJ", frozenset({"staff"})),
                  "chen": Person("chen", "陈志强", None, "SZ", frozenset({"director"}))})


def case(cid: int, process: str, office: str, period: str, state: str, **data: Any) -> Case:
    at = local(2027, 1, 1)
    return Case(id=cid, process=process, definition_version=1, office=office, subject=None, period=period,
                state=state, version=1, data={"v": 1, **data}, opened_at=at, opened_by=None, updated_at=at)


def test_submission_statuses_on_time_late_missing_pending() -> None:
    """A report submitted by its due date is on time, after it late; unsubmitted past the due date it is
    missing (and counts as late); before the due date pending."""
    cases = [
        case(1, "report", "BJ", "2027-H1", "accepted", due="2027-06-25", submitted_at="2027-06-25T15:59:00+00:00",
             late=False),
        case(2, "report", "SZ", "2027-H1", "submitted", due="2027-06-25", submitted_at="2027-06-25T16:00:00+00:00",
             late=True),
        case(3, "report", "BJ", "2027-Y", "open", due="2027-12-25"),
        case(4, "fin_statement", "BJ", "2027-Q3", "open", due="2027-10-15"),
        case(5, "fin_statement", "BJ", "2027-Q2", "submitted", due="2027-07-15",
             submitted_at="2027-07-16T01:00:00+00:00", late=True),
    ]
    out = build(YearData(year=2027, org=ORG, cases=cases), local(2027, 12, 1, 12, 0))
    bj, sz = out
    assert [(r["period"], r["status"], r["late"]) for r in bj["reports"]] == [("2027-H1", "on_time", False),
                                                                               ("2027-Y", "pending", False)]
    assert [(r["period"], r["status"], r["late"]) for r in sz["reports"]] == [("2027-H1", "late", True)]
    assert bj["fin_statements_late"] == ["2027-Q2", "2027-Q3"]
    assert [s["status"] for s in bj["fin_statements"]] == ["late", "missing"]
    after = build(YearData(year=2027, org=ORG, cases=cases), local(2027, 12, 26, 0, 0), "BJ")
    assert [(r["period"], r["status"]) for r in after[0]["reports"]] == [("2027-H1", "on_time"), ("2027-Y", "missing")]


def test_R5_3_offices_ranked_per_period_by_score_equal_scores_share_a_rank() -> None:
    """Higher score ranks first; a tie shares the rank; an unassessed report has no rank."""
    org = Org(offices={c: Office(c, c) for c in ("BJ", "SZ", "TJ")}, people={})
    cases = [case(1, "report", "BJ", "2027-H1", "assessed", score=88), case(2, "report", "SZ", "2027-H1", "assessed",
                                                                             score=92),
             case(3, "report", "TJ", "2027-H1", "assessed", score=88), case(4, "report", "BJ", "2027-Y", "submitted"),
             case(5, "report", "SZ", "2027-Y", "assessed", score=70)]
    data = YearData(year=2027, org=org, cases=cases)
    out = {o["office"]: {r["period"]: r["rank"] for r in o["reports"]} for o in build(data, local(2028, 1, 1))}
    assert out == {"BJ": {"2027-H1": 2, "2027-Y": None}, "SZ": {"2027-H1": 1, "2027-Y": 1},
                   "TJ": {"2027-H1": 2}}
    assert ranking(build(data, local(2028, 1, 1)))[0] == {
        "period": "2027-H1", "offices": [{"office": "SZ", "score": 92, "rank": 1},
                                         {"office": "BJ", "score": 88, "rank": 2},
                                         {"office": "TJ", "score": 88, "rank": 2}]}


def test_incidents_are_listed_under_their_office_in_time_order() -> None:
    """History rows recording a compliance incident (R-3.3) appear in their office's report."""
    incidents = [
        Incident(case=9, process="matter", office="SZ", seq=3, trigger="compliance_incident", actor="chen",
                 at=local(2027, 5, 2, 10, 0), comment=None, details={"rule": "R-3.3", "attempted": "execute"}),
        Incident(case=7, process="matter", office="BJ", seq=2, trigger="compliance_incident", actor="wang",
                 at=local(2027, 4, 1, 9, 0), comment="urgent", details={"rule": "R-3.3"}),
    ]
    bj, sz = build(YearData(year=2027, org=ORG, cases=[], incidents=incidents), local(2027, 6, 1))
    assert [(i["case"], i["rule"], i["actor"], i["at"]) for i in bj["incidents"]] == [
        (7, "R-3.3", "wang", "2027-04-01T09:00:00+08:00")]
    assert [i["case"] for i in sz["incidents"]] == [9]


def test_R2_5_presence_counts_each_day_once_and_only_inside_the_year() -> None:
    """Off-site days are counted per calendar year (a leave over New Year splits), overlapping records once;
    the limit is ⌊days/3⌋: 121 in 2027, 122 in 2028."""
    rows = [OffSite("wang", datetime(2027, 12, 29).date(), datetime(2028, 1, 2).date(), 1, "leave"),
            OffSite("wang", datetime(2027, 3, 1).date(), datetime(2027, 3, 10).date(), 2, "leave"),
            OffSite("wang", datetime(2027, 3, 8).date(), datetime(2027, 3, 12).date(), 3, "leave")]
    [bj27] = build(YearData(year=2027, org=ORG, cases=[], off_site=rows), local(2027, 12, 31), "BJ")
    [bj28] = build(YearData(year=2028, org=ORG, cases=[], off_site=rows), local(2028, 12, 31), "BJ")
    assert {p["person"]: (p["off_site_days"], p["limit"]) for p in bj27["presence"]} == {"wang": (15, 121),
                                                                                        "zhao": (0, 121)}
    assert {p["person"]: (p["off_site_days"], p["limit"]) for p in bj28["presence"]}["wang"] == (2, 122)


# -- on the database (SQLite and PostgreSQL) -------------------------------------------------------------
def test_compliance_report_has_the_product_keys_and_the_years_figures(app: App) -> None:
    """Every office gets an object with PRODUCT.md's keys; figures come from the year's cases only."""
    tick(app, 2027, 1, 4, 9, 0)
    set_time(app, local(2027, 1, 5, 10, 0))
    items = [add_item(app.service, "zhao", f"news {i}").id for i in range(3)]
    for item in items:
        accept_item(app.service, item or 0, "sun")
    add_investment(app.service, "wang", "3000万", "foreign", "EV plant", credits=["wang=3000万"])
    app.service.open("leave", "wang", {"start": "2027-02-01", "end": "2027-02-05"})  # recorded, R-2.2
    tick(app, 2027, 2, 1, 9, 0)  # January judged: BJ short with 3 accepted, SZ short with none
    out = compliance(app)
    assert [o["office"] for o in out] == ["BJ", "SZ"]
    for o in out:
        assert set(o) >= PRODUCT_KEYS and o["year"] == 2027
    bj = out[0]
    assert (bj["investment_total"], bj["investment_target_met"], bj["investment_state"]) == (30_000_000, True, "open")
    assert bj["info_short_months"] == ["2027-01"] and out[1]["info_short_months"] == ["2027-01"]
    assert bj["info_months"][0] == {"month": "2027-01", "state": "short", "logged": 3, "accepted": 3, "quota": 4,
                                    "short": True}
    assert {p["person"]: p["off_site_days"] for p in bj["presence"]} == {"li": 0, "wang": 5, "zhao": 0}
    assert {p["person"]: (p["credited"], p["grade"]) for p in bj["people"]} == {
        "li": (0, None), "wang": (30_000_000, "recommended_excellent"), "zhao": (0, None)}
    assert bj["fin_statements_late"] == []  # 2026-Q4 belongs to 2026's report
    assert [o["office"] for o in compliance(app, office="SZ")] == ["SZ"]
    assert compliance(app, 2026)[0]["fin_statements"][0]["period"] == "2026-Q4"


def test_R3_3_incident_recorded_by_the_matter_machine_appears_in_the_report(app: App) -> None:
    """A refused execution before approval is a compliance incident of the office (R-3.3)."""
    set_time(app, local(2027, 1, 4, 10, 0))
    case = app.service.open("matter", "wang", {"category": "asset_purchase", "kind": "request",
                                               "title": "office car", "event_date": "2027-03-01"})
    with pytest.raises(RuleViolation):
        app.service.advance(case.id, "execute", "wang")
    assert any(h["trigger"] == "compliance_incident" for h in app.case_view(case.id)["history"])
    [bj] = compliance(app, office="BJ")
    assert [(i["case"], i["rule"], i["actor"]) for i in bj["incidents"]] == [(case.id, "R-3.3", "wang")]


# -- through the real CLI --------------------------------------------------------------------------------
@pytest.fixture
def cli(frozen_cli: Any) -> Any:
    """The frozen-clock CLI of tests/conftest.py, after a first tick."""
    assert frozen_cli("tick")[0] == 0
    return frozen_cli


def test_cli_report_compliance_json_and_table(cli: Any) -> None:
    """`report compliance --year 2027 --json` prints a list of office objects; `--office` narrows it;
    the default output is a readable table; an unknown office or a bad year exits 2."""
    assert cli("invest", "add", "--as", "huang", "--amount", "15000000", "--source", "domestic", "--project",
               "港口冷链", "--credit", "huang=15000000")[0] == 0
    rc, out, err = cli("report", "compliance", "--year", "2027", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert [o["office"] for o in data] == ["BJ", "SZ"] and all(set(o) >= PRODUCT_KEYS for o in data)
    sz = data[1]
    assert (sz["investment_total"], sz["investment_target_met"]) == (15_000_000, False)
    assert {p["person"]: p["grade"] for p in sz["people"]} == {"chen": None, "huang": None}  # target not met
    rc, out, _err = cli("report", "compliance", "--year", "2027", "--office", "SZ", "--json")
    assert [o["office"] for o in json.loads(out)] == ["SZ"]
    rc, out, err = cli("report", "compliance", "--year", "2027")
    assert rc == 0, err
    assert "SZ" in out and "investment: 15,000,000 yuan of 30,000,000" in out and "work reports" in out
    rc, _out, err = cli("report", "compliance", "--year", "2027", "--office", "XX")
    assert rc == 2 and "unknown office" in err
    assert cli("report", "compliance", "--year", "1900")[0] == 2
    assert cli("report", "compliance")[0] == 2
