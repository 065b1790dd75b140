"""`off_site` — other recorded off-site days (出差等离开驻地的天数), REGULATION.md R-2.5.

The presence rule counts "approved/recorded leave (and any other recorded off-site days)". Leave is its
own process; this one records the other days away from the office's city, a business trip most often:

    outpost case open off_site --as P --subject PERSON --start DATE --end DATE --reason TEXT

- The days are recorded by the person's office director, the General Office's clerk or a supervising
  leader; never by the person themselves, whose own absence is a leave request (R-2.1, R-2.3). The
  person, their director and the clerk are told (as R-2.2 tells the General Office of recorded leave).
- Each day is counted once: days already off site (leave or another record), or already asked for in a
  pending leave request, are refused (R-2.5).
- Days that would take the person past the year's limit (⌊days_in_year/3⌋) are recorded only with
  `--override REASON`, from whoever would approve such a leave: the office director for their staff,
  while present (R-2.4), or a supervising leader; never the person themselves. The reason is kept in the
  history.
- Recorded days count like leave: in the compliance report's presence figures, against later leave
  requests (R-2.5), and a director away on them passes leave requests to the next level up (R-2.4).
- `cancel --comment WHY` withdraws a record and its days stop counting. Before the first day, whoever
  may record may cancel; from the first day on, days spent away are a fact that only the General Office
  (the clerk or a supervising leader) corrects, and never the person themselves.
There are no deadlines: the days are a fact, not a request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from machines import leave
from machines._common import data_date, n_days, people, span
from workflow import registry
from workflow.context import Ctx
from workflow.definition import OpenPlan, Option, ProcessDefinition, Refusal, Transition
from workflow.errors import BadInput, NotFound, NotPermitted, RuleViolation
from workflow.model import OFFICE_ROLES, Person

HOME = Path(__file__).parent  # templates/ and policy.toml of this process

PROCESS = "off_site"
RULE = "R-2.5"
SOURCE = "recorded"  # off_site.source of these rows; leave's rows say "leave"
WHO = "the person's office director, the General Office's clerk or a supervising leader (never the person)"
GENERAL_OFFICE = "the General Office's clerk or a supervising leader (never the person)"


# -- who ---------------------------------------------------------------------------------------------
def general_office(actor: Person, subject_id: str) -> bool:
    return actor.id != subject_id and (actor.has("clerk") or actor.has("supervising_leader"))


def may_record(actor: Person, subject: Person) -> bool:
    return general_office(actor, subject.id) or (
        actor.id != subject.id and actor.has("director") and actor.office == subject.office)


def may_override(ctx: Ctx, actor: Person, subject: Person) -> bool:
    """Who would approve a leave past the limit: a supervising leader, or the office director for their
    staff while present (R-2.4); never the person themselves."""
    if actor.id == subject.id:
        return False
    return actor.has("supervising_leader") or (
        actor.has("director") and actor.office == subject.office and not ctx.tx.off_site_on(actor.id, ctx.today))


def may_cancel(ctx: Ctx) -> Refusal | None:
    case, actor = ctx.require_case(), ctx.actor
    assert actor is not None and case.subject is not None
    if ctx.delegate is not None and ctx.delegate.id == case.subject:  # never the person, acting for another
        return (RULE, f"off-site days are recorded and cancelled by {WHO}")
    if data_date(case.data, "start") <= ctx.today:
        if general_office(actor, case.subject):
            return None
        return (RULE, f"the days began on {case.data['start']}: only {GENERAL_OFFICE} corrects them")
    subject = ctx.org.person(case.subject)
    if subject is not None and may_record(actor, subject):
        return None
    return (RULE, f"off-site days are recorded and cancelled by {WHO}")


def told(ctx: Ctx) -> list[Person]:
    """The person, their office's director and the clerk, except whoever made the change."""
    case = ctx.require_case()
    found = [p for p in (ctx.org.person(case.subject or ""),) if p is not None and p.active]
    found += people(ctx, "director", case.office) + people(ctx, "clerk")
    return [p for p in found if ctx.actor is None or p.id != ctx.actor.id]


def tell(event: str) -> Callable[[Ctx], None]:
    def effect(ctx: Ctx) -> None:
        data = ctx.require_case().data
        ctx.notify(event, told(ctx), RULE, start=data["start"], end=data["end"], days=data["days"])
    return effect


# -- opening -----------------------------------------------------------------------------------------
def _subject(ctx: Ctx) -> Person:
    actor = ctx.actor
    if actor is None:
        raise BadInput("off-site days are recorded by a person: give --as PERSON")
    wanted = str(ctx.params.get("subject") or "").strip()
    if not wanted:
        raise BadInput("--subject PERSON is required: whose off-site days these are")
    subject = ctx.org.person(wanted)
    if subject is None or not subject.active:
        raise NotFound("person", wanted)
    if subject.office is None or not (subject.roles & OFFICE_ROLES):
        raise RuleViolation(RULE, f"{subject.id} is not staff of an office; the presence rule covers the "
                                  "offices' people")
    if not may_record(actor, subject):
        own = " (their own absence is a leave request, R-2.1/R-2.3)" if actor.id == subject.id else ""
        raise NotPermitted(RULE, f"{actor.id} may not record {subject.id}'s off-site days{own}: {WHO} may")
    return subject


def open_record(ctx: Ctx) -> OpenPlan:
    subject = _subject(ctx)
    assert ctx.actor is not None and subject.office is not None
    start, end, days = span(ctx, "a record")
    if start < ctx.today - timedelta(days=366):
        raise BadInput("--start: more than a year in the past")
    reason = str(ctx.params.get("reason") or "").strip()
    if not reason:
        raise BadInput("--reason is required: what the days away were for (e.g. a business trip)")
    clash = leave.day_clash(ctx, subject.id, start, end, leave.held_leave(ctx, subject.id))
    if clash:
        raise RuleViolation(RULE, clash + "; each day is counted once")
    details: dict[str, Any] = {"rule": RULE, "why": f"{subject.id} off site {start} – {end} "
                                                    f"({n_days(days)}): {reason}"}
    excess = leave.presence_excess(ctx, subject.id, start, end, None)
    if excess is not None:
        if ctx.override is None:
            raise RuleViolation(RULE, excess + f" (the director of {subject.office} or a supervising leader "
                                               "may record it with --override REASON)")
        if not may_override(ctx, ctx.actor, subject):
            raise NotPermitted("R-2.4", f"{ctx.actor.id} may not pass {subject.id}'s presence limit: the "
                                        f"director of {subject.office} (for their staff, while present) or a "
                                        "supervising leader may")
        ctx.pass_rule(RULE, excess)
    elif ctx.override is not None:
        raise BadInput("--override: these days are within the presence limit; there is nothing to pass")
    data = {"start": start.isoformat(), "end": end.isoformat(), "days": days, "reason": reason}
    return OpenPlan(state="recorded", office=subject.office, subject=subject.id, data=data, details=details)


# -- effects -----------------------------------------------------------------------------------------
def count_days(ctx: Ctx) -> None:
    leave.count_off_site(ctx, SOURCE)


def uncount_days(ctx: Ctx) -> None:
    if not (ctx.comment or "").strip():
        raise BadInput("cancel needs --comment WHY: the record's days stop counting toward R-2.5")
    ctx.data["cancelled_on"] = ctx.today.isoformat()
    ctx.tx.remove_off_site(ctx.require_case().id)


DEFINITION = registry.register(ProcessDefinition(
    name=PROCESS,
    version=1,
    title="Other off-site days (出差等离开驻地)",
    names={"zh": "离开驻地登记", "en": "off-site days"},
    home=HOME,
    options=(
        Option("subject", "whose days away these are", "person", required=True),
        Option("start", "first day away, YYYY-MM-DD", "date", required=True),
        Option("end", "last day away, YYYY-MM-DD", "date", required=True),
        Option("reason", "why (e.g. 出差 上海)"),
    ),
    states=("recorded", "cancelled"),
    initial_states=("recorded",),
    final_states=("cancelled",),
    opener=open_record,
    open_options=frozenset({"subject", "start", "end", "reason"}),
    open_effects=(count_days, tell("off_site.recorded")),
    transitions=(
        Transition("cancel", ("recorded",), "cancelled", may_cancel,
                   f"before the first day {WHO}; from then on {GENERAL_OFFICE}",
                   effects=(uncount_days, tell("off_site.cancelled"))),
    ),
    events=("off_site.recorded", "off_site.cancelled"),
))
