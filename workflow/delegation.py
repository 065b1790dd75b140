"""Dated delegations (issue 15.4): "李明 acting for 王建国, 1–14 March".

A delegation names an absent person A, an acting person B and the days (inclusive, local dates in
Asia/Shanghai, R-0.4). While it is in force:
- when B fires a trigger that B's own roles do not permit but A's would, the step runs with A's authority
  (`ctx.actor` is A, `ctx.delegate` is B): permission and rules are checked as A, and the history row says
  who acted and for whom (actor B, details `acting_for` A);
- the rules that keep a person off their own case check both (`Ctx.actors`): B does not approve B's own
  leave acting for the director (R-2.4), nor audit B's own departure (R-4.3);
- the mail meant for A goes to B too, saying "acting for A" (queued with A's, `stand_ins`).

No chains: only A's own roles are lent (a delegate's borrowed authority is never passed on), and a
delegation is refused when its acting person is away by a delegation on any of its days, or its absent
person acts for someone then. One absent person has one delegation at a time (overlaps are refused).

A delegation is set by the absent person or a General Office clerk, and ended early by either
(`outpost delegate add|list|end`). Outpost's own rules, not the regulation's: refusals cite R-0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from typing import Any

from workflow.clock import Clock, require_aware
from workflow.context import Ctx
from workflow.definition import Permission
from workflow.errors import BadInput, NotFound, NotPermitted, RuleViolation
from workflow.model import Delegation, Org, Person
from workflow.ports import CaseStore, DelegationTx
from workflow.timeutil import local_date, local_iso, parse_date

RULE = "R-0"  # Outpost's own rule (issue 15.4): the regulation says nothing of delegation
MAX_DAYS = 366
MAX_REASON = 2000
SETTERS = "the absent person or a General Office clerk"


# -- the engine's side ---------------------------------------------------------------------------------
def acting_for(tx: DelegationTx, person: str, day: date) -> list[Delegation]:
    """The delegations in force on `day` under which `person` acts for someone."""
    return [d for d in tx.delegations(person, on=day) if d.acting == person]


def take_over(ctx: Ctx, permits: Permission) -> bool:
    """When the actor's own roles do not permit a step: act for the absent person whose own roles do,
    under a delegation in force today. On True, `ctx.actor` is that person and `ctx.delegate` the one who
    acts; on False the context is as it was. Only A's own roles count (`permits` sees A as the actor and
    never looks at delegations), so what B holds by delegation is never passed on (no chains)."""
    me = ctx.actor
    if me is None or ctx.delegate is not None:
        return False
    for d in acting_for(ctx.tx, me.id, ctx.today):
        absent = ctx.org.person(d.absent)
        if absent is None or not absent.active:
            continue
        ctx.actor, ctx.delegate = absent, me
        if permits(ctx) is None:
            ctx.details["acting_for"] = absent.id
            return True
        ctx.actor, ctx.delegate = me, None
    return False


def stand_ins(ctx: Ctx) -> dict[str, list[Person]]:
    """Who stands in for whom today, by absent person: the delegates who get the mail meant for them."""
    found: dict[str, list[Person]] = {}
    for d in ctx.tx.delegations(on=ctx.today):
        acting = ctx.org.person(d.acting)
        if acting is not None and acting.active:
            found.setdefault(d.absent, []).append(acting)
    return found


def with_stand_ins(people: list[Person], standing: dict[str, list[Person]],
                   subject: str | None) -> Iterator[tuple[Person, Person | None]]:
    """Each recipient (with None), then each delegate standing in for one of them (with the person they act
    for) who is not a recipient already, once. A delegate is not copied on a case about themselves: what A
    is asked to do there, B may not do for A (R-2.4, R-4.3)."""
    named = {p.id for p in people}
    for p in people:
        yield p, None
    if not standing:
        return
    for p in people:
        for b in standing.get(p.id, ()):
            if b.id not in named and b.id != subject:
                named.add(b.id)
                yield b, p


# -- the commands: delegate add | list | end -----------------------------------------------------------
def status(d: Delegation, today: date) -> str:
    if d.ended_at is not None:
        return "ended"
    if today < d.start:
        return "upcoming"
    return "in_force" if today <= d.end else "over"


def delegation_json(d: Delegation, org: Org | None, today: date) -> dict[str, Any]:
    def name(pid: str | None) -> str | None:
        p = org.person(pid) if org is not None and pid else None
        return p.name if p is not None else None

    return {"id": d.id, "absent": d.absent, "absent_name": name(d.absent), "acting": d.acting,
            "acting_name": name(d.acting), "start": d.start.isoformat(), "end": d.end.isoformat(),
            "reason": d.reason, "status": status(d, today), "set_by": d.set_by, "set_at": local_iso(d.set_at),
            "ended_at": local_iso(d.ended_at), "ended_by": d.ended_by}


def _person(org: Org, person_id: str, what: str) -> Person:
    if not isinstance(person_id, str) or not person_id:
        raise BadInput(f"{what}: give a person's id")
    p = org.person(person_id)
    if p is None or not p.active:
        raise NotFound("person", f"{person_id[:64]} ({what})")
    return p


def _reason(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > MAX_REASON:
        raise BadInput(f"--reason: longer than {MAX_REASON} characters")
    if any(ord(ch) < 32 and ch not in "\t\n" for ch in value) or "\x7f" in value:
        raise BadInput("--reason: contains control characters")
    return value


def _may_set(setter: Person, absent: str) -> None:
    if setter.id != absent and not setter.has("clerk"):
        raise NotPermitted(RULE, f"{setter.id} may not set or end {absent}'s delegation: {SETTERS} may")


def _overlaps(d: Delegation, start: date, end: date) -> bool:
    return d.start <= end and start <= d.end


class Delegations:
    """`outpost delegate add|list|end`: each in one transaction, through the store's port."""

    def __init__(self, store: CaseStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def add(self, as_: str, absent: str, acting: str, start: str | date, end: str | date,
            reason: str | None = None) -> dict[str, Any]:
        now = require_aware(self.clock.now())
        today = local_date(now)
        first = start if isinstance(start, date) else parse_date(str(start), "--start")
        last = end if isinstance(end, date) else parse_date(str(end), "--end")
        if last < first:
            raise BadInput(f"--end {last} is before --start {first}")
        if (last - first).days + 1 > MAX_DAYS:
            raise BadInput(f"--end: a delegation is at most {MAX_DAYS} days long; {first} – {last} is "
                           f"{(last - first).days + 1} days")
        if last < today:
            raise BadInput(f"--end {last} has passed (today is {today}): a delegation is for days to come")
        reason = _reason(reason)
        with self.store.transaction() as tx:
            org = tx.org()
            setter = _person(org, as_, "--as")
            a = _person(org, absent, "--absent")
            b = _person(org, acting, "--acting")
            if a.id == b.id:
                raise BadInput(f"--acting: {b.id} is the absent person; name who acts for them")
            _may_set(setter, a.id)
            for pid in sorted((a.id, b.id)):  # two writers setting linked delegations see each other (PG)
                tx.hold_person(pid)
            for d in tx.delegations(a.id):
                if not _overlaps(d, first, last):
                    continue
                if d.absent == a.id:
                    raise RuleViolation(RULE, f"{a.id} already has delegation {d.id} ({d.acting} acting, "
                                              f"{d.start} – {d.end}) on some of these days; end it first")
                raise RuleViolation(RULE, f"no chains: {a.id} acts for {d.absent} {d.start} – {d.end} "
                                          f"(delegation {d.id}); what {a.id} holds by delegation is not passed on")
            for d in tx.delegations(b.id):
                if d.absent == b.id and _overlaps(d, first, last):
                    raise RuleViolation(RULE, f"no chains: {b.id} is away {d.start} – {d.end} themselves "
                                              f"({d.acting} acting for them, delegation {d.id})")
            row = Delegation(absent=a.id, acting=b.id, start=first, end=last, reason=reason, set_by=setter.id,
                             set_at=now)
            row = replace(row, id=tx.add_delegation(row))
            return delegation_json(row, org, today)

    def end(self, as_: str, delegation_id: str | int) -> dict[str, Any]:
        try:
            ident = int(str(delegation_id))
        except ValueError:
            raise BadInput(f"unknown delegation: {str(delegation_id)[:40]!r} (an id is a number)") from None
        if not 0 < ident < 2**31:
            raise NotFound("delegation", ident)
        now = require_aware(self.clock.now())
        today = local_date(now)
        with self.store.transaction() as tx:
            org = tx.org()
            setter = _person(org, as_, "--as")
            d = tx.get_delegation(ident)
            if d is None:
                raise NotFound("delegation", ident)
            _may_set(setter, d.absent)
            if d.ended_at is not None:
                raise RuleViolation(RULE, f"delegation {ident} was ended at {local_iso(d.ended_at)} by {d.ended_by}")
            if d.end < today:
                raise RuleViolation(RULE, f"delegation {ident} ran until {d.end}; there is nothing left to end")
            tx.end_delegation(ident, now, setter.id)
            return delegation_json(replace(d, ended_at=now, ended_by=setter.id), org, today)

    def list(self) -> list[dict[str, Any]]:
        today = local_date(require_aware(self.clock.now()))
        with self.store.transaction(write=False) as tx:
            org = tx.org()
            return [delegation_json(d, org, today) for d in tx.delegations(ended=True)]
