"""`fin_statement` — quarterly financial statements to the General Office (REGULATION.md R-6.1).

One case per office per quarter (`2027-Q3`), created by the daemon on the first day after the quarter
ends (the statement covers a closed quarter). It is due the N-th day after the quarter ends (policy
`fin_statement.due_days_after_quarter`, default 15: Q1 → 15 April, Q4 → 15 January of the next year),
"on or before" that day (R-0.3). Reminders, the overdue notice and its repetition follow R-5.5 with the
numbers of the `[fin_statement]` policy section; a late statement is accepted and marked late.
The office's director submits; the General Office (clerk, finance or the supervising leader) accepts
it or returns it for revision, and then assesses it with a score of 0–100 ("same shape as `report`",
PRODUCT.md): `open` → `submitted` ⇄ `revision_requested`, `submitted` → `accepted` → `assessed`.

Version 2 added the assessment. Version 1 (no `assess`, `accepted` final) stays registered, derived from
version 2, so that the statements opened with it keep running on it (GUIDE.md "Saved data").
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from machines._common import clerks, office_directors, people, record_score, score_given, supervising_leaders
from machines._periodic import PeriodicSubmission, parse_quarter, quarter_bounds
from workflow import registry
from workflow.compliance import Section, stamp, submission_status
from workflow.context import Ctx
from workflow.definition import Guard, Notice, OpenPlan, Option, Period, ProcessDefinition, Refusal, Transition
from workflow.errors import BadInput
from workflow.model import Person
from workflow.policy import Policy
from workflow.timeutil import local_midnight
from workflow.wording import ordinal

HOME = Path(__file__).parent  # templates/ and policy.toml of this process

PROCESS = "fin_statement"
RULE = "R-6.1"


def statement_due(year: int, quarter: int, policy: Policy) -> tuple[Period, str]:
    _first, last = quarter_bounds(year, quarter)
    n = policy.int("fin_statement.due_days_after_quarter")
    due = last + timedelta(days=n)
    key = f"{year}-Q{quarter}"
    return Period(key=key, opens_at=local_midnight(last + timedelta(days=1)), due=due), (
        f"the {ordinal(n)} day after the quarter ended on {last} ({RULE}, policy fin_statement.due_days_after_quarter)")


def statement_periods(year: int, policy: Policy) -> list[Period]:
    return [statement_due(year, q, policy)[0] for q in (1, 2, 3, 4)]


# -- who ---------------------------------------------------------------------------------------------------
def reviewers(ctx: Ctx) -> list[Person]:
    return clerks(ctx) + people(ctx, "finance")


def office_director(ctx: Ctx) -> Refusal | None:
    actor, case = ctx.actor, ctx.require_case()
    assert actor is not None
    if actor.has("director") and actor.office == case.office:
        return None
    return (RULE, f"the statement is submitted by the director of {case.office}")


def general_office_reviewer(ctx: Ctx) -> Refusal | None:
    actor = ctx.actor
    assert actor is not None
    if actor.has("clerk") or actor.has("finance") or actor.has("supervising_leader"):
        return None
    return (RULE, "statements are reviewed by General Office finance, a clerk or the supervising leader")


CYCLE = PeriodicSubmission(process=PROCESS, section="fin_statement", rule=RULE,
                           due_rule="the 15th day after the quarter ends (R-6.1)",
                           submitters=office_directors, leaders=supervising_leaders)


def open_statement(ctx: Ctx) -> OpenPlan:
    office, period = ctx.params.get("office"), ctx.params.get("period")
    if not office or not period or office not in ctx.org.offices:
        raise BadInput("a financial statement case is opened by the daemon for an office and a quarter")
    year, quarter = parse_quarter(str(period))
    p, why = statement_due(year, quarter, ctx.policy)
    data = {"quarter": f"Q{quarter}", "due": p.due.isoformat(), "due_why": why, "late": False}
    return OpenPlan(state="open", office=str(office), subject=None, data=data, period=p.key,
                    details={"rule": RULE, "why": f"{p.key} statement of {office}, due {p.due} = {why}"})



# -- its section of `report compliance` (R-6.1) ---------------------------------------------------------------
def compliance(section: Section) -> dict[str, Any]:
    statements = []
    for c in section.cases:
        status = submission_status(c.data, section.now)
        statements.append({"period": c.period, "state": c.state, "late": status in ("late", "missing"),
                           "status": status, "due": c.data.get("due"),
                           "submitted_at": stamp(c.data.get("submitted_at")),
                           "score": c.data.get("score")})  # version 2's assessment (R-6.1, as R-5.3)
    return {"fin_statements": statements, "fin_statements_late": [s["period"] for s in statements if s["late"]]}


DEFINITION = registry.register(ProcessDefinition(
    name=PROCESS,
    version=2,
    title="Quarterly financial statement (季度财务报表)",
    names={"zh": "财务报表", "en": "financial statement"},
    home=HOME,
    compliance=compliance,
    options=(
        Option("score", "assess: the assessment score, a whole number (R-6.1, as R-5.3)", "number"),
    ),
    states=("open", "submitted", "revision_requested", "accepted", "assessed"),
    initial_states=("open",),
    final_states=("assessed",),
    opener=open_statement,
    open_options=frozenset({"office", "period"}),
    periodic=True,
    periods=statement_periods,
    # the call to submit carries its due line and .ics, as every deadline mail does (issue 17)
    open_notices=(Notice("fin_statement.opened", office_directors, RULE, actions=("submit",),
                         due=lambda ctx: CYCLE.due_instant(ctx.data), params=CYCLE.mail_params),),
    transitions=(
        Transition("submit", ("open",), "submitted", office_director, "the office's director",
                   effects=(CYCLE.record_submission,),
                   notices=(Notice("fin_statement.submitted", reviewers, RULE,
                                   actions=("accept", "request_revision"), params=CYCLE.mail_params),)),
        Transition("request_revision", ("submitted",), "revision_requested", general_office_reviewer,
                   "General Office finance, a clerk or the supervising leader",
                   notices=(Notice("fin_statement.revision_requested", office_directors, RULE,
                                   actions=("resubmit",), params=CYCLE.mail_params),)),
        Transition("resubmit", ("revision_requested",), "submitted", office_director, "the office's director",
                   effects=(CYCLE.record_submission,),
                   notices=(Notice("fin_statement.submitted", reviewers, RULE,
                                   actions=("accept", "request_revision"), params=CYCLE.mail_params),)),
        Transition("accept", ("submitted",), "accepted", general_office_reviewer,
                   "General Office finance, a clerk or the supervising leader"),
        Transition("assess", ("accepted",), "assessed", general_office_reviewer,
                   "General Office finance, a clerk or the supervising leader",
                   guards=(Guard(RULE, score_given),), options=frozenset({"score"}),
                   effects=(record_score,)),
    ),
    deadlines=CYCLE.deadlines,
    events=CYCLE.events,
    handlers=CYCLE.handlers,
))

# Version 1: the statement ended when accepted. Derived from version 2 so that the two cannot drift apart.
VERSION_1 = registry.register(replace(
    DEFINITION,
    version=1,
    states=tuple(state for state in DEFINITION.states if state != "assessed"),
    final_states=("accepted",),
    transitions=tuple(t for t in DEFINITION.transitions if t.trigger != "assess"),
))
