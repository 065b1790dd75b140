"""`leave` — 离岗请假 (REGULATION.md R-2).

Routing is decided when the request is made and kept in the case data:
- a director away 7 days or more asks the supervising leader (R-2.1); fewer than 7 days is recorded,
  not approved, and the General Office is told (R-2.2);
- anyone else asks their office's director, whatever the length (R-2.3);
- nobody approves their own leave; an absent or vacant approver passes the request up (R-2.4);
- an extension is routed on the total length of the leave it extends (R-2.6).
Approval checks the presence rule (R-2.5); the daemon starts the leave on its first day and chases
an unrecorded return (R-2.7) and an undecided request (R-2.8).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from machines._common import (
    after_workdays,
    clerks,
    data_date,
    end_of_workday_after,
    n_days,
    param_date,
    people,
    show,
    span,
    start_of,
)
from workflow import registry
from workflow.context import Ctx
from workflow.definition import DeadlineSpec, Guard, Notice, OpenPlan, Option, ProcessDefinition, Refusal, Transition
from workflow.errors import BadInput, NotFound, RuleViolation
from workflow.model import OFFICE_ROLES, OffSite, Person
from workflow.timeutil import days_in_year, overlap_days

DIRECTOR_APPROVAL_DAYS = 7  # "一周以上" = 7 days or more
HOME = Path(__file__).parent  # templates/ and policy.toml of this process

PROCESS = "leave"


# -- who ---------------------------------------------------------------------------------------------
def presence_limit(year: int) -> int:
    """R-2.5: at least 2/3 of the year on site, so at most ⌊days/3⌋ off site (121, or 122 in a leap year)."""
    return days_in_year(year) // 3


def approver_levels(data: dict[str, Any]) -> list[str]:
    levels = [str(data["approver_role"])]
    if data.get("escalated") and "supervising_leader" not in levels:
        levels.append("supervising_leader")  # escalated to the next level up
    return levels


def approvers(ctx: Ctx) -> list[Person]:
    """Everyone who may decide this request now (never the requester, R-2.4). A director who is away today
    passes the request to the next level up for as long as they are away (R-2.4), not only when it is made."""
    case = ctx.require_case()
    found: list[Person] = []
    for level in approver_levels(case.data):
        if level == "director":
            directors = people(ctx, "director", case.office, exclude=case.subject)
            present = [p for p in directors if not ctx.tx.off_site_on(p.id, ctx.today)]
            found += present or people(ctx, "supervising_leader", exclude=case.subject)
        else:
            found += people(ctx, level, exclude=case.subject)
    return list({p.id: p for p in found}.values())


def superiors(ctx: Ctx) -> list[Person]:
    """The level above the approver the request was routed to (R-2.8): the supervising leader above a
    director; above the supervising leader there is nobody in the regulation, so the General Office's
    clerks are told."""
    case = ctx.require_case()
    if case.data.get("approver_role") == "director":
        return people(ctx, "supervising_leader", exclude=case.subject)
    return people(ctx, "clerk", exclude=case.subject)


def requester(ctx: Ctx) -> list[Person]:
    subject = ctx.require_case().subject
    p = ctx.org.person(subject) if subject else None
    return [p] if p is not None else []


def may_decide(ctx: Ctx) -> Refusal | None:
    case, actor = ctx.require_case(), ctx.actor
    assert actor is not None
    if actor.id == case.subject:
        return ("R-2.4", "nobody approves their own leave")
    if any(p.id == actor.id for p in approvers(ctx)):
        return None
    rule = str(case.data.get("route_rule", "R-2.3"))
    names = ", ".join(p.id for p in approvers(ctx)) or "nobody at present"
    levels = " or ".join(f"the director of {case.office}" if level == "director" else "a supervising leader"
                         for level in approver_levels(case.data))
    return (rule, f"this request is decided by {levels} (now: {names})")


def is_requester(ctx: Ctx) -> Refusal | None:
    assert ctx.actor is not None
    if ctx.actor.id == ctx.require_case().subject:
        return None
    return ("R-2", "only the requester may do this")


def requester_or_director(ctx: Ctx) -> Refusal | None:
    case, actor = ctx.require_case(), ctx.actor
    assert actor is not None
    if actor.id == case.subject or (actor.has("director") and actor.office == case.office):
        return None
    return ("R-2.7", "the return is recorded by the requester or their director")


# -- guards ------------------------------------------------------------------------------------------
def presence_excess(ctx: Ctx, person: str, start: date, end: date, case_id: int | None) -> str | None:
    ctx.tx.hold_person(person)  # two approvals for one person at once must each count the other's days
    for year in range(start.year, end.year + 1):
        used = sum(overlap_days(r.start, r.end, year) for r in ctx.tx.off_site(person, year)
                   if case_id is None or r.case_id != case_id)
        total = used + overlap_days(start, end, year)
        limit = presence_limit(year)
        if total > limit:
            return (f"{person} would be off site {n_days(total)} in {year} ({used} already), over the limit of "
                    f"{limit} = ⌊{days_in_year(year)}/3⌋ (at least 2/3 of the year on site)")
    return None


def within_presence_limit(ctx: Ctx) -> str | None:
    case = ctx.require_case()
    assert case.subject is not None
    return presence_excess(ctx, case.subject, data_date(case.data, "start"), data_date(case.data, "end"),
                            case.id)


def before_start(ctx: Ctx) -> str | None:
    start = data_date(ctx.data, "start")
    if ctx.today >= start:
        return f"the leave started on {start}; it can only be withdrawn before it starts"
    return None


def return_date_valid(ctx: Ctx) -> str | None:
    day = param_date(ctx, "date", required=False) or ctx.today
    start = data_date(ctx.data, "start")
    if day < start:
        return f"the return date {day} is before the leave started ({start})"
    if day > ctx.today:
        return f"the return date {day} is in the future; record it when it happens"
    return None


# -- effects -----------------------------------------------------------------------------------------
def count_off_site(ctx: Ctx, source: str = "leave") -> None:
    """The case's days (its data's start and end) counted off site for its subject (R-2.5)."""
    case = ctx.require_case()
    assert case.subject is not None
    ctx.tx.add_off_site(OffSite(person=case.subject, start=data_date(case.data, "start"),
                                end=data_date(case.data, "end"), case_id=case.id, source=source))


def uncount_off_site(ctx: Ctx) -> None:
    ctx.tx.remove_off_site(ctx.require_case().id)


def record_return(ctx: Ctx) -> None:
    case = ctx.require_case()
    day = param_date(ctx, "date", required=False) or ctx.today
    case.data["returned_on"] = day.isoformat()
    ctx.details["returned_on"] = day.isoformat()
    if day - timedelta(days=1) < data_date(case.data, "end"):
        ctx.tx.trim_off_site(case.id, day - timedelta(days=1))  # back early: fewer days off site


# -- opening -----------------------------------------------------------------------------------------
ACTIVE = ("pending", "approved", "on_leave")  # a leave that is asked for, granted or under way


def held_leave(ctx: Ctx, person: str) -> list[Any]:
    """The person's active leave cases, read once the person is held (R-2.5): a writer adding a request for
    them meanwhile is seen, not missed. Finished leave neither clashes nor continues."""
    ctx.tx.hold_person(person)
    return ctx.tx.cases_of(PROCESS, person, ACTIVE)


def day_clash(ctx: Ctx, person: str, start: date, end: date, mine: list[Any]) -> str | None:
    """Days of [start, end] already off site, or already asked for (`mine`: `held_leave`): each day is
    asked for once (R-2.5 counts days, and two requests for one day would count it twice)."""
    for year in range(start.year, end.year + 1):
        for r in ctx.tx.off_site(person, year):
            if r.start <= end and start <= r.end:
                return f"{person} is already off site {max(r.start, start)} – {min(r.end, end)}" + (
                    f" (case {r.case_id})" if r.case_id else "")
    for other in mine:
        if other.state == "pending":
            o_start, o_end = data_date(other.data, "start"), data_date(other.data, "end")
            if o_start <= end and start <= o_end:
                return f"{person} has already asked for {max(o_start, start)} – {min(o_end, end)} (case {other.id})"
    return None


def _continued(mine: list[Any], start: date) -> Any:
    """The person's active leave that ends the day before `start`: a leave that continues it is one
    absence, routed on the total (R-2.1, R-2.6), with or without --extends."""
    for other in mine:
        if other.state in ACTIVE and data_date(other.data, "end") == start - timedelta(days=1):
            return other
    return None


def open_leave(ctx: Ctx) -> OpenPlan:
    actor = ctx.actor
    if actor is None:
        raise BadInput("a leave request needs --as PERSON")
    if actor.office is None or not (actor.roles & OFFICE_ROLES):
        raise RuleViolation("R-2.3", f"{actor.id} is not staff of an office; R-2 covers the offices' people")
    start, end, days = span(ctx, "a leave")
    if ctx.override is not None:
        raise BadInput("--override is given by the approver when deciding (R-2.5), not when asking for leave")
    mine = held_leave(ctx, actor.id)
    clash = day_clash(ctx, actor.id, start, end, mine)
    if clash:
        raise RuleViolation("R-2.5", clash + "; each day is asked for once")
    total = days
    data: dict[str, Any] = {"start": start.isoformat(), "end": end.isoformat(), "days": days}
    if ctx.params.get("reason") is not None:
        data["reason"] = str(ctx.params["reason"])
    extends = ctx.params.get("extends")
    if extends is not None:
        try:
            base_id = int(extends)
        except (TypeError, ValueError):
            raise BadInput(f"--extends: expected a case id, got {str(extends)[:40]!r}") from None
        if not 0 < base_id < 2**31:
            raise NotFound("leave case", base_id)
        base = ctx.tx.get_case(base_id)
        if base is None or base.process != PROCESS:
            raise NotFound("leave case", extends)
        if base.subject != actor.id:
            raise RuleViolation("R-2.6", f"case {base_id} is not {actor.id}'s leave")
        if base.state not in ("approved", "on_leave"):
            raise RuleViolation("R-2.6", f"case {base_id} is {base.state}; only an approved leave is extended")
        base_end = data_date(base.data, "end")
        if start != base_end + timedelta(days=1):
            raise BadInput(f"--start: an extension of case {base_id} starts on {base_end + timedelta(days=1)}")
        total = int(base.data.get("total_days", base.data["days"])) + days
        data["extends"] = base_id
    else:
        before = _continued(mine, start)
        if before is not None:  # the same absence asked for in pieces: routed on the whole
            total = int(before.data.get("total_days", before.data["days"])) + days
            data["continues"] = before.id
            extends = before.id
    data["total_days"] = total
    extension = " (R-2.6: routed on the total length)" if extends is not None else ""

    if actor.has("director"):
        if total >= DIRECTOR_APPROVAL_DAYS:
            route, rule = "supervising_leader", "R-2.6" if extends is not None else "R-2.1"
            why = f"a director away {n_days(total)} (7 or more) asks the supervising leader{extension}"
        elif (excess := presence_excess(ctx, actor.id, start, end, None)) is not None:
            # nobody passes their own presence limit: the supervising leader decides, and may
            # approve with --override REASON
            route, rule = "supervising_leader", "R-2.5"
            why = f"a director's short leave over the presence limit goes to the supervising leader: {excess}"
        else:
            if start < ctx.today - timedelta(days=366):
                raise BadInput("--start: more than a year in the past")
            data.update(approver_role="none", route_rule="R-2.2", recorded=True)
            return OpenPlan(state="approved", office=actor.office, subject=actor.id, data=data,
                            details={"route": "recorded", "rule": "R-2.2",
                                     "why": f"a director away {n_days(total)} (fewer than 7) is recorded"})
    else:
        director = ctx.org.director_of(actor.office)
        if director is None:
            route, rule, why = "supervising_leader", "R-2.4", f"no director in {actor.office}: next level up"
        elif ctx.tx.off_site_on(director.id, ctx.today):
            route, rule = "supervising_leader", "R-2.4"
            why = f"the director {director.id} is away: next level up"
        else:
            route, rule, why = "director", "R-2.3", f"staff ask their office's director ({director.id})"
    if start <= ctx.today:  # the leave starts at 00:00 of its first day (the daemon starts it then)
        raise RuleViolation(rule if rule in ("R-2.1", "R-2.3", "R-2.6") else
                            "R-2.1" if actor.has("director") else "R-2.3",
                            f"leave is asked before it starts; it starts {start} 00:00, which has passed")
    candidates = [p for p in ctx.org.holders(route, actor.office if route == "director" else None)
                  if p.id != actor.id]
    if not candidates:
        raise RuleViolation("R-2.4", f"nobody can approve this request (no {route.replace('_', ' ')} "
                                     "other than the requester)")
    data.update(approver_role=route, route_rule=rule, escalated=False)
    return OpenPlan(state="pending", office=actor.office, subject=actor.id, data=data,
                    details={"route": route, "rule": rule, "why": why})


def count_recorded(ctx: Ctx) -> None:
    if ctx.require_case().state == "approved":
        count_off_site(ctx)


# -- deadlines ---------------------------------------------------------------------------------------
def due_remind(ctx: Ctx) -> tuple[Any, str] | None:
    n = ctx.policy.int("leave.remind_approver_after_workdays")
    due, note = after_workdays(ctx, ctx.now, n)
    return due, f"approver reminded {show(due)} = {n} working day(s) after the request without a decision (R-2.8){note}"


def due_escalate(ctx: Ctx) -> tuple[Any, str] | None:
    n = ctx.policy.int("leave.escalate_after_workdays")
    due, note = after_workdays(ctx, ctx.now, n)
    return due, f"escalated {show(due)} = {n_days(n, 'working')} after the request without a decision (R-2.8){note}"


def due_undecided(ctx: Ctx) -> tuple[Any, str] | None:
    start = data_date(ctx.data, "start")
    due = start_of(start)
    return due, f"flagged at {show(due)}: the leave starts {start} and is still undecided (R-2.8)"


def due_start(ctx: Ctx) -> tuple[Any, str] | None:
    start = data_date(ctx.data, "start")
    due = start_of(start)
    return due, f"on leave from {show(due)}, the first day {start} (R-2.5 counts it off site)"


def due_return(ctx: Ctx) -> tuple[Any, str] | None:
    n = ctx.policy.int("leave.return_reminder_after_workdays")
    end = data_date(ctx.data, "end")
    due, _day, note = end_of_workday_after(ctx, end, n)
    return due, (f"return (销假) expected by {show(due)} = the end of {n} working day(s) after the last day "
                 f"{end} (R-2.7){note}")


def mail_facts(ctx: Ctx) -> dict[str, Any]:
    """What a leave mail tells the one who decides (issue 17; never the reason, R-7.3): the days and how
    many, and for an extension (or a leave continuing another, R-2.6) the case it extends and the total."""
    data = ctx.data
    facts: dict[str, Any] = {"start": data["start"], "end": data["end"], "days": data["days"],
                             "total_days": data.get("total_days", data["days"])}
    extends = data.get("extends") or data.get("continues")
    if extends is not None:
        facts["extends"] = extends
    return facts


def remind_approver(ctx: Ctx) -> None:
    ctx.notify("leave.reminder", approvers(ctx), "R-2.8", actions=("approve", "reject"),
               due_at=start_of(data_date(ctx.data, "start")), **mail_facts(ctx))


def escalate(ctx: Ctx) -> None:
    case = ctx.require_case()
    if case.data.get("escalated") or case.data["approver_role"] == "supervising_leader":
        ctx.notify("leave.escalated", people(ctx, "supervising_leader", exclude=case.subject), "R-2.8",
                   **mail_facts(ctx))
        return
    case.data["escalated"] = True
    ctx.record("escalate", {"rule": "R-2.8", "to": "supervising_leader",
                            "why": "no decision 2 working days after the request"})
    ctx.notify("leave.escalated", people(ctx, "supervising_leader", exclude=case.subject), "R-2.8",
               actions=("approve", "reject"), due_at=start_of(data_date(case.data, "start")), **mail_facts(ctx))


def flag_undecided(ctx: Ctx) -> None:
    case = ctx.require_case()
    case.data["flagged"] = True
    ctx.record("flag", {"rule": "R-2.8", "why": "the leave starts today and is still undecided"})
    # cannot wait for office hours: the leave starts today, perhaps a Saturday (docs/mail.md)
    ctx.notify("leave.undecided_at_start", requester(ctx) + superiors(ctx), "R-2.8",
               actions=("approve", "reject"), urgent=True, **mail_facts(ctx))


def remind_return(ctx: Ctx) -> None:
    ctx.notify("leave.return_overdue", requester(ctx) + approvers(ctx), "R-2.7", actions=("return",),
               due_at=ctx.deadline.due_at if ctx.deadline else None, **mail_facts(ctx))


DEFINITION = registry.register(ProcessDefinition(
    name=PROCESS,
    version=1,
    title="Leave from post (离岗请假)",
    names={"zh": "离岗请假", "en": "leave from post"},
    home=HOME,
    options=(
        Option("start", "first day of the leave, YYYY-MM-DD", "date", required=True),
        Option("end", "last day of the leave, YYYY-MM-DD (days counted inclusive, R-0.5)", "date", required=True),
        Option("reason", "why (kept in the case; never mailed, R-7.3)"),
        Option("extends", "the leave case this one extends (R-2.6: routed on the total length)", "id"),
        Option("date", "return: the day of return, YYYY-MM-DD (default: today)", "date"),
    ),
    policy_order=(("leave.remind_approver_after_workdays", "leave.escalate_after_workdays",
                   "R-2.8: remind before escalating"),),
    states=("pending", "approved", "rejected", "withdrawn", "on_leave", "returned"),
    initial_states=("pending", "approved"),
    final_states=("rejected", "withdrawn", "returned"),
    opener=open_leave,
    open_options=frozenset({"start", "end", "reason", "extends"}),
    open_effects=(count_recorded,),
    open_notices=(
        Notice("leave.requested", approvers, "R-2.1", states=("pending",), actions=("approve", "reject"),
               due=lambda ctx: start_of(data_date(ctx.data, "start")), params=mail_facts),
        Notice("leave.recorded", clerks, "R-2.2", states=("approved",), params=mail_facts),
    ),
    transitions=(
        Transition("approve", ("pending",), "approved", may_decide,
                   "the approver of R-2.1/R-2.3/R-2.4 (not the requester)",
                   guards=(Guard("R-2.5", within_presence_limit, overridable=True),),
                   effects=(count_off_site,),
                   notices=(Notice("leave.approved", requester, "R-2.1", params=mail_facts),)),
        Transition("reject", ("pending",), "rejected", may_decide,
                   "the approver of R-2.1/R-2.3/R-2.4 (not the requester)",
                   notices=(Notice("leave.rejected", requester, "R-2.1", params=mail_facts),)),
        Transition("withdraw", ("pending", "approved"), "withdrawn", is_requester, "the requester",
                   guards=(Guard("R-2.1", before_start),), effects=(uncount_off_site,)),
        Transition("start", ("approved",), "on_leave", None, "the daemon, on the first day"),
        Transition("return", ("on_leave",), "returned", requester_or_director,
                   "the requester or their director", guards=(Guard("R-2.7", return_date_valid),),
                   options=frozenset({"date"}), effects=(record_return,)),
    ),
    deadlines=(
        DeadlineSpec("remind_approver", "pending", "R-2.8", due_remind, "remind_approver"),
        DeadlineSpec("escalate", "pending", "R-2.8", due_escalate, "escalate"),
        DeadlineSpec("undecided_at_start", "pending", "R-2.8", due_undecided, "flag_undecided"),
        DeadlineSpec("start", "approved", "R-2.5", due_start, "trigger:start"),
        DeadlineSpec("return_overdue", "on_leave", "R-2.7", due_return, "remind_return"),
    ),
    events=("leave.reminder", "leave.escalated", "leave.undecided_at_start", "leave.return_overdue"),
    handlers={
        "remind_approver": remind_approver,
        "escalate": escalate,
        "flag_undecided": flag_undecided,
        "remind_return": remind_return,
    },
))
