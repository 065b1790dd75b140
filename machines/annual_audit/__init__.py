"""`annual_audit` — the year-end financial audit of each office (REGULATION.md R-6.2).

One case per office per audited year (`2027-Y`), created by the daemon in `scheduled` N days before the
year ends (policy `annual_audit.open_days_before_year_end`, default 30: on 1 December). The General
Office's auditor starts the fieldwork (`in_progress`) and delivers the audit report (`reported`); the
auditor or the supervising leader closes it (`closed`).

The report is due by the end of the M-th month after the audited year (policy
`annual_audit.report_due_months_after_year_end`, default 3: 31 March). The auditors are reminded N days
before (policy `annual_audit.remind_days_before`); the day after, the case is flagged overdue and the
auditors and the supervising leader are told (the cycle `_periodic.PeriodicSubmission` holds, in both
active states, without the repeating reminder). An auditor who works in the audited office may not audit
it (independence, as R-4.3 for departure audits).
"""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from machines._common import n_days, office_directors, people, show, supervising_leaders
from machines._periodic import PeriodicSubmission, parse_year
from workflow import registry
from workflow.compliance import Section
from workflow.context import Ctx
from workflow.definition import Notice, OpenPlan, Period, ProcessDefinition, Refusal, Transition
from workflow.errors import BadInput
from workflow.model import Person
from workflow.policy import Policy
from workflow.timeutil import local_midnight
from workflow.wording import ordinal

HOME = Path(__file__).parent  # templates/ and policy.toml of this process

PROCESS = "annual_audit"
RULE = "R-6.2"
ACTIVE = ("scheduled", "in_progress")  # the report is still to come: reminders and overdue apply


def report_due(year: int, policy: Policy) -> tuple[date, str]:
    months = policy.int("annual_audit.report_due_months_after_year_end")
    y, m = divmod(12 + months - 1, 12)
    due_year, due_month = year + y, m + 1
    due = date(due_year, due_month, _calendar.monthrange(due_year, due_month)[1])
    return due, (f"the end of the {ordinal(months)} month after {year} ({RULE}, policy "
                 "annual_audit.report_due_months_after_year_end)")


def audit_periods(year: int, policy: Policy) -> list[Period]:
    opens = date(year, 12, 31) - timedelta(days=policy.int("annual_audit.open_days_before_year_end"))
    return [Period(key=f"{year}-Y", opens_at=local_midnight(opens), due=report_due(year, policy)[0])]


# -- who -------------------------------------------------------------------------------------------------
def auditors(ctx: Ctx) -> list[Person]:
    office = ctx.require_case().office
    return [p for p in people(ctx, "auditor") if p.office != office]


def independent_auditor(ctx: Ctx) -> Refusal | None:
    actor, case = ctx.actor, ctx.require_case()
    assert actor is not None
    if not actor.has("auditor"):
        return (RULE, "the year-end audit is carried out by the General Office's auditor")
    if actor.office is not None and actor.office == case.office:
        return (RULE, f"{actor.id} works in {case.office} and may not audit it")
    return None


def auditor_or_leader(ctx: Ctx) -> Refusal | None:
    actor = ctx.actor
    assert actor is not None
    if actor.has("supervising_leader"):
        return None
    return independent_auditor(ctx)


def scheduled_to(ctx: Ctx) -> list[Person]:
    return auditors(ctx) + office_directors(ctx)


def reported_to(ctx: Ctx) -> list[Person]:
    return office_directors(ctx) + supervising_leaders(ctx)


# -- the report's cycle: reminders and overdue as the periodic duties, in both active states ----------------
@dataclass(frozen=True)
class AuditCycle(PeriodicSubmission):
    """The audit report is due while the case is `scheduled` or `in_progress`: reminders already sent are
    not resent on entering `in_progress`, the overdue flag is raised once (no repeating reminder), and
    the mail invites the next step of the state the case is in."""

    def reminder_why(self, ctx: Ctx, due: date, at: datetime, n: int) -> str:
        return (f"audit report due {due} = {ctx.data['due_why']}; reminder {show(at)} = {n_days(n)} "
                f"before (policy annual_audit.remind_days_before)")

    def overdue_why(self, due: date, at: datetime) -> str:
        return f"overdue from {show(at)}: the day after the report's due date {due} ({self.rule})"

    def actions(self, ctx: Ctx) -> tuple[str, ...]:
        return ("start",) if ctx.require_case().state == "scheduled" else ("submit_report",)

    def due_reminders(self, ctx: Ctx) -> list[tuple[datetime, str]]:
        # entering in_progress late does not resend reminders already sent
        return [(at, why) for at, why in super().due_reminders(ctx) if at > ctx.now]

    def due_overdue(self, ctx: Ctx) -> tuple[datetime, str] | None:
        if ctx.data.get("overdue"):
            return None  # flagged once, whichever state it was in
        return super().due_overdue(ctx)


CYCLE = AuditCycle(process=PROCESS, section="annual_audit", rule=RULE, due_rule=RULE, submitters=auditors,
                   leaders=supervising_leaders, states=ACTIVE, repeat_overdue=False, submitted_key="reported_at")


# -- effects ---------------------------------------------------------------------------------------------
def record_start(ctx: Ctx) -> None:
    ctx.data["started_at"] = ctx.now.isoformat()


def open_audit(ctx: Ctx) -> OpenPlan:
    office, period = ctx.params.get("office"), ctx.params.get("period")
    if not office or not period or office not in ctx.org.offices:
        raise BadInput("an annual audit case is opened by the daemon for an office and a year")
    year = parse_year(str(period))
    due, why = report_due(year, ctx.policy)
    data: dict[str, Any] = {"year": year, "due": due.isoformat(), "due_why": why, "late": False}
    return OpenPlan(state="scheduled", office=str(office), subject=None, data=data, period=f"{year}-Y",
                    details={"rule": RULE, "why": f"year-end audit of {office} for {year}; report due {due} = {why}"})



# -- its section of `report compliance` (R-6.2) ---------------------------------------------------------------
def compliance(section: Section) -> dict[str, Any]:
    audit = next(iter(section.cases), None)
    return {"annual_audit": None if audit is None else {
        "period": audit.period, "state": audit.state, "due": audit.data.get("due"),
        "late": bool(audit.data.get("late")) or bool(audit.data.get("overdue"))}}


DEFINITION = registry.register(ProcessDefinition(
    name=PROCESS,
    version=1,
    title="Year-end financial audit (年度财务审计)",
    names={"zh": "年度财务审计", "en": "annual audit"},
    home=HOME,
    compliance=compliance,
    states=("scheduled", "in_progress", "reported", "closed"),
    initial_states=("scheduled",),
    final_states=("closed",),
    opener=open_audit,
    open_options=frozenset({"office", "period"}),
    periodic=True,
    periods=audit_periods,
    # the audit report's due line and .ics from the start (issue 17)
    open_notices=(Notice("annual_audit.scheduled", scheduled_to, RULE, actions=("start",),
                         due=lambda ctx: CYCLE.due_instant(ctx.data), params=CYCLE.mail_params),),
    transitions=(
        Transition("start", ("scheduled",), "in_progress", independent_auditor,
                   "the General Office's auditor (not one working in the audited office)",
                   effects=(record_start,)),
        Transition("submit_report", ("in_progress",), "reported", independent_auditor,
                   "the General Office's auditor (not one working in the audited office)",
                   effects=(CYCLE.record_submission,),
                   notices=(Notice("annual_audit.reported", reported_to, RULE, actions=("close",),
                                   params=CYCLE.mail_params),)),
        Transition("close", ("reported",), "closed", auditor_or_leader,
                   "the auditor or the supervising leader"),
    ),
    deadlines=CYCLE.deadlines,
    events=CYCLE.events,
    handlers=CYCLE.handlers,
))
