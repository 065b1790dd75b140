"""`outpost report compliance`: one office's year against the regulation, from its cases.

Engine-agnostic and process-agnostic: a `ComplianceSource` (store/reports.py implements it with SQL) hands
over the year's cases of every process that has a compliance section, the items logged against them, their
records, the compliance incidents recorded in the history and the off-site days; `build` gives each office
its object (the JSON shape of PRODUCT.md, "compliance") and lets each process add its own section to it
(`ProcessDefinition.compliance`). The rules are the processes'; this module only assembles.

A process's cases belong to a year by their period (`2027-H1`, `2027-05`, …) or, for a process without
periods, by the day they were opened (local time, R-0.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from workflow.model import Case, Item, OffSite, Org, Record
from workflow.timeutil import end_of_day, local_iso, local_midnight

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
    cases: list[Case]  # the year's cases of every process with a compliance section
    items: dict[int, list[Item]] = field(default_factory=dict)  # by case id
    incidents: list[Incident] = field(default_factory=list)
    off_site: list[OffSite] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)  # the year's records of those processes


@dataclass(frozen=True)
class Section:
    """What one process's compliance section sees for one office and year."""

    office: str
    year: int
    now: datetime
    org: Org
    cases: list[Case]  # this process's cases of this office in the year, by period then id
    every_office: list[Case]  # this process's cases of the year, every office (a ranking compares them)
    items: dict[int, list[Item]]
    off_site: list[OffSite]
    records: list[Record]  # this process's records of the year


class ComplianceSource(Protocol):
    def year_data(self, year: int, processes: list[str], with_cases: list[str] | None = None) -> YearData: ...


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """[00:00 on 1 January, 00:00 on the next 1 January), local time (R-0.4)."""
    return local_midnight(date(year, 1, 1)), local_midnight(date(year + 1, 1, 1))


def submission_status(data: dict[str, Any], now: datetime) -> str:
    """`on_time`, `late` (submitted after the due date), `missing` (past it and never submitted: counted as
    late too) or `pending` (not due yet): the status of a dated submission (R-5, R-6.1, R-6.2)."""
    if "submitted_at" in data:
        return "late" if data.get("late") else "on_time"
    due = data.get("due")
    if due and now > end_of_day(date.fromisoformat(str(due))):
        return "missing"
    return "pending"


def stamp(value: Any) -> str | None:
    return local_iso(datetime.fromisoformat(str(value))) if value else None


def processes_with_sections() -> tuple[list[str], list[str]]:
    """The processes with a section of the report, and those of them whose section reads the year's cases."""
    from workflow import registry

    found = [name for name in registry.names() if registry.latest(name).compliance is not None]
    return found, [name for name in found if registry.latest(name).compliance_cases]


def read(source: ComplianceSource, year: int) -> YearData:
    processes, with_cases = processes_with_sections()
    return source.year_data(year, processes, with_cases)


def ranking(result: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per report period, the offices in rank order (R-5.3), from the offices' `reports` sections."""
    periods: dict[str, list[dict[str, Any]]] = {}
    for entry in result:
        for r in entry.get("reports", []):
            periods.setdefault(str(r["period"]), []).append(
                {"office": entry["office"], "score": r["score"], "rank": r["rank"]})
    return [{"period": period, "offices": sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0,
                                                                    str(r["office"])))}
            for period, rows in sorted(periods.items())]


def build(data: YearData, now: datetime, office: str | None = None) -> list[dict[str, Any]]:
    """One compliance object per office (all offices, or just `office`), in office-code order."""
    from workflow import registry

    year = data.year
    cases = sorted(data.cases, key=lambda c: (c.period or "", c.office or "", c.id))
    out: list[dict[str, Any]] = []
    for code in sorted(data.org.offices):
        if office is not None and code != office:
            continue
        if not data.org.offices[code].active and not any(c.office == code for c in cases):
            continue  # an office left out of the organisation, with no duties that year
        entry: dict[str, Any] = {"office": code, "office_name": data.org.offices[code].name, "year": year,
                                 "as_of": local_iso(now)}
        for name in registry.names():
            definition = registry.latest(name)
            if definition.compliance is None:
                continue
            mine = [c for c in cases if c.process == name]
            entry.update(definition.compliance(Section(
                office=code, year=year, now=now, org=data.org, cases=[c for c in mine if c.office == code],
                every_office=mine, items=data.items, off_site=data.off_site,
                records=[r for r in data.records if r.process == name])))
        entry["incidents"] = [
            {"case": i.case, "process": i.process, "at": local_iso(i.at), "rule": i.details.get("rule"),
             "trigger": i.trigger, "actor": i.actor, "details": i.details}
            for i in sorted(data.incidents, key=lambda i: (i.at, i.case, i.seq)) if i.office == code
        ]
        out.append(entry)
    return out


def text_lines(entry: dict[str, Any]) -> list[str]:
    """The lines each process adds to the readable report for one office (`compliance_text`)."""
    from workflow import registry

    lines: list[str] = []
    for name in registry.names():
        definition = registry.latest(name)
        if definition.compliance_text is not None:
            lines += definition.compliance_text(entry)
    return lines
