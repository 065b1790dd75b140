"""`report` — 工作报告制度 (REGULATION.md R-5).

One case per office per period, created by the daemon (R-5.4): the half-year report `H1` due on or
before 25 June (R-5.1) and the annual report `Y`, with next year's plan, due on or before 25 December
(R-5.2). The case opens, the director is reminded, the case turns overdue the day after the due date
and the reminder repeats until the report is submitted (R-5.5; policy numbers in the policy file).
The General Office reviews and assesses it (R-5.3).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from machines._common import after_workdays, data_date, n_days, people, record_score, score_given, show
from workflow import registry
from workflow.context import Ctx
from workflow.definition import (
    DeadlineSpec,
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
from workflow.model import Deadline, Person
from workflow.policy import Policy
from workflow.timeutil import LOCAL_TZ, end_of_day, local_midnight

HOME = Path(__file__).parent  # templates/ and policy.toml of this process

PROCESS = "report"
H1_DUE = (6, 25)  # 半年工作报告 6月25日前
Y_DUE = (12, 25)  # 年度工作报告及下年工作计划 12月25日前
REMIND_AT = time(9, 0)  # reminders go out at 09:00 local


def report_periods(year: int, policy: Policy) -> list[Period]:
    before = timedelta(days=policy.int("report.open_days_before"))
    out = []
    for kind, (month, day) in (("H1", H1_DUE), ("Y", Y_DUE)):
        due = date(year, month, day)
        out.append(Period(key=f"{year}-{kind}", opens_at=local_midnight(due - before), due=due))
    return out


# -- who ---------------------------------------------------------------------------------------------
def directors(ctx: Ctx) -> list[Person]:
    return people(ctx, "director", ctx.require_case().office)


def reviewers(ctx: Ctx) -> list[Person]:
    return people(ctx, "clerk")


def leaders(ctx: Ctx) -> list[Person]:
    return people(ctx, "supervising_leader")


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


# -- guards and effects --------------------------------------------------------------------------------
def plan_given(ctx: Ctx) -> str | None:
    given = str(ctx.params.get("plan") or ctx.data.get("plan") or "").strip()  # blank is no plan
    if ctx.data.get("needs_plan") and not given:
        return "the annual report is submitted together with next year's work plan: give --plan"
    return None


def due_instant(data: dict[str, Any]) -> datetime:
    """R-0.3: "on or before 25 June" ends at 25 June 23:59:59.999999 local."""
    return end_of_day(data_date(data, "due"))


def record_submission(ctx: Ctx) -> None:
    data = ctx.data
    if ctx.params.get("plan"):
        data["plan"] = str(ctx.params["plan"])
    if "submitted_at" not in data:  # the first submission decides lateness
        data["submitted_at"] = ctx.now.isoformat()
        data["late"] = ctx.now > due_instant(data)
        ctx.details["late"] = data["late"]
    else:
        data["resubmitted_at"] = ctx.now.isoformat()


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


# -- deadlines -----------------------------------------------------------------------------------------
def due_reminders(ctx: Ctx) -> list[tuple[datetime, str]]:
    due = data_date(ctx.data, "due")
    out = []
    for n in ctx.policy.ints("report.remind_days_before"):
        at = datetime.combine(due - timedelta(days=n), REMIND_AT, tzinfo=LOCAL_TZ)
        out.append((at, f"due {due} (R-5.1/R-5.2, on or before that day, R-0.3); reminder {show(at)} = "
                        f"{n_days(n)} before (R-5.5)"))
    return out


def due_overdue(ctx: Ctx) -> tuple[datetime, str]:
    due = data_date(ctx.data, "due")
    at = local_midnight(due + timedelta(days=1))
    return at, f"overdue from {show(at)}: the day after the due date {due} (R-5.5)"


def remind(ctx: Ctx) -> None:
    ctx.notify("report.reminder", directors(ctx), "R-5.5", actions=("submit",), due_at=due_instant(ctx.data))


def overdue(ctx: Ctx) -> None:
    ctx.data["overdue"] = True
    ctx.record("overdue", {"rule": "R-5.5", "due": ctx.data["due"]})
    ctx.notify("report.overdue", directors(ctx) + leaders(ctx), "R-5.5", actions=("submit",),
               due_at=due_instant(ctx.data))
    schedule_repeat(ctx, occurrence=1)


def overdue_repeat(ctx: Ctx) -> None:
    ctx.notify("report.overdue_reminder", directors(ctx), "R-5.5", actions=("submit",),
               due_at=due_instant(ctx.data))
    assert ctx.deadline is not None
    schedule_repeat(ctx, occurrence=ctx.deadline.occurrence + 1)


def schedule_repeat(ctx: Ctx, occurrence: int) -> None:
    """The next overdue reminder, every N working days; after downtime, the next slot after now —
    never one per missed interval (R-5.5)."""
    n = ctx.policy.int("report.overdue_repeat_workdays")
    assert ctx.deadline is not None
    at, note = after_workdays(ctx, ctx.deadline.due_at, n)
    while at <= ctx.now:
        at, note = after_workdays(ctx, at, n)
    case = ctx.require_case()
    ctx.schedule(Deadline(case_id=case.id, kind="overdue_reminder", due_at=at, rule_id="R-5.5",
                          why=f"overdue since {ctx.data['due']}; reminder repeats every {n_days(n, 'working')} "
                              f"until submitted, next {show(at)} (R-5.5){note}",
                          action="overdue_repeat", for_state="open", created_at=ctx.now,
                          occurrence=occurrence))


DEFINITION = registry.register(ProcessDefinition(
    name=PROCESS,
    version=1,
    title="Work report (工作报告)",
    names={"zh": "工作报告", "en": "work report"},
    home=HOME,
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
    open_notices=(Notice("report.opened", directors, "R-5.4", actions=("submit",),
                         due=lambda ctx: due_instant(ctx.data)),),
    transitions=(
        Transition("submit", ("open",), "submitted", office_director, "the office's director",
                   guards=(Guard("R-5.2", plan_given),), options=frozenset({"plan"}),
                   effects=(record_submission,),
                   notices=(Notice("report.submitted", reviewers, "R-5.3",
                                   actions=("accept", "request_revision")),)),
        Transition("request_revision", ("submitted",), "revision_requested", general_office_reviewer,
                   "a General Office clerk or the supervising leader",
                   notices=(Notice("report.revision_requested", directors, "R-5.3", actions=("resubmit",)),)),
        Transition("resubmit", ("revision_requested",), "submitted", office_director, "the office's director",
                   guards=(Guard("R-5.2", plan_given),), options=frozenset({"plan"}),
                   effects=(record_submission,),
                   notices=(Notice("report.submitted", reviewers, "R-5.3",
                                   actions=("accept", "request_revision")),)),
        Transition("accept", ("submitted",), "accepted", general_office_reviewer,
                   "a General Office clerk or the supervising leader"),
        Transition("assess", ("accepted",), "assessed", general_office_reviewer,
                   "a General Office clerk or the supervising leader",
                   guards=(Guard("R-5.3", score_given),), options=frozenset({"score"}),
                   effects=(record_score,)),
    ),
    deadlines=(
        DeadlineSpec("reminder", "open", "R-5.5", due_reminders, "remind", skip_superseded=True,
                     superseded_by=("overdue",)),
        DeadlineSpec("overdue", "open", "R-5.5", due_overdue, "overdue"),
    ),
    events=("report.reminder", "report.overdue", "report.overdue_reminder"),
    handlers={"remind": remind, "overdue": overdue, "overdue_repeat": overdue_repeat},
))


