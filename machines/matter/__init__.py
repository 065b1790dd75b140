"""`matter` — 重大事项报告/请示 (REGULATION.md R-3).

An office reports (报告, for information: the General Office acknowledges it) or requests (请示: the
supervising leader approves, rejects or returns it for revision) a major matter (R-3.1, R-3.2). The
categories are data (`CATEGORIES`): what each may be submitted as, whether it carries a date, whether it
must be asked in advance (R-3.3) or on time (R-3.4). Business and guarantees are refused at submission
(R-3.7). An approved request is executed or abandoned by the office's director, never before approval
(R-3.3), and the clerk closes the case (R-3.5). The decision is chased in working days (R-3.6, R-0.6).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from machines._common import after_workdays, clerks, data_date, n_days, param_date, show
from machines._common import office_directors as directors
from machines._common import supervising_leaders as leaders
from workflow import registry
from workflow.amounts import parse_yuan, yuan_text
from workflow.context import Ctx
from workflow.definition import DeadlineSpec, Guard, Notice, OpenPlan, Option, ProcessDefinition, Refusal, Transition
from workflow.errors import BadInput, RuleViolation
from workflow.model import OFFICE_ROLES, Person
from workflow.timeutil import LOCAL_TZ, local_midnight
from workflow.wording import ordinal

HOME = Path(__file__).parent  # templates/ and policy.toml of this process

PROCESS = "matter"
KINDS = ("report", "request")
REMIND_AT = time(9, 0)  # follow-ups go out at 09:00 local
MAX_TITLE = 200
MAX_AMOUNT = 10**12  # a trillion yuan: anything above is a typing error
MAX_DAYS_AHEAD = 2 * 366  # an event or planned date more than two years ahead is a typing error


@dataclass(frozen=True)
class Category:
    """One kind of major matter the regulation names (R-3.1).

    kinds: what it may be submitted as · dated: the kinds that must give --event-date · in_advance: the
    kinds that are asked in writing and in advance with a planned execution date and may not be executed
    before approval (R-3.3) · timely: reported before its event date by the policy lead time (R-3.4).
    """

    code: str
    name: str
    clause: str
    kinds: tuple[str, ...] = KINDS
    dated: tuple[str, ...] = ()
    in_advance: tuple[str, ...] = ()
    timely: bool = False


CATEGORIES: dict[str, Category] = {c.code: c for c in (
    Category("asset_purchase", "purchase of fixed assets (固定资产购置)", "五(一)2, 五(三)",
             kinds=("request",), dated=("request",), in_advance=("request",)),
    Category("asset_disposal", "disposal of fixed assets (固定资产处置)", "五(一)2, 五(三)",
             kinds=("request",), dated=("request",), in_advance=("request",)),
    Category("vip_reception", "reception of a delegation led by a vice-mayor or above (重要接待)", "五(一)2",
             dated=KINDS, timely=True),
    Category("client_visit", "important clients visiting Xingtai (重要客户来邢考察)", "五(一)2",
             dated=KINDS, timely=True),
    # A dispute, loss or gain is reported when it happens; asking to act on it (settle, write off) is a
    # significant asset matter, so such a request is asked in advance with its planned date (五(三)).
    Category("asset_dispute", "dispute, controversy, loss or gain of state assets (资产纠纷、争议、损益)", "五(三)",
             dated=("request",), in_advance=("request",)),
    Category("other", "any other matter to report or request (其他事项)", "五(一)2"),
)}

# kinds of matter the offices may not engage in at all; refused at submission with the clause.
PROHIBITED: dict[str, str] = {
    "business": "五(二)2–3: the offices and their staff may not run businesses or enterprises (不得经商办企业)",
    "guarantee": "五(二)2: the offices may not give guarantees for any unit or person (不得为任何单位和个人提供担保)",
}


def category(data: dict[str, Any]) -> Category:
    return CATEGORIES[str(data["category"])]


def is_request(data: dict[str, Any]) -> bool:
    return data.get("kind") == "request"


# -- people ------------------------------------------------------------------------------------------
def requester(ctx: Ctx) -> list[Person]:
    p = ctx.org.person(str(ctx.data.get("requester", "")))
    return [p] if p is not None and p.active else []


def deciders(ctx: Ctx) -> list[Person]:
    """Who acts on a submitted matter: a request's supervising leader, a report's clerks (R-3.2)."""
    return leaders(ctx) if is_request(ctx.data) else clerks(ctx)


def above_deciders(ctx: Ctx) -> list[Person]:
    """Where an escalation goes (R-3.6): the level above whoever decides, never the decider itself. A
    report's clerks have the supervising leader above them; above the supervising leader, who decides a
    request, the regulation names nobody, so the General Office's clerks follow it up."""
    deciding = {p.id for p in deciders(ctx)}
    found = clerks(ctx) if is_request(ctx.data) else leaders(ctx)
    return [p for p in found if p.id not in deciding]


def requester_and_director(ctx: Ctx) -> list[Person]:
    return requester(ctx) + directors(ctx)


# -- who -----------------------------------------------------------------------------------------------
def _actor(ctx: Ctx) -> Person:
    assert ctx.actor is not None
    return ctx.actor


def supervising_leader(ctx: Ctx) -> Refusal | None:
    if _actor(ctx).has("supervising_leader"):
        return None
    return ("R-3.2", "a request is decided by the supervising leader")


def general_office_receiver(ctx: Ctx) -> Refusal | None:
    actor = _actor(ctx)
    if actor.has("clerk") or actor.has("supervising_leader"):
        return None
    return ("R-3.2", "a report is acknowledged by a General Office clerk or the supervising leader")


def is_requester(ctx: Ctx) -> Refusal | None:
    if _actor(ctx).id == ctx.data.get("requester"):
        return None
    return ("R-3.2", f"only the requester ({ctx.data.get('requester')}) resubmits the matter")


def office_director(ctx: Ctx) -> Refusal | None:
    actor, office = _actor(ctx), ctx.require_case().office
    if actor.has("director") and actor.office == office:
        return None
    return ("R-3.5", f"the outcome is recorded by the director of {office}")


def clerk(ctx: Ctx) -> Refusal | None:
    if _actor(ctx).has("clerk"):
        return None
    return ("R-3.5", "a matter is closed by a General Office clerk")


# -- guards --------------------------------------------------------------------------------------------
def is_a_report(ctx: Ctx) -> str | None:
    if is_request(ctx.data):
        return "this is a request (请示): it is approved, rejected or returned for revision, not acknowledged"
    return None


def is_a_request(ctx: Ctx) -> str | None:
    if not is_request(ctx.data):
        return "this is a report (报告), for information: it is acknowledged, not decided"
    return None


def never_before_approval(ctx: Ctx) -> str:
    return (f"the matter is {ctx.require_case().state}, not approved; execution may only be recorded after "
            "the request is approved")


def outcome_date_valid(ctx: Ctx) -> str | None:
    day = param_date(ctx, "date", required=False)
    if day is not None and day > ctx.today:
        return f"the date {day} is in the future; record the outcome when it has happened"
    return None


# -- input ---------------------------------------------------------------------------------------------
def _text(ctx: Ctx, key: str) -> str | None:
    value = ctx.params.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _amount(raw: str | None) -> str | None:
    """Yuan with at most two decimals, as every amount option reads it (workflow/amounts.py): `30万` too."""
    if raw is None:
        return None
    return yuan_text(parse_yuan(raw, "--amount", positive=False, maximum=MAX_AMOUNT))


def _event_date(ctx: Ctx, cat: Category, kind: str, key: str) -> date | None:
    """The event (R-3.4) or planned execution (R-3.3) date, checked against the category's rules."""
    day = param_date(ctx, key, required=False)
    option = "--" + key.replace("_", "-")
    if day is None:
        if kind in cat.in_advance:
            raise RuleViolation("R-3.3", f"a {kind} of category {cat.code} is made in writing and in advance with its "
                                         f"planned execution date: give {option} DATE")
        if kind in cat.dated:
            raise RuleViolation("R-3.4", f"a matter of category {cat.code} is reported before its date: "
                                         f"give {option} DATE")
        return None
    if day > ctx.today + timedelta(days=MAX_DAYS_AHEAD):
        raise BadInput(f"{option}: {day} is more than two years ahead")
    if kind in cat.in_advance and day <= ctx.today:
        raise RuleViolation("R-3.3", f"a {kind} of category {cat.code} is made in advance (提前): the planned date "
                                     f"{day} is not after today ({ctx.today})")
    return day


def _timeliness(ctx: Ctx, cat: Category, event: date | None) -> dict[str, Any]:
    """R-3.4: on time when the event is at least the lead time (working days, R-0.6) after today."""
    if not cat.timely or event is None:
        return {}
    lead = ctx.policy.int("matter.lead_time_workdays")
    result = ctx.calendar.add_workdays(ctx.today, lead)
    late = event < result.day
    why = (f"submitted {ctx.today} for an event on {event}: "
           f"{'less than' if late else 'at least'} {n_days(lead, 'working')} before it "
           f"(on time if submitted by the day whose {ordinal(lead)} next working day is {event}, R-3.4){result.note}")
    return {"late": late, "late_why": why}


# -- deadlines and escalation (R-3.6) ----------------------------------------------------------------------
def near_day(ctx: Ctx, planned: date) -> date:
    """The first day on which `planned` is N working days away or less (R-3.6, policy N = 2):
    the earliest day d with at most N working days in (d, planned]."""
    n = ctx.policy.int("matter.escalate_when_planned_within_workdays")
    day, count = planned, 0
    while True:
        counted = count + (1 if ctx.calendar.is_workday(day) else 0)
        if counted > n:
            return day
        day, count = day - timedelta(days=1), counted


def decide_by(ctx: Ctx) -> tuple[datetime, str]:
    n = ctx.policy.int("matter.decide_within_workdays")
    submitted = datetime.fromisoformat(str(ctx.data["submitted_at"]))
    return after_workdays(ctx, submitted, n)


def _planned(data: dict[str, Any]) -> date | None:
    return data_date(data, "event_date") if data.get("event_date") else None


def due_reminder(ctx: Ctx) -> tuple[datetime, str]:
    n = ctx.policy.int("matter.remind_after_workdays")
    due, note = after_workdays(ctx, ctx.now, n)
    return due, (f"{'decision' if is_request(ctx.data) else 'acknowledgement'} reminder {show(due)} = {n} "
                 f"working days after the submission (R-3.6){note}")


def due_escalation(ctx: Ctx) -> tuple[datetime, str]:
    n = ctx.policy.int("matter.escalate_after_workdays")
    due, note = after_workdays(ctx, ctx.now, n)
    above = "the General Office clerks" if is_request(ctx.data) else "the supervising leader"
    return due, f"escalated to {above} {show(due)} = {n_days(n, 'working')} after the submission " \
                f"without a decision (R-3.6){note}"


def due_near(ctx: Ctx) -> tuple[datetime, str] | None:
    planned = _planned(ctx.data)
    if not is_request(ctx.data) or planned is None or ctx.data.get("escalated"):
        return None
    n = ctx.policy.int("matter.escalate_when_planned_within_workdays")
    day = near_day(ctx, planned)
    due = local_midnight(day)
    return due, (f"escalated at {show(due)}: from {day} the planned date {planned} is {n_days(n, 'working')} away "
                 f"or less, still without a decision (R-3.6)")


def due_follow_up(ctx: Ctx) -> tuple[datetime, str] | None:
    planned = _planned(ctx.data)
    if planned is None:
        return None
    result = ctx.calendar.add_workdays(planned, 1)
    due = datetime.combine(result.day, REMIND_AT, tzinfo=LOCAL_TZ)
    return due, (f"outcome asked for {show(due)}, the first working day after the planned date {planned}: "
                 f"the office records it executed or abandoned (R-3.5){result.note}")


def _mail_extra(ctx: Ctx) -> dict[str, Any]:
    """What a matter's mail may say (R-7.3): its category, kind, amount, date and lateness — what the one
    who decides needs (issue 17) — never its title."""
    data = ctx.data
    return {"category": data["category"], "kind": data["kind"], "event_date": data.get("event_date"),
            "late": bool(data.get("late")), "amount": data.get("amount")}


def escalate(ctx: Ctx, why: str, reason: str = "overdue") -> None:
    """Escalate this submission round once, to the level above whoever decides it (R-3.6): a report to
    the supervising leader, who may then acknowledge it; a request (decided by the supervising leader) to
    the General Office clerks, to follow it up. `reason` tells the mail which: "overdue" (no decision in
    time) or "near" (the planned date is close, undecided)."""
    data = ctx.data
    if data.get("escalated"):
        return
    data["escalated"] = True
    ctx.record("escalate", {"rule": "R-3.6", "to": "clerk" if is_request(data) else "supervising_leader",
                            "why": why})
    actions = () if is_request(data) else ("acknowledge",)
    due, _ = decide_by(ctx)
    # "near": the planned date is close, so it goes at once (R-3.6 "at once"; docs/mail.md)
    ctx.notify("matter.escalated", above_deciders(ctx), "R-3.6", actions=actions, due_at=due,
               reason=reason, urgent=reason == "near", **_mail_extra(ctx))


def escalate_if_near(ctx: Ctx) -> None:
    """R-3.6: a request whose planned date is already N working days away or less escalates at once."""
    planned = _planned(ctx.data)
    if not is_request(ctx.data) or planned is None:
        return
    if ctx.today >= near_day(ctx, planned):
        n = ctx.policy.int("matter.escalate_when_planned_within_workdays")
        escalate(ctx, f"submitted {ctx.today}: the planned date {planned} is {n_days(n, 'working')} away or less",
                 reason="near")


def notify_submitted(ctx: Ctx) -> None:
    due, _ = decide_by(ctx)
    if is_request(ctx.data):
        ctx.notify("matter.request_submitted", leaders(ctx), "R-3.2",
                   actions=("approve", "reject", "request_revision"), due_at=due, **_mail_extra(ctx))
    else:
        ctx.notify("matter.report_submitted", clerks(ctx), "R-3.2", actions=("acknowledge",), due_at=due,
                   **_mail_extra(ctx))


def remind_decider(ctx: Ctx) -> None:
    due, _ = decide_by(ctx)
    actions = ("approve", "reject", "request_revision") if is_request(ctx.data) else ("acknowledge",)
    ctx.notify("matter.reminder", deciders(ctx), "R-3.6", actions=actions, due_at=due, **_mail_extra(ctx))


def escalate_overdue(ctx: Ctx) -> None:
    n = ctx.policy.int("matter.escalate_after_workdays")
    escalate(ctx, f"no decision {n_days(n, 'working')} after the submission")


def escalate_near(ctx: Ctx) -> None:
    n = ctx.policy.int("matter.escalate_when_planned_within_workdays")
    escalate(ctx, f"the planned date {ctx.data.get('event_date')} is {n_days(n, 'working')} away, still undecided",
             reason="near")


def follow_up(ctx: Ctx) -> None:
    ctx.notify("matter.follow_up", directors(ctx), "R-3.5", actions=("execute", "abandon"), **_mail_extra(ctx))


# -- effects -------------------------------------------------------------------------------------------
def new_round(ctx: Ctx) -> None:
    """A resubmission starts a new decision round: a new SLA and, if need be, a new escalation (R-3.6)."""
    data = ctx.data
    if ctx.params.get("date") is not None:
        day = _event_date(ctx, category(data), str(data["kind"]), "date")
        assert day is not None
        data["event_date"] = day.isoformat()
        ctx.details["event_date"] = data["event_date"]
    elif data["kind"] in category(data).in_advance and data_date(data, "event_date") <= ctx.today:
        raise RuleViolation("R-3.3", f"the planned date {data['event_date']} has come: a request is made in "
                                     "advance, so resubmit it with a new --date")
    data["round"] = int(data.get("round", 1)) + 1
    data["escalated"] = False
    data["submitted_at"] = ctx.now.isoformat()


def record_outcome(ctx: Ctx) -> None:
    case = ctx.require_case()
    day = param_date(ctx, "date", required=False) or ctx.today
    ctx.data["outcome"] = case.state
    ctx.data["outcome_on"] = day.isoformat()
    ctx.details["outcome_on"] = day.isoformat()
    ctx.notify("matter.outcome_recorded", clerks(ctx), "R-3.5", actions=("close",), **_mail_extra(ctx))


def record_decision(ctx: Ctx) -> None:
    ctx.data["decided_at"] = ctx.now.isoformat()
    ctx.data["decision"] = ctx.require_case().state


def record_unapproved_execution(ctx: Ctx) -> None:
    """The compliance incident of R-3.3: who tried to record an execution, in which state.

    A refused step writes nothing, so this runs as the guard's `on_refusal` effect, in a small transaction
    of its own right after the refusal: a history row that changes no state (read by the compliance
    report), the incident in the case data, a mail to the General Office.
    """
    case, actor = ctx.require_case(), ctx.actor
    incident = {"rule": "R-3.3", "attempted": "execute", "state": case.state,
                "by": actor.id if actor else None, "at": ctx.now.isoformat()}
    ctx.data.setdefault("incidents", []).append(incident)
    ctx.record("compliance_incident", incident, comment=ctx.comment)
    ctx.notify("matter.compliance_incident", leaders(ctx) + clerks(ctx), "R-3.3", **_mail_extra(ctx))


# -- opening -------------------------------------------------------------------------------------------
def open_matter(ctx: Ctx) -> OpenPlan:
    actor = ctx.actor
    if actor is None:
        raise BadInput("a matter is submitted by a person: give --as PERSON")
    if actor.office is None or not (actor.roles & OFFICE_ROLES):
        raise RuleViolation("R-3.1", f"{actor.id} is not staff of an office; major matters are reported or "
                                     "requested by an office")
    code = _text(ctx, "category")
    if code is None:
        raise BadInput(f"--category is required ({', '.join(CATEGORIES)})")
    if code in PROHIBITED:
        raise RuleViolation("R-3.7", f"a {code} matter is refused at submission: {PROHIBITED[code]}")
    cat = CATEGORIES.get(code)
    if cat is None:
        raise BadInput(f"--category: unknown category {code[:40]!r} (known: {', '.join(CATEGORIES)})")
    kind = _text(ctx, "kind")
    if kind not in KINDS:
        raise BadInput(f"--kind: expected report or request, got {str(kind)[:20]!r}")
    if kind not in cat.kinds:
        raise RuleViolation("R-3.3", f"a matter of category {code} must be requested (请示) in writing and in advance, "
                                     "with its planned execution date: use --kind request --event-date DATE")
    title = _text(ctx, "title")
    if title is None:
        raise BadInput("--title is required")
    if len(title) > MAX_TITLE:
        raise BadInput(f"--title: longer than {MAX_TITLE} characters")
    event = _event_date(ctx, cat, kind, "event_date")
    data: dict[str, Any] = {"category": code, "kind": kind, "title": title, "requester": actor.id,
                            "round": 1, "escalated": False, "late": False, "submitted_at": ctx.now.isoformat()}
    if event is not None:
        data["event_date"] = event.isoformat()
    amount = _amount(_text(ctx, "amount"))
    if amount is not None:
        data["amount"] = amount
    data.update(_timeliness(ctx, cat, event))
    details: dict[str, Any] = {"rule": "R-3.2", "category": code, "kind": kind, "clause": cat.clause}
    if "late_why" in data:
        details.update(rule="R-3.4", late=data["late"], why=data["late_why"])
    return OpenPlan(state="submitted", office=actor.office, subject=actor.id, data=data, details=details)


DECIDE = "the supervising leader (a request, R-3.2)"
OUTCOME = "the office's director, after approval (R-3.3, R-3.5)"

DEFINITION = registry.register(ProcessDefinition(
    name=PROCESS,
    version=1,
    title="Major matter report or request (重大事项报告、请示)",
    names={"zh": "重大事项", "en": "major matter"},
    home=HOME,
    options=(
        Option("category", "asset_purchase | asset_disposal | vip_reception | client_visit | asset_dispute | other",
               required=True),
        Option("kind", "report (for information) | request (needs a decision) (R-3.2)", required=True),
        Option("title", "what the matter is (kept in the case; never mailed, R-7.3)", required=True),
        Option("event_date", "the planned date of the event or execution, YYYY-MM-DD (R-3.3, R-3.4)", "date"),
        Option("amount", "yuan: 300000, 300,000, 30万", "amount"),
        Option("date", "execute/abandon/resubmit: the date it happened, YYYY-MM-DD (default: today)", "date"),
    ),
    policy_order=(("matter.remind_after_workdays", "matter.escalate_after_workdays",
                   "R-3.6: remind before escalating"),),
    states=("submitted", "acknowledged", "revision_requested", "approved", "rejected", "executed",
            "abandoned", "closed"),
    initial_states=("submitted",),
    final_states=("closed",),
    opener=open_matter,
    open_options=frozenset({"category", "kind", "title", "event_date", "amount"}),
    open_effects=(escalate_if_near, notify_submitted),
    transitions=(
        Transition("acknowledge", ("submitted",), "acknowledged", general_office_receiver,
                   "a General Office clerk or the supervising leader (a report, R-3.2)",
                   guards=(Guard("R-3.2", is_a_report),),
                   notices=(Notice("matter.acknowledged", requester, "R-3.2", params=_mail_extra),)),
        Transition("approve", ("submitted",), "approved", supervising_leader, DECIDE,
                   guards=(Guard("R-3.2", is_a_request),), effects=(record_decision,),
                   notices=(Notice("matter.approved", requester_and_director, "R-3.2",
                                   actions=("execute", "abandon"), params=_mail_extra),)),
        Transition("reject", ("submitted",), "rejected", supervising_leader, DECIDE,
                   guards=(Guard("R-3.2", is_a_request),), effects=(record_decision,),
                   notices=(Notice("matter.rejected", requester, "R-3.2", params=_mail_extra),)),
        Transition("request_revision", ("submitted",), "revision_requested", supervising_leader, DECIDE,
                   guards=(Guard("R-3.2", is_a_request),),
                   notices=(Notice("matter.revision_requested", requester, "R-3.2", actions=("resubmit",),
                                   params=_mail_extra),)),
        Transition("resubmit", ("revision_requested",), "submitted", is_requester, "the requester",
                   options=frozenset({"date"}), effects=(new_round, escalate_if_near, notify_submitted)),
        Transition("execute", ("approved",), "executed", office_director, OUTCOME,
                   guards=(Guard("R-3.5", outcome_date_valid),), options=frozenset({"date"}),
                   effects=(record_outcome,)),
        # recording an execution before approval is refused, naming the rule. Internal (no state
        # change) so that the diagram draws no path to `executed` from here.
        Transition("execute", ("submitted", "revision_requested", "acknowledged", "rejected"), None,
                   office_director, OUTCOME,
                   guards=(Guard("R-3.3", never_before_approval, on_refusal=(record_unapproved_execution,)),),
                   options=frozenset({"date"})),
        Transition("abandon", ("approved",), "abandoned", office_director, OUTCOME,
                   guards=(Guard("R-3.5", outcome_date_valid),), options=frozenset({"date"}),
                   effects=(record_outcome,)),
        Transition("close", ("acknowledged", "rejected", "executed", "abandoned", "revision_requested"),
                   "closed", clerk, "a General Office clerk (R-3.5)"),
    ),
    deadlines=(
        DeadlineSpec("decision_reminder", "submitted", "R-3.6", due_reminder, "remind_decider"),
        DeadlineSpec("decision_escalation", "submitted", "R-3.6", due_escalation, "escalate_overdue"),
        DeadlineSpec("planned_date_near", "submitted", "R-3.6", due_near, "escalate_near"),
        DeadlineSpec("follow_up", "approved", "R-3.5", due_follow_up, "follow_up"),
    ),
    events=("matter.report_submitted", "matter.request_submitted", "matter.reminder", "matter.escalated",
            "matter.follow_up", "matter.outcome_recorded", "matter.compliance_incident"),
    handlers={
        "remind_decider": remind_decider,
        "escalate_overdue": escalate_overdue,
        "escalate_near": escalate_near,
        "follow_up": follow_up,
    },
))
