"""`outpost report compliance`: one office's year against the regulation, from its cases.

Engine-agnostic: a `ComplianceSource` (store/reports.py implements it with SQL) hands over the year's
periodic cases, the items logged against them, the compliance incidents recorded in the history and the
off-site days; `build` turns them into the JSON shape of PRODUCT.md ("compliance"), one object per
office. The rules are the machines' (their verdicts and figures are kept in the case data); this module
only reads and ranks them.

Statuses of a dated submission (work reports, financial statements): `on_time`, `late` (submitted after
the due date), `missing` (past the due date and never submitted: counted as late too) or `pending`
(not due yet). The offices' reports are ranked per period by their assessment score (R-5.3): rank 1 is
the best, equal scores share a rank, unassessed reports are not ranked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from workflow.model import Case, Item, OffSite, Org, Person
from workflow.timeutil import days_in_year, end_of_day, local_iso, local_midnight, overlap_days

PROCESSES = ("report", "fin_statement", "info_quota", "investment", "annual_audit")
# History rows that record a compliance incident (R-3.3 "logged as a compliance incident"), whichever
# process writes them.
INCIDENT_TRIGGERS = ("incident", "compliance_incident")


@dataclass(frozen=True)
class Incident:
    case: int
    process: str
    office: str | None
    seq: int
    trigger: str
    actor: str | None
    at: datetime
    comment: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class YearData:
    """What the report reads for one year, every office."""

    year: int
    org: Org
    cases: list[Case]  # the periodic cases whose period lies in the year (PROCESSES)
    items: dict[int, list[Item]] = field(default_factory=dict)  # by case id
    incidents: list[Incident] = field(default_factory=list)
    off_site: list[OffSite] = field(default_factory=list)


class ComplianceSource(Protocol):
    def year_data(self, year: int) -> YearData: ...


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """[00:00 on 1 January, 00:00 on the next 1 January), local time (R-0.4)."""
    return local_midnight(date(year, 1, 1)), local_midnight(date(year + 1, 1, 1))


def presence_limit(year: int) -> int:
    """R-2.5: at least 2/3 of the year on site, so at most ⌊days/3⌋ off site (121, or 122 in a leap year)."""
    return days_in_year(year) // 3


# -- pieces ----------------------------------------------------------------------------------------------
def submission_status(data: dict[str, Any], now: datetime) -> str:
    if "submitted_at" in data:
        return "late" if data.get("late") else "on_time"
    due = data.get("due")
    if due and now > end_of_day(date.fromisoformat(str(due))):
        return "missing"
    return "pending"


def _stamp(value: Any) -> str | None:
    return local_iso(datetime.fromisoformat(str(value))) if value else None


def _ranks(cases: list[Case]) -> dict[int, int]:
    """R-5.3: offices ranked by their assessment score, per period; equal scores share a rank."""
    scored = [(int(c.data["score"]), c.id) for c in cases if c.data.get("score") is not None]
    return {cid: 1 + sum(1 for s, _ in scored if s > score) for score, cid in scored}


def _report_entry(c: Case, now: datetime, ranks: dict[int, int]) -> dict[str, Any]:
    status = submission_status(c.data, now)
    return {"period": c.period, "state": c.state, "late": status in ("late", "missing"), "status": status,
            "due": c.data.get("due"), "submitted_at": _stamp(c.data.get("submitted_at")),
            "score": c.data.get("score"), "rank": ranks.get(c.id)}


def _statement_entry(c: Case, now: datetime) -> dict[str, Any]:
    status = submission_status(c.data, now)
    return {"period": c.period, "state": c.state, "late": status in ("late", "missing"), "status": status,
            "due": c.data.get("due"), "submitted_at": _stamp(c.data.get("submitted_at")),
            "score": c.data.get("score")}  # fin_statement version 2's assessment (R-6.1, as R-5.3)


def _info_entry(c: Case, items: list[Item], now: datetime) -> dict[str, Any]:
    accepted = sum(1 for i in items if i.status == "accepted")
    quota = int(c.data.get("quota", 4))
    closes = c.data.get("closes")
    past = bool(closes) and now > end_of_day(date.fromisoformat(str(closes)))
    short = c.state == "short" or (c.state == "open" and past and accepted < quota)
    return {"month": c.period, "state": c.state, "logged": len(items), "accepted": accepted, "quota": quota,
            "short": short}


def _members(org: Org, office: str) -> list[Person]:
    return [p for p in sorted(org.people.values(), key=lambda p: p.id) if p.active and p.office == office]


def _off_site_days(rows: list[OffSite], person: str, year: int) -> int:
    """Days off site in the year; overlapping records (an extension next to its leave) count once."""
    days: set[date] = set()
    for r in rows:
        if r.person == person:
            first = max(r.start, date(year, 1, 1))
            days.update(first + timedelta(days=n) for n in range(overlap_days(r.start, r.end, year)))
    return len(days)


# -- the report ------------------------------------------------------------------------------------------
def build(data: YearData, now: datetime, office: str | None = None) -> list[dict[str, Any]]:
    """One compliance object per office (all offices, or just `office`), in office-code order."""
    year = data.year
    by_process: dict[str, list[Case]] = {p: [] for p in PROCESSES}
    for c in sorted(data.cases, key=lambda c: (c.period or "", c.office or "", c.id)):
        if c.process in by_process and (c.period or "").startswith(f"{year}-"):
            by_process[c.process].append(c)
    ranks: dict[int, int] = {}
    for period in sorted({c.period for c in by_process["report"]}, key=str):
        ranks.update(_ranks([c for c in by_process["report"] if c.period == period]))
    limit = presence_limit(year)
    out: list[dict[str, Any]] = []
    for code in sorted(data.org.offices):
        if office is not None and code != office:
            continue
        mine = {p: [c for c in cases if c.office == code] for p, cases in by_process.items()}
        if not data.org.offices[code].active and not any(mine.values()):
            continue  # an office left out of the organisation, with no duties that year
        reports = [_report_entry(c, now, ranks) for c in mine["report"]]
        statements = [_statement_entry(c, now) for c in mine["fin_statement"]]
        months = [_info_entry(c, data.items.get(c.id, []), now) for c in mine["info_quota"]]
        inv = next(iter(mine["investment"]), None)
        inv_data = inv.data if inv is not None else {}
        credited: dict[str, int] = {str(k): int(v) for k, v in dict(inv_data.get("credited", {})).items()}
        grades: dict[str, Any] = dict(inv_data.get("grades", {}))
        members = _members(data.org, code)
        names = [p.id for p in members] + sorted(set(credited) - {p.id for p in members})
        people = []
        for pid in names:
            p = data.org.person(pid)
            people.append({"person": pid, "name": p.name if p else pid,
                           "roles": sorted(p.roles) if p and p.active else [],
                           "credited": credited.get(pid, 0), "grade": grades.get(pid)})
        presence = []
        for p in members:
            days = _off_site_days(data.off_site, p.id, year)
            presence.append({"person": p.id, "off_site_days": days, "limit": limit, "over": days > limit})
        if inv is None:
            target_met = False
        elif inv.state in ("met", "missed"):
            target_met = inv.state == "met"
        else:
            target_met = bool(inv_data.get("target_met"))
        audit = next(iter(mine["annual_audit"]), None)
        investments = [
            {"id": i.id, "date": i.data.get("date"), "amount": int(i.data["amount"]), "source": i.data.get("source"),
             "project": i.data.get("project"), "credits": dict(i.data.get("credits", {})),
             "recorded_by": i.created_by}
            for i in (data.items.get(inv.id, []) if inv is not None else [])
        ]
        incidents = [
            {"case": i.case, "process": i.process, "at": local_iso(i.at), "rule": i.details.get("rule"),
             "trigger": i.trigger, "actor": i.actor, "details": i.details}
            for i in sorted(data.incidents, key=lambda i: (i.at, i.case, i.seq)) if i.office == code
        ]
        out.append({
            "office": code,
            "office_name": data.org.offices[code].name,
            "year": year,
            "as_of": local_iso(now),
            "investment_total": int(inv_data.get("total", 0)),
            "investment_target": int(inv_data.get("target", 0)) or None,
            "investment_target_met": target_met,
            "investment_state": inv.state if inv is not None else None,
            "investments": investments,
            "reports": reports,
            "fin_statements": statements,
            "fin_statements_late": [s["period"] for s in statements if s["late"]],
            "info_months": months,
            "info_short_months": [m["month"] for m in months if m["short"]],
            "annual_audit": None if audit is None else {
                "period": audit.period, "state": audit.state, "due": audit.data.get("due"),
                "late": bool(audit.data.get("late")) or bool(audit.data.get("overdue"))},
            "presence": presence,
            "people": people,
            "incidents": incidents,
        })
    return out


def ranking(data: YearData) -> list[dict[str, Any]]:
    """Per report period, the offices in rank order (R-5.3): for the readable report."""
    reports = [c for c in data.cases if c.process == "report" and (c.period or "").startswith(f"{data.year}-")]
    out = []
    for period in sorted({str(c.period) for c in reports}):
        cases = [c for c in reports if c.period == period]
        ranks = _ranks(cases)
        rows = sorted(({"office": c.office, "score": c.data.get("score"), "rank": ranks.get(c.id)} for c in cases),
                      key=lambda r: (r["rank"] is None, r["rank"] or 0, str(r["office"])))
        out.append({"period": period, "offices": rows})
    return out
