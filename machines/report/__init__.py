"""`report` — 工作报告制度 (REGULATION.md R-5).

One case per office per period, created by the daemon (R-5.4): the half-year report `H1` due on or
before 25 June (R-5.1) and the annual report `Y`, with next year's plan, due on or before 25 December
(R-5.2). The case opens, the director is reminded, the case turns overdue the day after the due date
and the reminder repeats until the report is submitted (R-5.5; policy numbers in the policy file) —
the cycle `_periodic.PeriodicSubmission` holds for every periodic duty. The General Office reviews and
assesses it (R-5.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from machines._common import (
    clerks,
    n_days,
    office_directors,
    record_score,
    score_given,
    show,
    supervising_leaders,
)
from machines._periodic import PeriodicSubmission
from workflow import registry
from workflow.compliance import Section, stamp, submission_status
from workflow.context import Ctx
from workflow.definition import (
    Guard,
    Notice,
    OpenPlan,
    Option,
    Period,
    ProcessDefinition,
    Refusal,
    Transition,
)
from workflow.errors import BadInput
from workflow.model import Case
from workflow.policy import Policy
from workflow.timeutil import local_midnight

HOME = Path(__file__).parent  # templates/ and policy.toml of this process

PROCESS = "report"
H1_DUE = (6, 25)  # 半年工作报告 6月25日前
Y_DUE = (12, 25)  # 年度工作报告及下年工作计划 12月25日前


def report_periods(year: int, policy: Policy) -> list[Period]:
    before = timedelta(days=policy.int("report.open_days_before"))
    out = []
    for kind, (month, day) in (("H1", H1_DUE), ("Y", Y_DUE)):
        due = date(year, month, day)
        out.append(Period(key=f"{year}-{kind}", opens_at=local_midnight(due - before), due=due))
    return out


# -- who ---------------------------------------------------------------------------------------------
def office_director(ctx: Ctx) -> Refusal | None:
    actor, case = ctx.actor, ctx.require_case()
    assert actor is not None
    if actor.has("director") and actor.office == case.office:
        return None
    return ("R-5.1", f"the report is submitted by the director of {case.office}")


def general_office_reviewer(ctx: Ctx) -> Refusal | None:
    actor = ctx.actor
    assert actor is not None
    if actor.has("clerk") or actor.has("supervising_leader"):
        return None
    return ("R-5.3", "reports are reviewed by a General Office clerk or the supervising leader")


# -- the submission cycle (R-5.5) --------------------------------------------------------------------
@dataclass(frozen=True)
class ReportCycle(PeriodicSubmission):
    """R-5.5 itself: the reminder cites the due date's own rules (R-5.1/R-5.2) rather than a `due_why`."""

    def reminder_why(self, ctx: Ctx, due: date, at: datetime, n: int) -> str:
        return (f"due {due} (R-5.1/R-5.2, on or before that day, R-0.3); reminder {show(at)} = {n_days(n)} "
                f"before ({self.cited})")

    def mail_params(self, ctx: Ctx) -> dict[str, Any]:
        """The annual report is submitted with next year's plan (R-5.2): the mail's command says `--plan`."""
        found = super().mail_params(ctx)
        if ctx.data.get("needs_plan"):
            found["needs"] = {"submit": ["plan"], "resubmit": ["plan"]}
        return found


CYCLE = ReportCycle(process=PROCESS, section="report", rule="R-5.5", due_rule="R-5.1/R-5.2",
                    submitters=office_directors, leaders=supervising_leaders)
due_instant = CYCLE.due_instant  # "on or before 25 June" ends at 25 June 23:59:59.999999 local


# -- guards and effects --------------------------------------------------------------------------------
def plan_given(ctx: Ctx) -> str | None:
    given = str(ctx.params.get("plan") or ctx.data.get("plan") or "").strip()  # blank is no plan
    if ctx.data.get("needs_plan") and not given:
        return "the annual report is submitted together with next year's work plan: give --plan"
    return None


def record_plan(ctx: Ctx) -> None:
    """The annual report's work plan for next year (R-5.2), kept with the report."""
    if ctx.params.get("plan"):
        ctx.data["plan"] = str(ctx.params["plan"])


def open_report(ctx: Ctx) -> OpenPlan:
    office, period = ctx.params.get("office"), ctx.params.get("period")
    if not office or not period or office not in ctx.org.offices:
        raise BadInput("a report case is opened by the daemon for an office and a period")
    year_text, kind = str(period).split("-", 1)
    if kind not in ("H1", "Y"):
        raise BadInput(f"unknown report period {period!r}")
    month, day = H1_DUE if kind == "H1" else Y_DUE
    due = date(int(year_text), month, day)
    rule = "R-5.1" if kind == "H1" else "R-5.2"
    data = {"kind": kind, "due": due.isoformat(), "needs_plan": kind == "Y", "late": False}
    return OpenPlan(state="open", office=str(office), subject=None, data=data, period=str(period),
                    details={"rule": "R-5.4", "why": f"{period} report of {office}, due {due} ({rule})"})



# -- its section of `report compliance` (R-5.3: reviewed, assessed and ranked) ------------------------------
def _ranks(cases: list[Case]) -> dict[int, int]:
    """R-5.3: offices ranked by their assessment score, per period; equal scores share a rank."""
    scored = [(int(c.data["score"]), c.id) for c in cases if c.data.get("score") is not None]
    return {cid: 1 + sum(1 for s, _ in scored if s > score) for score, cid in scored}


def compliance(section: Section) -> dict[str, Any]:
    ranks: dict[int, int] = {}
    for period in sorted({c.period for c in section.every_office}, key=str):
        ranks.update(_ranks([c for c in section.every_office if c.period == period]))
    reports = []
    for c in section.cases:
        status = submission_status(c.data, section.now)
        reports.append({"period": c.period, "state": c.state, "late": status in ("late", "missing"),
                        "status": status, "due": c.data.get("due"), "submitted_at": stamp(c.data.get("submitted_at")),
                        "score": c.data.get("score"), "rank": ranks.get(c.id)})
    return {"reports": reports}


DEFINITION = registry.register(ProcessDefinition(
    name=PROCESS,
    version=1,
    title="Work report (工作报告)",
    names={"zh": "工作报告", "en": "work report"},
    home=HOME,
    compliance=compliance,
    options=(
        Option("plan", "submit/resubmit of the annual report: next year's work plan (R-5.2)"),
        Option("score", "assess: the assessment score, a whole number (R-5.3)", "number"),
    ),
    states=("open", "submitted", "revision_requested", "accepted", "assessed"),
    initial_states=("open",),
    final_states=("assessed",),
    opener=open_report,
    open_options=frozenset({"office", "period"}),
    periodic=True,
    periods=report_periods,
    open_notices=(Notice("report.opened", office_directors, "R-5.4", actions=("submit",),
                         due=lambda ctx: due_instant(ctx.data), params=CYCLE.mail_params),),
    transitions=(
        Transition("submit", ("open",), "submitted", office_director, "the office's director",
                   guards=(Guard("R-5.2", plan_given),), options=frozenset({"plan"}),
                   effects=(record_plan, CYCLE.record_submission),
                   notices=(Notice("report.submitted", clerks, "R-5.3",
                                   actions=("accept", "request_revision"), params=CYCLE.mail_params),)),
        Transition("request_revision", ("submitted",), "revision_requested", general_office_reviewer,
                   "a General Office clerk or the supervising leader",
                   notices=(Notice("report.revision_requested", office_directors, "R-5.3", actions=("resubmit",),
                                   params=CYCLE.mail_params),)),
        Transition("resubmit", ("revision_requested",), "submitted", office_director, "the office's director",
                   guards=(Guard("R-5.2", plan_given),), options=frozenset({"plan"}),
                   effects=(record_plan, CYCLE.record_submission),
                   notices=(Notice("report.submitted", clerks, "R-5.3",
                                   actions=("accept", "request_revision"), params=CYCLE.mail_params),)),
        Transition("accept", ("submitted",), "accepted", general_office_reviewer,
                   "a General Office clerk or the supervising leader"),
        Transition("assess", ("accepted",), "assessed", general_office_reviewer,
                   "a General Office clerk or the supervising leader",
                   guards=(Guard("R-5.3", score_given),), options=frozenset({"score"}),
                   effects=(record_score,)),
    ),
    deadlines=CYCLE.deadlines,
    events=CYCLE.events,
    handlers=CYCLE.handlers,
))
