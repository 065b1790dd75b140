"""A whole year of Outpost: one tick a day at 09:00 from 1 January to 31 December 2027 (injected clock),
then the year-end tick at 00:00 on 1 January 2028, on the two-office organisation of examples/org.toml,
with scripted actions: work reports on time, late and never (R-5), quarterly statements (R-6.1), the
2026 audit (R-6.2), information items (R-6.3), investments with credits (R-6.4/R-6.5), some leave
(R-2), two major-matter requests (R-3) and a departure audit opened by an organisation change (R-4). At
the end the compliance report matches the expected figures exactly (SZ's one incident included), every
deadline fired at most once and on the first tick after it was due (the matters' and the audit's each
checked by kind and due time), none is left due, and the history verifies. The installation tracks the
whole of 2027 (`tracking_from = 2027-01-01`, set by the `app` fixture on purpose, issue 16): without it,
installed on 4 January, January's information quotas and the year's investment targets would get no verdict.

The script (local time; actions at 10:00 unless a time is given):
- reports: H1 — BJ at 23:59 on 25 June (on time), SZ on 28 June (late); assessed 88 and 75.
  Y — BJ on 20 December with its plan, assessed 90; SZ never (missing).
- statements: Q1 — BJ at 23:59 on 15 April (on time), SZ on 19 April (late); Q2 on time (BJ's returned
  for revision and resubmitted after the due date: still on time); Q3 — BJ on time, SZ never.
- information, accepted per month: BJ 4 every month but March (3; December's fourth at 23:59 on
  31 December); SZ 4 but June (3), August (nothing logged) and November (3).
- investment: BJ 10,000,000 + 20,000,000 + 15,000,000 + 5,000,000 = 50,000,000 (met); credits wang
  30,000,000, zhao 15,000,000, li 4,999,999. SZ 9,999,999 + 10,000,000 + 10,000,000 = 29,999,999
  (missed); credits huang 15,000,000, chen 10,000,000.
- leave: zhao 10 days in May; wang 5 days in August (recorded) and 10 in October; huang 20 days in
  July (return never recorded); chen 3 days in December (recorded).
- audit of 2026: BJ started, reported and closed in time; SZ started, reported late in April.
- matters (R-3): BJ — wang requests a car purchase on Tue 2 March for 30 April; the leader is reminded
  (3 working days) and then escalated to (5), approves on 10 March; the office is asked for the outcome on
  3 May and wang records it executed (on 30 April) on 5 May; closed. SZ — chen requests a disposal on Mon
  18 October and records it executed the next day, before any decision: refused (R-3.3) and recorded as
  SZ's one compliance incident; the reminder still goes on 22 October, then the leader rejects; closed.
- departure audit (R-4): the organisation file loaded on 1 July makes li (BJ deputy director) staff, which
  opens the audit; notice 5 July, materials by wang on the due date 19 July, fieldwork with one finding,
  draft 9 August; li never answers, so the tick records no objection on 20 August; final report 23 August
  with the finding open (rectification due 22 October), finding rectified 21 October, closed 22 October.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from machines.info_quota import accept_item, add_item
from machines.investment import add_investment
from outpost.app import App
from store.reports import SqlReports
from tests.conftest import ORG_FILE, local, point_cli_at, set_time
from workflow.compliance import build, read
from workflow.errors import RuleViolation
from workflow.ports import CaseFilter

Action = Callable[[], Any]
YEAR_END = local(2028, 1, 1, 0, 0)

# Accepted information items per month (index 0 = January) and how many are logged.
BJ_ACCEPTED = [4, 4, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4]
SZ_ACCEPTED = [4, 4, 4, 4, 4, 3, 4, 0, 4, 4, 3, 4]
SZ_NOTHING_LOGGED = {8}


class Script:
    """Actions at given local times, run after the day's 09:00 tick (or before the year-end tick)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.actions: list[tuple[datetime, int, str, Action]] = []
        self.ids: dict[str, int] = {}  # cases opened by the script (matters, the departure audit), by name

    def on(self, month: int, day: int, what: str, action: Action, hour: int = 10, minute: int = 0) -> None:
        at = local(2027, month, day, hour, minute)
        assert (hour, minute) >= (9, 1), "actions come after the day's tick"
        self.actions.append((at, len(self.actions), what, action))

    def case(self, process: str, office: str, period: str) -> int:
        with self.app.store.transaction(write=False) as tx:
            found = tx.find_case(process, office, period)
        assert found is not None, (process, office, period)
        return found.id

    def advance(self, process: str, office: str, period: str, trigger: str, who: str, **options: Any) -> Action:
        return lambda: self.app.service.advance(self.case(process, office, period), trigger, who,
                                                options=options or None)

    def run(self) -> list[dict[str, Any]]:
        """Tick every day at 09:00, do the day's actions, then tick at the year's end; returns the ticks."""
        ticks: list[dict[str, Any]] = []
        pending = sorted(self.actions, key=lambda a: (a[0], a[1]))
        day = date(2027, 1, 1)
        while day.year == 2027:
            now = local(day.year, day.month, day.day, 9, 0)
            set_time(self.app, now)
            ticks.append(self.app.ticker.tick(now).as_json())
            until = now + timedelta(days=1)
            while pending and pending[0][0] < until:
                at, _n, what, action = pending.pop(0)
                set_time(self.app, at)
                try:
                    action()
                except Exception as exc:  # name the scripted step that failed
                    raise AssertionError(f"{at:%Y-%m-%d %H:%M} {what}: {exc}") from exc
            day += timedelta(days=1)
        assert not pending
        set_time(self.app, YEAR_END)
        ticks.append(self.app.ticker.tick(YEAR_END).as_json())
        return ticks


def script_year(app: App, folder: Path) -> Script:
    s = Script(app)
    adv = s.advance

    # -- work reports (R-5) ------------------------------------------------------------------------------
    s.on(6, 25, "BJ submits H1 on the due date", adv("report", "BJ", "2027-H1", "submit", "wang"), 23, 59)
    s.on(6, 28, "SZ submits H1 late", adv("report", "SZ", "2027-H1", "submit", "chen"))
    for office in ("BJ", "SZ"):
        s.on(6, 30, f"{office} H1 accepted", adv("report", office, "2027-H1", "accept", "sun"))
    s.on(7, 5, "BJ H1 assessed", adv("report", "BJ", "2027-H1", "assess", "sun", score="88"))
    s.on(7, 5, "SZ H1 assessed", adv("report", "SZ", "2027-H1", "assess", "liu", score="75"))
    s.on(12, 20, "BJ submits Y with its plan", adv("report", "BJ", "2027-Y", "submit", "wang", plan="2028年工作计划"))
    s.on(12, 22, "BJ Y accepted", adv("report", "BJ", "2027-Y", "accept", "sun"))
    s.on(12, 23, "BJ Y assessed", adv("report", "BJ", "2027-Y", "assess", "liu", score="90"))

    # -- quarterly financial statements (R-6.1) ----------------------------------------------------------------
    s.on(1, 12, "BJ 2026-Q4 statement", adv("fin_statement", "BJ", "2026-Q4", "submit", "wang"))
    s.on(1, 15, "SZ 2026-Q4 statement on the due date", adv("fin_statement", "SZ", "2026-Q4", "submit", "chen"),
         23, 0)
    s.on(4, 15, "BJ Q1 statement at 23:59 on the due date", adv("fin_statement", "BJ", "2027-Q1", "submit", "wang"),
         23, 59)
    s.on(4, 19, "SZ Q1 statement late", adv("fin_statement", "SZ", "2027-Q1", "submit", "chen"))
    s.on(7, 10, "BJ Q2 statement", adv("fin_statement", "BJ", "2027-Q2", "submit", "wang"))
    s.on(7, 10, "SZ Q2 statement", adv("fin_statement", "SZ", "2027-Q2", "submit", "chen"))
    s.on(7, 12, "BJ Q2 returned", adv("fin_statement", "BJ", "2027-Q2", "request_revision", "qian"))
    s.on(7, 20, "BJ Q2 resubmitted", adv("fin_statement", "BJ", "2027-Q2", "resubmit", "wang"))
    s.on(10, 14, "BJ Q3 statement", adv("fin_statement", "BJ", "2027-Q3", "submit", "wang"))
    for office, period, day in (("BJ", "2026-Q4", (1, 18)), ("SZ", "2026-Q4", (1, 18)), ("BJ", "2027-Q1", (4, 20)),
                                ("SZ", "2027-Q1", (4, 20)), ("SZ", "2027-Q2", (7, 16)), ("BJ", "2027-Q2", (7, 21)),
                                ("BJ", "2027-Q3", (10, 18))):
        s.on(*day, f"{office} {period} statement accepted", adv("fin_statement", office, period, "accept", "qian"))

    # -- the 2026 year-end audit (R-6.2) ----------------------------------------------------------------------
    s.on(1, 11, "BJ 2026 audit started", adv("annual_audit", "BJ", "2026-Y", "start", "zhou"))
    s.on(3, 10, "BJ 2026 audit reported", adv("annual_audit", "BJ", "2026-Y", "submit_report", "zhou"))
    s.on(3, 15, "BJ 2026 audit closed", adv("annual_audit", "BJ", "2026-Y", "close", "liu"))
    s.on(2, 1, "SZ 2026 audit started", adv("annual_audit", "SZ", "2026-Y", "start", "zhou"))
    s.on(4, 12, "SZ 2026 audit reported late", adv("annual_audit", "SZ", "2026-Y", "submit_report", "zhou"))
    s.on(4, 20, "SZ 2026 audit closed", adv("annual_audit", "SZ", "2026-Y", "close", "zhou"))

    # -- information (R-6.3) -------------------------------------------------------------------------------
    logged: dict[tuple[str, int], list[int]] = {}

    def log(office: str, month: int, who: str, n: int) -> Action:
        def act() -> None:
            item = add_item(app.service, who, f"{office} {month:02d} item {n}")
            assert item.id is not None
            logged.setdefault((office, month), []).append(item.id)
        return act

    def accept(office: str, month: int, index: int) -> Action:
        return lambda: accept_item(app.service, logged[(office, month)][index], "sun")

    offices = (("BJ", BJ_ACCEPTED, ("wang", "li", "zhao")), ("SZ", SZ_ACCEPTED, ("chen", "huang")))
    for office, counts, members in offices:
        for month, accepted in enumerate(counts, start=1):
            n_logged = 0 if office == "SZ" and month in SZ_NOTHING_LOGGED else accepted + 1
            for n in range(n_logged):
                s.on(month, 3, f"{office} logs item {n} of {month}", log(office, month, members[n % len(members)], n),
                     10, n)
            for n in range(accepted):
                if office == "BJ" and month == 12 and n == accepted - 1:
                    s.on(12, 31, "BJ's fourth December item accepted at 23:59", accept(office, month, n), 23, 59)
                else:
                    s.on(month, 10, f"{office} item {n} of {month} accepted", accept(office, month, n), 10, n)

    # -- investment (R-6.4, R-6.5) ---------------------------------------------------------------------------
    def invest(who: str, amount: str, source: str, project: str, *credits: str) -> Action:
        return lambda: add_investment(app.service, who, amount, source, project, credits=list(credits))

    s.on(3, 10, "BJ investment 1", invest("wang", "10000000", "domestic", "物流园区", "wang=10000000"))
    s.on(6, 15, "BJ investment 2", invest("li", "2000万", "foreign", "新能源电池厂", "wang=20000000"))
    s.on(9, 20, "BJ investment 3", invest("zhao", "15,000,000", "domestic", "冷链仓储", "zhao=15000000"))
    s.on(11, 18, "BJ investment 4", invest("li", "5000000", "domestic", "跨境电商", "li=4999999"))
    s.on(2, 5, "SZ investment 1", invest("huang", "9999999", "domestic", "港口物流", "huang=9999999"))
    s.on(8, 8, "SZ investment 2", invest("chen", "10000000", "foreign", "电子元件", "chen=10000000"))
    s.on(12, 30, "SZ investment 3", invest("huang", "10000000", "domestic", "数据中心", "huang=5000001"))

    # -- leave (R-2) -----------------------------------------------------------------------------------------
    leaves: dict[str, int] = {}

    def ask(key: str, who: str, start: str, end: str) -> Action:
        def act() -> None:
            leaves[key] = app.service.open("leave", who, {"start": start, "end": end, "reason": "事假"}).id
        return act

    def leave_step(key: str, trigger: str, who: str) -> Action:
        return lambda: app.service.advance(leaves[key], trigger, who)

    s.on(3, 1, "zhao asks for 10 days in May", ask("zhao", "zhao", "2027-05-10", "2027-05-19"))
    s.on(3, 1, "wang approves zhao's leave", leave_step("zhao", "approve", "wang"), 15, 0)
    s.on(5, 20, "zhao is back", leave_step("zhao", "return", "zhao"))
    s.on(8, 1, "wang records 5 days (R-2.2)", ask("wang1", "wang", "2027-08-02", "2027-08-06"))
    s.on(8, 7, "wang is back", leave_step("wang1", "return", "wang"))
    s.on(9, 15, "wang asks for 10 days in October", ask("wang2", "wang", "2027-10-01", "2027-10-10"))
    s.on(9, 16, "liu approves wang's leave", leave_step("wang2", "approve", "liu"))
    s.on(10, 11, "wang is back", leave_step("wang2", "return", "wang"))
    s.on(6, 10, "huang asks for 20 days in July", ask("huang", "huang", "2027-07-01", "2027-07-20"))
    s.on(6, 11, "chen approves huang's leave", leave_step("huang", "approve", "chen"))
    s.on(12, 10, "chen records 3 days", ask("chen", "chen", "2027-12-13", "2027-12-15"))
    s.on(12, 16, "chen is back", leave_step("chen", "return", "chen"))

    # -- major matters (R-3) -----------------------------------------------------------------------------------
    def request(key: str, who: str, category: str, title: str, planned: str, amount: str) -> Action:
        def act() -> None:
            s.ids[key] = app.service.open("matter", who, {"category": category, "kind": "request", "title": title,
                                                           "event_date": planned, "amount": amount}).id
        return act

    def step(key: str, trigger: str, who: str, **options: Any) -> Action:
        return lambda: app.service.advance(s.ids[key], trigger, who, options=options or None)

    def execute_unapproved(key: str, who: str) -> None:
        with pytest.raises(RuleViolation) as refused:
            app.service.advance(s.ids[key], "execute", who)
        assert refused.value.rule_id == "R-3.3"

    s.on(3, 2, "wang requests a car purchase for 30 April",
         request("car", "wang", "asset_purchase", "购置公务车", "2027-04-30", "350000"))
    s.on(3, 10, "liu approves the car after the reminder and the escalation", step("car", "approve", "liu"))
    s.on(5, 5, "wang records the car bought on 30 April", step("car", "execute", "wang", date="2027-04-30"))
    s.on(5, 6, "sun closes the car purchase", step("car", "close", "sun"))
    s.on(10, 18, "chen requests a disposal for 30 November",
         request("disposal", "chen", "asset_disposal", "处置报废办公设备", "2027-11-30", "80000"))
    s.on(10, 19, "chen records the disposal executed before approval (refused, R-3.3)",
         lambda: execute_unapproved("disposal", "chen"))
    s.on(10, 22, "liu rejects the disposal after the reminder", step("disposal", "reject", "liu"))
    s.on(10, 25, "sun closes the rejected disposal", step("disposal", "close", "sun"))

    # -- departure audit (R-4) ---------------------------------------------------------------------------------
    text = ORG_FILE.read_text(encoding="utf-8")
    li_roles = 'id = "li"\nname = "李明"\nemail = "li@bj.example.org"\noffice = "BJ"\n' \
               'roles = ["deputy_director", "petition_deputy"]'
    assert text.count(li_roles) == 1
    changed = folder / "org-2027-07.toml"
    changed.write_text(text.replace(li_roles, li_roles.replace('["deputy_director", "petition_deputy"]',
                                                               '["staff"]')), encoding="utf-8")

    def org_change() -> None:
        result = app.load_org(changed)
        assert (result["cadre_changes"], result["people_changed"]) == (["li"], ["li"]), result
        [s.ids["audit"]] = result["departure_audits_opened"]

    def rectify() -> None:
        with app.store.transaction(write=False) as tx:
            [finding] = tx.items(s.ids["audit"], "finding")
        app.service.advance(s.ids["audit"], "rectify_finding", "zhou", options={"finding": str(finding.id)})

    s.on(7, 1, "org load: li, BJ deputy director, becomes staff (R-4.1)", org_change)
    s.on(7, 5, "zhou issues the audit notice", step("audit", "issue_notice", "zhou"))
    s.on(7, 19, "wang submits the materials on the due date", step("audit", "submit_materials", "wang"))
    s.on(7, 21, "zhou starts the fieldwork", step("audit", "start_fieldwork", "zhou"))
    s.on(8, 2, "zhou records a finding", step("audit", "add_finding", "zhou", finding="信访接待经费台账不全"))
    s.on(8, 9, "zhou delivers the draft report; li never answers", step("audit", "deliver_draft", "zhou"))
    s.on(8, 23, "zhou issues the final report, the finding still open", step("audit", "issue_final", "zhou"))
    s.on(10, 21, "zhou confirms the finding rectified", rectify)
    s.on(10, 22, "zhou closes the audit", step("audit", "close", "zhou"))
    return s


def expected_figures(disposal: int) -> list[dict[str, Any]]:
    """`disposal`: SZ's matter whose execution chen tried to record before any decision (R-3.3)."""
    def months(counts: list[int], nothing: set[int] = frozenset()) -> list[tuple[str, str, int, int]]:
        return [(f"2027-{m:02d}", "met" if a >= 4 else "short", a, 0 if m in nothing else a + 1)
                for m, a in enumerate(counts, start=1)]

    return [
        {"office": "BJ", "year": 2027, "investment_total": 50_000_000, "investment_target_met": True,
         "investment_state": "met",
         "reports": [("2027-H1", "assessed", False, "on_time", 88, 1), ("2027-Y", "assessed", False, "on_time", 90, 1)],
         "fin_statements": [("2027-Q1", "accepted", "on_time"), ("2027-Q2", "accepted", "on_time"),
                            ("2027-Q3", "accepted", "on_time"), ("2027-Q4", "open", "pending")],
         "fin_statements_late": [], "info_short_months": ["2027-03"], "info_months": months(BJ_ACCEPTED),
         "presence": [("li", 0, 121), ("wang", 15, 121), ("zhao", 10, 121)],
         "people": [("li", 4_999_999, None), ("wang", 30_000_000, "recommended_excellent"),
                    ("zhao", 15_000_000, "excellent")],
         "annual_audit": {"period": "2027-Y", "state": "scheduled", "due": "2028-03-31", "late": False},
         "investments": 4, "incidents": []},
        {"office": "SZ", "year": 2027, "investment_total": 29_999_999, "investment_target_met": False,
         "investment_state": "missed",
         "reports": [("2027-H1", "assessed", True, "late", 75, 2), ("2027-Y", "open", True, "missing", None, None)],
         "fin_statements": [("2027-Q1", "accepted", "late"), ("2027-Q2", "accepted", "on_time"),
                            ("2027-Q3", "open", "missing"), ("2027-Q4", "open", "pending")],
         "fin_statements_late": ["2027-Q1", "2027-Q3"], "info_short_months": ["2027-06", "2027-08", "2027-11"],
         "info_months": months(SZ_ACCEPTED, SZ_NOTHING_LOGGED),
         "presence": [("chen", 3, 121), ("huang", 20, 121)],
         "people": [("chen", 10_000_000, None), ("huang", 15_000_000, None)],
         "annual_audit": {"period": "2027-Y", "state": "scheduled", "due": "2028-03-31", "late": False},
         "investments": 3,
         # the refused execution is SZ's one compliance incident, as the report lists it; the
         # matter was still `submitted` (undecided) when chen tried.
         "incidents": [{"case": disposal, "process": "matter", "at": "2027-10-19T10:00:00+08:00", "rule": "R-3.3",
                        "trigger": "compliance_incident", "actor": "chen",
                        "details": {"rule": "R-3.3", "attempted": "execute", "state": "submitted", "by": "chen",
                                    "at": local(2027, 10, 19, 10, 0)}}]},
    ]


def figures(report: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The compliance report reduced to its figures (ids and timestamps left out, but an incident's kept;
    the instant in its details compared as an instant)."""
    def incident(i: dict[str, Any]) -> dict[str, Any]:
        return {**i, "details": {**i["details"], "at": datetime.fromisoformat(i["details"]["at"])}}

    return [{
        "office": o["office"], "year": o["year"], "investment_total": o["investment_total"],
        "investment_target_met": o["investment_target_met"], "investment_state": o["investment_state"],
        "reports": [(r["period"], r["state"], r["late"], r["status"], r["score"], r["rank"]) for r in o["reports"]],
        "fin_statements": [(f["period"], f["state"], f["status"]) for f in o["fin_statements"]],
        "fin_statements_late": o["fin_statements_late"], "info_short_months": o["info_short_months"],
        "info_months": [(m["month"], m["state"], m["accepted"], m["logged"]) for m in o["info_months"]],
        "presence": [(p["person"], p["off_site_days"], p["limit"]) for p in o["presence"]],
        "people": [(p["person"], p["credited"], p["grade"]) for p in o["people"]],
        "annual_audit": o["annual_audit"], "investments": len(o["investments"]),
        "incidents": [incident(i) for i in o["incidents"]],
    } for o in report]


@pytest.mark.slow
def test_a_whole_year_of_two_offices(app: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """365 daily ticks and the year-end tick with the scripted year: the compliance report is exactly as
    expected (SZ's R-3.3 incident included), every deadline fired at most once and on the first tick after
    it was due (the matters' R-3.6 and the departure audit's R-4.5 ones by kind and due time), nothing is
    left due or failed, and the history verifies."""
    started = time.monotonic()
    script = script_year(app, tmp_path)
    ticks = script.run()
    car, disposal, audit = (script.ids[k] for k in ("car", "disposal", "audit"))
    elapsed = time.monotonic() - started

    # -- the compliance report ------------------------------------------------------------------------------
    report = build(read(SqlReports(app.store), 2027), YEAR_END)
    assert figures(report) == expected_figures(disposal)

    # -- deadlines: each fired once, on the first tick after it was due; nothing due is left ------------------
    cases = app.store.list_cases(CaseFilter())
    rows = [(c, d) for c in cases for d in app.case_view(c.id, with_history=False)["deadlines"]]
    statuses = Counter(d["status"] for _c, d in rows)
    assert statuses["failed"] == 0 and set(statuses) <= {"fired", "cancelled", "skipped", "pending"}, statuses
    pending = [d for _c, d in rows if d["status"] == "pending"]
    assert all(datetime.fromisoformat(d["due_at"]) > YEAR_END for d in pending), pending
    fired = [(c, d) for c, d in rows if d["status"] == "fired"]
    for c, d in fired:
        lag = datetime.fromisoformat(d["fired_at"]) - datetime.fromisoformat(d["due_at"])
        assert timedelta(0) <= lag < timedelta(days=1), (c.process, c.period, d)
    assert len({d["id"] for _c, d in fired}) == len(fired)
    fired_ids = [f["id"] for t in ticks for f in t["fired"]]
    assert len(fired_ids) == len(set(fired_ids)) == len(fired)  # each fired by exactly one tick
    assert all(t["failed"] == [] for t in ticks)
    assert ticks[-1]["opened"] and not any(t["interrupted"] for t in ticks)

    def kinds(process: str, period_prefix: str = "2027") -> Counter[str]:
        return Counter(d["kind"] for c, d in fired
                       if c.process == process and (c.period or "").startswith(period_prefix))

    assert kinds("info_quota") == {"reminder": 24, "judge": 24, "verdict": 24}
    assert kinds("investment") == {"progress": 6, "judge": 2, "verdict": 2}
    # Work reports: 4 reminders x 2 offices x 2 periods, less BJ's last two for Y (submitted 20 December);
    # overdue for SZ's H1 and Y; Y's repeat on Wednesday 29 December.
    assert kinds("report") == {"reminder": 14, "overdue": 2, "overdue_reminder": 1}
    # Statements Q1–Q3: 4 reminders (14, 7, 3, 1 days before, as) x 2 offices x 3 quarters, less the
    # 12 and 14 July ones (both submitted on 10 July); SZ overdue in Q1 (Fri 16 April) and Q3 (Sat 16
    # October), Q3's repeated every 3 working days (Mon–Fri: 2027 has no loaded holiday data) until the year's end.
    q3 = next(c for c in cases if c.process == "fin_statement" and c.office == "SZ" and c.period == "2027-Q3")
    repeats = [d for c, d in fired if c.id == q3.id and d["kind"] == "overdue_reminder"]
    assert kinds("fin_statement") == {"reminder": 20, "overdue": 2, "overdue_reminder": len(repeats)}
    assert [d["due_at"][:10] for d in repeats][:3] == ["2027-10-20", "2027-10-25", "2027-10-28"]
    assert repeats[-1]["due_at"][:10] == "2027-12-30" and len(repeats) == 18
    assert kinds("annual_audit", "2026") == {"reminder": 2, "overdue": 1}  # SZ's 2026 audit only

    def outcomes(case_id: int) -> dict[str, list[tuple[str, str]]]:
        """A case's deadlines by status: (kind, local due time) in due order."""
        out: dict[str, list[tuple[str, str]]] = {}
        for c, d in sorted(rows, key=lambda r: (r[1]["due_at"], r[1]["kind"])):
            if c.id == case_id:
                out.setdefault(d["status"], []).append((d["kind"], d["due_at"][:16]))
        return out

    # Matters (R-3.6, policy: reminder 3 and escalation 5 working days after the submission, same time of
    # day; escalation at once from the day the planned date is 2 working days away, here 00:00 on Wed 28
    # April: the outcome asked for at 09:00 on the first working day after the planned date).
    # The car (Tue 2 March 10:00): reminded Fri 5 March, escalated Tue 9 March, approved 10 March; asked for
    # the outcome Mon 3 May, recorded 5 May.
    # working-day deadlines end with their working day (issue 17), hence 23:59
    assert outcomes(car) == {
        "fired": [("decision_reminder", "2027-03-05T23:59"), ("decision_escalation", "2027-03-09T23:59"),
                  ("follow_up", "2027-05-03T09:00")],
        "cancelled": [("planned_date_near", "2027-04-28T00:00")]}
    # The disposal (Mon 18 October 10:00): the refused execution left its deadlines alone; reminded Thu 21
    # October, rejected on the 22nd, before the escalation (Mon 25 October) and the planned date's
    # (Fri 26 November: two working days, 29 and 30 November, from then on).
    assert outcomes(disposal) == {
        "fired": [("decision_reminder", "2027-10-21T23:59")],
        "cancelled": [("decision_escalation", "2027-10-25T23:59"), ("planned_date_near", "2027-11-26T00:00")]}
    # The departure audit (R-4.5, policy: reminders 3 and 1 days before each due date at 09:00, the step
    # after it at 00:00 the next day). Opened Thu 1 July, the notice is due by the end of Thu 8 July (5
    # working days, issue 16 point 10): reminded at 09:00 on Mon 5 July, before zhou issues it at 10:00,
    # which cancels the second reminder and the escalation. Materials due Mon 19 July (10 working days
    # after Mon 5 July),
    # submitted that day; feedback due Thu 19 August (10 days after the draft of 9 August), none, so no
    # objection at 00:00 on 20 August; final report 23 August with the finding open: rectification starts
    # at once, due Fri 22 October (60 days), the finding rectified 21 October and the audit closed
    # on the due date, before the escalation.
    assert outcomes(audit) == {
        "fired": [("notice_reminder", "2027-07-05T09:00"),
                  ("materials_reminder", "2027-07-16T09:00"), ("materials_reminder", "2027-07-18T09:00"),
                  ("feedback_reminder", "2027-08-16T09:00"), ("feedback_reminder", "2027-08-18T09:00"),
                  ("no_objection", "2027-08-20T00:00"), ("rectification_start", "2027-08-23T10:00"),
                  ("rectification_reminder", "2027-10-19T09:00"), ("rectification_reminder", "2027-10-21T09:00")],
        "cancelled": [("notice_reminder", "2027-07-07T09:00"), ("notice_overdue", "2027-07-09T00:00"),
                      ("materials_overdue", "2027-07-20T00:00"), ("rectification_overdue", "2027-10-23T00:00")]}

    def history(case_id: int) -> list[tuple[str, str, str, str | None]]:
        return [(h["trigger"], h["from"], h["to"], h["actor"]) for h in app.case_view(case_id)["history"]]

    assert history(car) == [
        ("open", None, "submitted", "wang"), ("escalate", "submitted", "submitted", None),
        ("approve", "submitted", "approved", "liu"), ("execute", "approved", "executed", "wang"),
        ("close", "executed", "closed", "sun")]
    assert history(disposal) == [
        ("open", None, "submitted", "chen"), ("compliance_incident", "submitted", "submitted", "chen"),
        ("reject", "submitted", "rejected", "liu"), ("close", "rejected", "closed", "sun")]
    assert history(audit) == [
        ("open", None, "opened", None), ("issue_notice", "opened", "notified", "zhou"),
        ("submit_materials", "notified", "materials_submitted", "wang"),
        ("start_fieldwork", "materials_submitted", "fieldwork", "zhou"),
        ("add_finding", "fieldwork", "fieldwork", "zhou"), ("deliver_draft", "fieldwork", "draft_reported", "zhou"),
        ("no_objection", "draft_reported", "feedback_received", None),
        ("issue_final", "feedback_received", "final_reported", "zhou"),
        ("begin_rectification", "final_reported", "rectifying", None),
        ("rectify_finding", "rectifying", "rectifying", "zhou"), ("close", "rectifying", "closed", "zhou")]
    audit_data = app.case_view(audit, with_history=False)["data"]
    assert (audit_data["feedback"], audit_data["materials_late"], audit_data["findings"]) == (
        "no_objection", False, {"rectified": 1, "waived": 0})

    # -- mail: nothing failed; the overdue notices went to the director and the supervising leader ------------
    mails = app.store.mails()
    assert [m for m in mails if m.status == "failed"] == []
    assert Counter(a for m in mails if m.event == "report.overdue" for a in m.to) == {
        "chen@sz.example.org": 2, "liu@gov.example.org": 2}
    assert Counter(m.event for m in mails)["info_quota.short"] == 2 * 4  # director + leader, 4 short months
    sent_to = {event: sorted(a for m in mails if m.event == event for a in m.to)
               for event in ("matter.reminder", "matter.escalated", "matter.compliance_incident",
                             "departure_audit.no_objection")}
    assert sent_to == {
        "matter.reminder": ["liu@gov.example.org"] * 2,  # a request's decider, once per matter
        # the car's escalation goes above liu, who decides it, to the clerk (issue 16 point 2, R-3.6)
        "matter.escalated": ["sun@gov.example.org"],
        "matter.compliance_incident": ["liu@gov.example.org", "sun@gov.example.org"],
        "departure_audit.no_objection": ["liu@gov.example.org", "zhou@gov.example.org"]}

    # -- the history verifies; the CLI says the same --------------------------------------------------------
    assert app.verify().ok
    from freezegun import freeze_time

    from outpost.cli import run

    point_cli_at(monkeypatch, app.settings.database_url, tmp_path)
    capsys.readouterr()
    with freeze_time("2027-12-31 16:00:00"):  # 00:00 on 1 January 2028 in Beijing
        assert run(["report", "compliance", "--year", "2027", "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(report, ensure_ascii=False))
        assert run(["report", "compliance", "--year", "2027", "--office", "SZ"]) == 0
        table = capsys.readouterr().out
        assert f"2027-10-19T10:00:00+08:00 case {disposal} (matter) R-3.3: compliance_incident by chen" in table
        assert run(["audit", "verify"]) == 0
    print(f"whole year on {app.store.dialect}: {elapsed:.1f} s, {len(ticks)} ticks, {len(fired)} deadlines "
          f"fired, {len(mails)} mails, {len(cases)} cases")
