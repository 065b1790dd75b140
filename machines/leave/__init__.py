"""`leave` — 离岗请假 (REGULATION.md R-2).

Routing is decided when the request is made and kept in the case data:
- a director away 7 days or more asks the supervising leader (R-2.1); fewer than 7 days is recorded,
  not approved, and the General Office is told (R-2.2);
- anyone else asks their office's director, whatever the length (R-2.3);
- nobody approves their own leave; an absent or vacant approver passes the request up (R-2.4);
- an extension is routed on the total length of the leave it extends (R-2.6).
Mail and refusals cite the rule the case was routed by (`route_rule`), not always R-2.1.
Approval checks the presence rule (R-2.5); the daemon starts the leave on its first day and chases
an unrecorded return (R-2.7) and an undecided request (R-2.8). A request still undecided when its last day
has passed *lapses* (state `lapsed`, the requester and the clerks told); a tick catching up after
downtime sends no reminder to decide a leave that is over.

A leave and its extensions are one absence (R-2.6): withdrawing or rejecting the leave withdraws or
refuses what extends it, an approved extension moves the expected return (销假) to its own end, and one
`return` closes the whole chain.

A leave that has begun (sick leave) is recorded after the fact by a General Office clerk or the
person's director (`--subject`): routed and decided as a request, its days counted off site at once
(R-2.5); rejecting it needs a reason. A return later than the day after the last day is flagged and the
days in between count off site.
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
from workflow.compliance import Section
from workflow.context import Ctx
from workflow.definition import DeadlineSpec, Guard, OpenPlan, Option, ProcessDefinition, Refusal, Transition
from workflow.errors import BadInput, NotFound, NotPermitted, RuleViolation
from workflow.model import OFFICE_ROLES, OffSite, Person
from workflow.timeutil import days_in_year, overlap_days

DIRECTOR_APPROVAL_DAYS = 7  # "一周以上" = 7 days or more
HOME = Path(__file__).parent  # templates/ and policy.toml of this process

PROCESS = "leave"
ROUTE_RULES = ("R-2.1", "R-2.2", "R-2.3", "R-2.4", "R-2.5", "R-2.6")  # what a case can be routed by


def route_rule(ctx: Ctx) -> str:
    """The rule this case was routed by (R-2.1 director ≥ 7 days, R-2.2 recorded, R-2.3 staff, R-2.4 next
    level up, R-2.5 over the presence limit, R-2.6 extension): cited in its mail and refusals."""
    return str(ctx.require_case().data.get("route_rule", "R-2.3"))


def after_the_fact(ctx: Ctx) -> bool:
    return bool(ctx.require_case().data.get("after_the_fact"))


def base_of(data: dict[str, Any]) -> int | None:
    """The leave this one extends or continues (one absence, R-2.6)."""
    base = data.get("extends", data.get("continues"))
    return int(base) if base is not None else None


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
    """The level above the approver the request is routed to (R-2.8), never that approver: the supervising
    leader above a director; above the supervising leader (routed there, or standing in for an absent
    director, R-2.4) there is nobody in the regulation, so the General Office's clerks are told."""
    case = ctx.require_case()
    routed_to = approvers(ctx) if not case.data.get("escalated") else [
        p for p in approvers(ctx) if p.has("director") and p.office == case.office]
    if case.data.get("approver_role") == "director" and routed_to and not any(
            p.has("supervising_leader") for p in routed_to):
        found = people(ctx, "supervising_leader", exclude=case.subject)
    else:
        found = people(ctx, "clerk", exclude=case.subject)
    routed_ids = {p.id for p in routed_to}
    return [p for p in found if p.id not in routed_ids]


def requester(ctx: Ctx) -> list[Person]:
    subject = ctx.require_case().subject
    p = ctx.org.person(subject) if subject else None
    return [p] if p is not None else []


def may_decide(ctx: Ctx) -> Refusal | None:
    case, actor = ctx.require_case(), ctx.actor
    assert actor is not None
    if case.subject in ctx.actors:  # the requester acting for an approver by a delegation too (issue 15.4)
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


def routed(rule: str, check: Any) -> Guard:
    """`check` as a guard that names the rule the case was routed by (one guard per route; only the
    case's own route asks)."""
    def guard(ctx: Ctx) -> str | None:
        return check(ctx) if route_rule(ctx) == rule else None

    return Guard(rule, guard)


def reject_reason(ctx: Ctx) -> None:
    """A leave that has already been taken is rejected only with the reason (it stays off site, R-2.5)."""
    if after_the_fact(ctx) and not (ctx.comment or "").strip():
        raise BadInput("reject: this leave was recorded after it began; give the reason with --comment TEXT")


def return_date_valid(ctx: Ctx) -> str | None:
    day = param_date(ctx, "date", required=False) or ctx.today
    start = data_date(ctx.data, "start")
    if day < start and "with" not in ctx.details:  # with the leave it extends: closed on its first day
        return f"the return date {day} is before the leave started ({start})"
    if day > ctx.today:
        return f"the return date {day} is in the future; record it when it happens"
    return None


# -- effects -----------------------------------------------------------------------------------------
def count_off_site(ctx: Ctx, source: str = "leave") -> None:
    """The case's days (its data's start and end) counted off site for its subject (R-2.5), once (a leave
    recorded after the fact is counted from the start)."""
    case = ctx.require_case()
    assert case.subject is not None
    ctx.tx.remove_off_site(case.id)
    ctx.tx.add_off_site(OffSite(person=case.subject, start=data_date(case.data, "start"),
                                end=data_date(case.data, "end"), case_id=case.id, source=source))


def uncount_off_site(ctx: Ctx) -> None:
    ctx.tx.remove_off_site(ctx.require_case().id)


def record_return(ctx: Ctx) -> None:
    case = ctx.require_case()
    assert case.subject is not None
    day = param_date(ctx, "date", required=False) or ctx.today
    start, end = data_date(case.data, "start"), data_date(case.data, "end")
    if day < start:  # closed with the leave it extends, before its own first day
        day = start
    case.data["returned_on"] = day.isoformat()
    ctx.details["returned_on"] = day.isoformat()
    if day - timedelta(days=1) < end:
        ctx.tx.trim_off_site(case.id, day - timedelta(days=1))  # back early: fewer days off site
    elif day - timedelta(days=1) > end and not case.data.get("extended_by"):
        # back later than the day after the last day: flagged, and the days in between were off site too
        late = (day - end).days - 1
        case.data["late_return_days"] = late
        ctx.details.update(late_return_days=late, rule="R-2.7",
                           why=f"back on {day}, {n_days(late)} after the day after the last day {end}: "
                               "counted off site (R-2.5)")
        ctx.tx.remove_off_site(case.id)
        ctx.tx.add_off_site(OffSite(person=case.subject, start=start, end=day - timedelta(days=1),
                                    case_id=case.id, source="leave"))
    n = ctx.policy.int("leave.return_reminder_after_workdays")
    expected, _day, _note = end_of_workday_after(ctx, end, n)
    if ctx.now > expected and not case.data.get("extended_by"):
        case.data["return_recorded_late"] = True
        ctx.details["recorded_late"] = True
    close_chain(ctx, day)


# -- one absence: a leave and its extensions (R-2.6) -----------------------------------------------------
def extensions(ctx: Ctx) -> list[Any]:
    """The active cases that extend (or continue) this one."""
    case = ctx.require_case()
    assert case.subject is not None
    return [c for c in ctx.tx.cases_of(PROCESS, case.subject, ACTIVE) if base_of(c.data) == case.id]


def _because(ctx: Ctx, what: str) -> dict[str, Any]:
    case = ctx.require_case()
    return {"rule": "R-2.6", "with": case.id, "why": f"the leave it extends (case {case.id}) {what}"}


def withdraw_chain(ctx: Ctx) -> None:
    """Withdrawn with the leave it extends: what extends it is withdrawn too (R-2.6: one absence)."""
    for ext in extensions(ctx):
        ctx.follow(ext.id, "withdraw", **_because(ctx, "was withdrawn"))


def reject_chain(ctx: Ctx) -> None:
    """The leave refused: a pending extension is refused with it, an approved one withdrawn (R-2.6)."""
    for ext in extensions(ctx):
        trigger = "reject" if ext.state == "pending" else "withdraw"
        ctx.follow(ext.id, trigger, **_because(ctx, "was rejected"))


def extend_base(ctx: Ctx) -> None:
    """An extension granted (approved or recorded): the leave it extends expects the return at the
    extension's end, so its own 销假 reminder is dropped (R-2.6, R-2.7)."""
    case = ctx.require_case()
    base = base_of(case.data)
    if base is not None and case.state == "approved":
        ctx.follow(base, "extend", extension=case.id, expected_end=case.data["end"], rule="R-2.6")


def record_extension(ctx: Ctx) -> None:
    case = ctx.require_case()
    case.data["extended_by"] = int(ctx.details["extension"])
    case.data["expected_end"] = str(ctx.details["expected_end"])
    if case.state == "on_leave":
        ctx.tx.cancel_deadlines(case.id, ctx.now)  # the 销假 reminder of this leave's own end


def close_chain(ctx: Ctx, day: date) -> None:
    """One `return` closes the whole absence: the leave it extends and the extensions under way are
    returned on the same day; extensions not begun yet (or not decided) are withdrawn (R-2.6)."""
    case = ctx.require_case()
    base = base_of(case.data)
    if base is not None:
        ctx.follow(base, "return", {"date": day.isoformat()},
                   **{"rule": "R-2.6", "with": case.id, "why": f"returned with its extension (case {case.id})"})
    for ext in extensions(ctx):
        if ext.state == "on_leave":
            ctx.follow(ext.id, "return", {"date": day.isoformat()}, **_because(ctx, f"was returned on {day}"))
        else:
            ctx.follow(ext.id, "withdraw", **_because(ctx, f"was returned on {day}, before this began"))


def tell_chain(ctx: Ctx) -> None:
    """A leave withdrawn because of the leave it extends: the requester (and whoever was to decide it)
    is told (R-2.6)."""
    if "with" not in ctx.details:
        return
    deciders = approvers(ctx) if ctx.require_case().data.get("approver_role") != "none" else []
    ctx.notify("leave.cancelled", requester(ctx) + deciders, "R-2.6", base=ctx.details["with"])


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


def _subject(ctx: Ctx, recorder: Person) -> Person | None:
    """`--subject PERSON`: the person whose leave that has begun the clerk or their director records;
    None when the actor asks for their own leave."""
    raw = ctx.params.get("subject")
    if raw is None or str(raw).strip() == recorder.id:
        return None
    person = ctx.org.person(str(raw).strip())
    if person is None or not person.active:
        raise NotFound("person", str(raw).strip()[:40])
    if not (recorder.has("clerk") or (recorder.has("director") and recorder.office == person.office
                                      and person.office is not None)):
        raise NotPermitted("R-2.3", f"{recorder.id} may not record leave for {person.id}: a leave that has "
                                    "begun is recorded by a General Office clerk or the person's director")
    return person


def open_leave(ctx: Ctx) -> OpenPlan:
    recorder = ctx.actor
    if recorder is None:
        raise BadInput("a leave request needs --as PERSON")
    subject = _subject(ctx, recorder)
    actor = subject or recorder  # whose leave it is (the requester)
    if actor.office is None or not (actor.roles & OFFICE_ROLES):
        raise RuleViolation("R-2.3", f"{actor.id} is not staff of an office; R-2 covers the offices' people")
    start, end, days = span(ctx, "a leave")
    if ctx.override is not None:
        raise BadInput("--override is given by the approver when deciding (R-2.5), not when asking for leave")
    if subject is not None:
        if start > ctx.today:
            raise RuleViolation("R-2.3", f"the leave starts {start}, after today: {actor.id} asks for it "
                                         "before it starts; only a leave that has begun is recorded for someone")
        if start < ctx.today - timedelta(days=366):
            raise BadInput("--start: more than a year in the past")
    mine = held_leave(ctx, actor.id)
    clash = day_clash(ctx, actor.id, start, end, mine)
    if clash:
        raise RuleViolation("R-2.5", clash + "; each day is asked for once")
    total = days
    data: dict[str, Any] = {"start": start.isoformat(), "end": end.isoformat(), "days": days}
    if ctx.params.get("reason") is not None:
        data["reason"] = str(ctx.params["reason"])
    if subject is not None:
        data.update(after_the_fact=True, recorded_by=recorder.id)
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
    if start <= ctx.today and subject is None:  # the leave starts at 00:00 of its first day
        raise RuleViolation(rule, f"leave is asked before it starts; it starts {start} 00:00, which has "
                                  "passed (a leave that has begun is recorded by a General Office clerk or "
                                  f"the director: --subject {actor.id})")
    candidates = [p for p in ctx.org.holders(route, actor.office if route == "director" else None)
                  if p.id != actor.id]
    if not candidates:
        raise RuleViolation("R-2.4", f"nobody can approve this request (no {route.replace('_', ' ')} "
                                     "other than the requester)")
    data.update(approver_role=route, route_rule=rule, escalated=False)
    details: dict[str, Any] = {"route": route, "rule": rule, "why": why}
    if subject is not None:
        details.update(after_the_fact=True, recorded_by=recorder.id)
    return OpenPlan(state="pending", office=actor.office, subject=actor.id, data=data, details=details)


def count_recorded(ctx: Ctx) -> None:
    """A recorded leave (R-2.2), or one recorded after it began, counts off site at once (R-2.5)."""
    if ctx.require_case().state == "approved" or after_the_fact(ctx):
        count_off_site(ctx)
    extend_base(ctx)


def notify_opened(ctx: Ctx) -> None:
    """The approver is asked (a leave recorded after the fact too); a director's recorded short leave is
    reported to the General Office (R-2.2). Each cites the rule the case was routed by."""
    case = ctx.require_case()
    if case.state == "pending":
        due = None if after_the_fact(ctx) else start_of(data_date(case.data, "start"))
        ctx.notify("leave.requested", approvers(ctx), route_rule(ctx), actions=("approve", "reject"), due_at=due,
                   **mail_facts(ctx))
    else:
        ctx.notify("leave.recorded", clerks(ctx), route_rule(ctx), **mail_facts(ctx))


def notify_decision(ctx: Ctx) -> None:
    event = "leave.approved" if ctx.require_case().state == "approved" else "leave.rejected"
    ctx.notify(event, requester(ctx), route_rule(ctx), **mail_facts(ctx))


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
    if after_the_fact(ctx):
        return None  # recorded once begun: nothing to flag at its start
    start = data_date(ctx.data, "start")
    due = start_of(start)
    return due, f"flagged at {show(due)}: the leave starts {start} and is still undecided (R-2.8)"


def due_start(ctx: Ctx) -> tuple[Any, str] | None:
    start = data_date(ctx.data, "start")
    due = start_of(start)
    return due, f"on leave from {show(due)}, the first day {start} (R-2.5 counts it off site)"


def due_lapse(ctx: Ctx) -> tuple[Any, str] | None:
    if after_the_fact(ctx):
        return None  # a leave recorded after it began waits for its decision, however long
    end = data_date(ctx.data, "end")
    due = start_of(end + timedelta(days=1))
    return due, f"lapses at {show(due)}: the last day {end} has passed and the request is still undecided (R-2.8)"


def due_return(ctx: Ctx) -> tuple[Any, str] | None:
    if ctx.data.get("extended_by"):
        return None  # the return is expected at the end of the extension, and chased there
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


def is_over(ctx: Ctx) -> bool:
    """The leave's last day has passed (a tick catching up after downtime): asking to decide it before it
    starts makes no sense any more; it lapses instead (R-2.8). Not for a leave recorded after the fact,
    which is decided whenever it is."""
    return not after_the_fact(ctx) and ctx.today > data_date(ctx.data, "end")


def remind_approver(ctx: Ctx) -> None:
    if is_over(ctx):
        return
    due = None if after_the_fact(ctx) else start_of(data_date(ctx.data, "start"))
    ctx.notify("leave.reminder", approvers(ctx), "R-2.8", actions=("approve", "reject"), due_at=due,
               **mail_facts(ctx))


def escalate(ctx: Ctx) -> None:
    """R-2.8: the level above whoever decides now, never the approver itself: a director's request goes
    up to the supervising leader, who may then decide it; above the supervising leader the General
    Office's clerks are told, to follow it up."""
    case = ctx.require_case()
    if is_over(ctx) or case.data.get("escalated"):
        return
    due = None if after_the_fact(ctx) else start_of(data_date(case.data, "start"))
    n = ctx.policy.int("leave.escalate_after_workdays")
    why = f"no decision {n_days(n, 'working')} after the request"
    to = superiors(ctx)
    if case.data["approver_role"] == "director" and any(p.has("supervising_leader") for p in to):
        case.data["escalated"] = True
        ctx.record("escalate", {"rule": "R-2.8", "to": "supervising_leader", "why": why})
        ctx.notify("leave.escalated", to, "R-2.8", actions=("approve", "reject"), due_at=due, **mail_facts(ctx))
        return
    case.data["escalated_to_clerks"] = True
    ctx.record("escalate", {"rule": "R-2.8", "to": "clerk", "why": why + " (the supervising leader decides it: "
                                                                      "the General Office follows it up)"})
    ctx.notify("leave.escalated", to, "R-2.8", due_at=due, **mail_facts(ctx))


def flag_undecided(ctx: Ctx) -> None:
    case = ctx.require_case()
    if is_over(ctx):
        return  # it lapses at once (the next deadline): one mail, not a stale "starts today"
    start = data_date(case.data, "start")
    case.data["flagged"] = True
    today = ctx.today == start
    ctx.record("flag", {"rule": "R-2.8", "why": "the leave starts today and is still undecided" if today else
                        f"the leave started {start} and is still undecided"})
    # cannot wait for office hours: the leave starts (or started) undecided, perhaps on a Saturday (docs/mail.md)
    ctx.notify("leave.undecided_at_start", requester(ctx) + superiors(ctx), "R-2.8",
               actions=("approve", "reject"), started=start.isoformat(), starts_today=today, urgent=True,
               **mail_facts(ctx))


def record_lapse(ctx: Ctx) -> None:
    end = data_date(ctx.data, "end")
    ctx.details.update(rule="R-2.8", why=f"still undecided after its last day {end}: the request lapses")
    ctx.notify("leave.lapsed", requester(ctx) + clerks(ctx), route_rule(ctx), **mail_facts(ctx))


def remind_return(ctx: Ctx) -> None:
    ctx.notify("leave.return_overdue", requester(ctx) + approvers(ctx), "R-2.7", actions=("return",),
               due_at=ctx.deadline.due_at if ctx.deadline else None, **mail_facts(ctx))



# -- its section of `report compliance`: presence, from the off-site ledger --------------------------
def _days_off_site(rows: list[OffSite], person: str, year: int) -> int:
    """Days off site in the year; overlapping records (an extension next to its leave) count once."""
    days: set[date] = set()
    for r in rows:
        if r.person == person:
            first = max(r.start, date(year, 1, 1))
            days.update(first + timedelta(days=n) for n in range(overlap_days(r.start, r.end, year)))
    return len(days)


def compliance(section: Section) -> dict[str, Any]:
    limit = presence_limit(section.year)
    presence = []
    for p in sorted(section.org.people.values(), key=lambda p: p.id):
        if p.active and p.office == section.office:
            days = _days_off_site(section.off_site, p.id, section.year)
            presence.append({"person": p.id, "off_site_days": days, "limit": limit, "over": days > limit})
    return {"presence": presence}


DEFINITION = registry.register(ProcessDefinition(
    name=PROCESS,
    version=1,
    title="Leave from post (离岗请假)",
    names={"zh": "离岗请假", "en": "leave from post"},
    home=HOME,
    compliance=compliance,
    compliance_cases=False,
    options=(
        Option("start", "first day of the leave, YYYY-MM-DD", "date", required=True),
        Option("end", "last day of the leave, YYYY-MM-DD (days counted inclusive, R-0.5)", "date", required=True),
        Option("reason", "why (kept in the case; never mailed, R-7.3)"),
        Option("extends", "the leave case this one extends (R-2.6: routed on the total length)", "id"),
        Option("subject", "the person whose leave it is, when the clerk or their director records a leave "
               "that has begun (R-2.3)", "person"),
        Option("date", "return: the day of return, YYYY-MM-DD (default: today)", "date"),
    ),
    policy_order=(("leave.remind_approver_after_workdays", "leave.escalate_after_workdays",
                   "R-2.8: remind before escalating"),),
    states=("pending", "approved", "rejected", "withdrawn", "on_leave", "returned", "lapsed"),
    initial_states=("pending", "approved"),
    final_states=("rejected", "withdrawn", "returned", "lapsed"),
    opener=open_leave,
    open_options=frozenset({"start", "end", "reason", "extends", "subject"}),
    open_effects=(count_recorded, notify_opened),
    transitions=(
        Transition("approve", ("pending",), "approved", may_decide,
                   "the approver of R-2.1/R-2.3/R-2.4 (not the requester)",
                   guards=(Guard("R-2.5", within_presence_limit, overridable=True),),
                   effects=(count_off_site, notify_decision, extend_base)),
        Transition("reject", ("pending",), "rejected", may_decide,
                   "the approver of R-2.1/R-2.3/R-2.4 (not the requester); with the reason for a leave "
                   "recorded after it began",
                   effects=(reject_reason, notify_decision, reject_chain)),
        Transition("withdraw", ("pending", "approved"), "withdrawn", is_requester, "the requester",
                   guards=tuple(routed(rule, before_start) for rule in ROUTE_RULES),
                   effects=(uncount_off_site, withdraw_chain, tell_chain)),
        Transition("start", ("approved",), "on_leave", None, "the daemon, on the first day"),
        Transition("return", ("on_leave",), "returned", requester_or_director,
                   "the requester or their director", guards=(Guard("R-2.7", return_date_valid),),
                   options=frozenset({"date"}), effects=(record_return,)),
        Transition("lapse", ("pending",), "lapsed", None,
                   "the daemon, when the last day has passed undecided (R-2.8)", effects=(record_lapse,)),
        # an extension granted; the return is expected at its end (state and deadlines kept).
        Transition("extend", ("approved", "on_leave"), None, None,
                   "the engine, when an extension of this leave is granted (R-2.6)", effects=(record_extension,)),
    ),
    deadlines=(
        DeadlineSpec("remind_approver", "pending", "R-2.8", due_remind, "remind_approver"),
        DeadlineSpec("escalate", "pending", "R-2.8", due_escalate, "escalate"),
        DeadlineSpec("undecided_at_start", "pending", "R-2.8", due_undecided, "flag_undecided"),
        DeadlineSpec("lapse", "pending", "R-2.8", due_lapse, "trigger:lapse"),
        DeadlineSpec("start", "approved", "R-2.5", due_start, "trigger:start"),
        DeadlineSpec("return_overdue", "on_leave", "R-2.7", due_return, "remind_return"),
    ),
    events=("leave.requested", "leave.recorded", "leave.approved", "leave.rejected", "leave.reminder",
            "leave.escalated", "leave.undecided_at_start", "leave.return_overdue", "leave.lapsed",
            "leave.cancelled"),
    handlers={
        "remind_approver": remind_approver,
        "escalate": escalate,
        "flag_undecided": flag_undecided,
        "remind_return": remind_return,
    },
))
