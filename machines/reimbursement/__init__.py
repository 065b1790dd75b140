"""`reimbursement` — 报帐 and the offices' budgets (REGULATION.md R-7.1, R-7.2).

A claim is brought by one of an office's people with its vouchers (R-7.1), approved by a leader — the
office's director, or for the director's own claim a supervising leader; never the claimant — then checked
and paid by the General Office's finance. Finance may return a claim for correction: the claimant fixes it
and resubmits, and finance's working-day deadline pauses while the claim is with the claimant.

Budgets (R-7.2): General Office finance sets each office's budget for a year (`outpost budget set`), in all
or per category; every change is kept with who made it and why. When a claim is approved, the office's
remaining budget for the claim's year — its budget less every claim approved (returned for correction
included: its amount stays reserved), checked or paid — must cover it, and so must the category's when
one is set. Exactly the remaining amount passes; one yuan more is refused (R-7.2), unless a supervising
leader approves it with `--override REASON`, which the history keeps.

Everything this process knows is in this folder: the definition below, its options and commands
(`budget set|show`), its mail (`templates/`), its policy defaults (`policy.toml`) and its compliance
section; its budgets are records kept through the engine's port.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from machines._common import end_of_workday_after, n_days, people
from workflow import registry
from workflow.amounts import parse_yuan
from workflow.compliance import Section
from workflow.context import Ctx
from workflow.definition import (
    Command,
    CommandResult,
    DeadlineSpec,
    Guard,
    OpenPlan,
    Option,
    ProcessDefinition,
    Refusal,
    Transition,
)
from workflow.errors import BadInput, NotFound, RuleViolation
from workflow.model import OFFICE_ROLES, Case, Person, Record
from workflow.service import CaseService
from workflow.timeutil import LOCAL_TZ, local_date

HOME = Path(__file__).parent  # templates/ and policy.toml of this process
PROCESS = "reimbursement"
CATEGORIES = ("travel", "office", "reception", "vehicle", "other")
BUDGET = "budget"  # the kind of this process's records
# States in which a claim's amount counts against the budget: approved, and still approved while
# returned for correction, checked or paid.
SPENT_STATES = ("approved", "returned", "checked", "paid")
MAX_VOUCHERS = 10_000
MAX_TITLE = 200


def yuan(value: Any) -> Decimal:
    """An amount kept in the case data or a record (a string of yuan, at most two decimals)."""
    return Decimal(str(value))


def show_yuan(amount: Decimal) -> str:
    """1,234 or 1,234.50: yuan as people read them."""
    return f"{amount:,.2f}" if amount != amount.to_integral_value() else f"{int(amount):,}"


def _keep(amount: Decimal) -> str:
    return format(amount.quantize(Decimal("0.01")), "f") if amount != amount.to_integral_value() else str(int(amount))


# -- people ------------------------------------------------------------------------------------------
def claimant(ctx: Ctx) -> list[Person]:
    p = ctx.org.person(str(ctx.data.get("claimant", "")))
    return [p] if p is not None and p.active else []


def _claimant_is_director(ctx: Ctx) -> bool:
    case = ctx.require_case()
    p = ctx.org.person(str(ctx.data.get("claimant", "")))
    return p is not None and p.has("director") and p.office == case.office


def approvers(ctx: Ctx) -> list[Person]:
    """Who approves now: the office's director; for the director's own claim, or with no director in the
    office, a supervising leader (R-7.1). Never the claimant."""
    case = ctx.require_case()
    if not _claimant_is_director(ctx):
        found = people(ctx, "director", case.office, exclude=case.subject)
        if found:
            return found
    return people(ctx, "supervising_leader", exclude=case.subject)


def finance(ctx: Ctx) -> list[Person]:
    return people(ctx, "finance", exclude=ctx.require_case().subject)


def leaders(ctx: Ctx) -> list[Person]:
    return people(ctx, "supervising_leader", exclude=ctx.require_case().subject)


# -- who -----------------------------------------------------------------------------------------------
def _actor(ctx: Ctx) -> Person:
    assert ctx.actor is not None
    return ctx.actor


def leader(ctx: Ctx) -> Refusal | None:
    """The approver (R-7.1): the office's director — a supervising leader for the director's own claim —
    and a supervising leader may approve any claim; nobody approves their own."""
    actor, case = _actor(ctx), ctx.require_case()
    if actor.id == case.subject:
        return ("R-7.1", "nobody approves their own claim")
    if actor.has("supervising_leader"):
        return None
    if _claimant_is_director(ctx):
        return ("R-7.1", "the director's own claim is approved by a supervising leader")
    if actor.has("director") and actor.office == case.office:
        return None
    return ("R-7.1", f"a claim of {case.office} is approved by its director or a supervising leader")


def finance_officer(ctx: Ctx) -> Refusal | None:
    actor, case = _actor(ctx), ctx.require_case()
    if not actor.has("finance"):
        return ("R-7.1", "claims are checked and paid by General Office finance")
    if actor.id == case.subject:
        return ("R-7.1", "nobody checks or pays their own claim")
    return None


def the_claimant(ctx: Ctx) -> Refusal | None:
    if _actor(ctx).id == ctx.require_case().subject:
        return None
    return ("R-7.1", f"only the claimant ({ctx.require_case().subject}) may do this")


# -- budgets (R-7.2) -------------------------------------------------------------------------------------
def budget_key(year: int, office: str, category: str | None) -> str:
    return f"{year}/{office}/{category or '*'}"


def in_force(records: list[Record]) -> dict[str, Record]:
    """The newest record of each key: the budgets in force (the older ones are their history)."""
    found: dict[str, Record] = {}
    for r in records:
        found[r.key] = r
    return found


def spent(claims: list[Case], year: int, category: str | None = None) -> Decimal:
    return sum((yuan(c.data["amount"]) for c in claims
                if int(c.data.get("year", 0)) == year and (category is None or c.data.get("category") == category)),
               Decimal(0))


def remaining(ctx: Ctx) -> list[tuple[str, Decimal, Decimal]]:
    """(what, budget, remaining) for the claim's office and year: the whole budget and the category's,
    whichever are set. Holds the office's budget until commit, so that two approvals at once on
    PostgreSQL add up each other's claims."""
    case = ctx.require_case()
    year, office, category = int(ctx.data["year"]), str(case.office), str(ctx.data["category"])
    ctx.tx.hold(f"{PROCESS}:{office}:{year}")
    budgets = in_force(ctx.tx.records(PROCESS, BUDGET, f"{year}/{office}/"))
    claims = [c for c in ctx.tx.cases_in(PROCESS, office, SPENT_STATES) if c.id != case.id]
    out = []
    whole = budgets.get(budget_key(year, office, None))
    if whole is not None:
        amount = yuan(whole.data["amount"])
        out.append((f"{office}'s {year} budget", amount, amount - spent(claims, year)))
    part = budgets.get(budget_key(year, office, category))
    if part is not None:
        amount = yuan(part.data["amount"])
        out.append((f"{office}'s {year} {category} budget", amount, amount - spent(claims, year, category)))
    return out


def over_budget(ctx: Ctx) -> str | None:
    amount = yuan(ctx.data["amount"])
    found = remaining(ctx)
    if not found:
        return (f"no budget is set for {ctx.require_case().office} in {ctx.data['year']} "
                "(General Office finance sets it with `outpost budget set`)")
    for what, budget, left in found:
        if amount > left:
            return (f"{show_yuan(amount)} yuan is more than what remains of {what}: {show_yuan(max(left, Decimal(0)))} "
                    f"of {show_yuan(budget)} yuan")
    return None


def within_budget_unless_leader(ctx: Ctx) -> str | None:
    """Over the budget, only a supervising leader may approve, with a reason (R-7.2)."""
    if ctx.actor is not None and ctx.actor.has("supervising_leader"):
        return None
    found = over_budget(ctx)
    return None if found is None else found + "; only a supervising leader may approve it, with --override REASON"


def within_budget(ctx: Ctx) -> str | None:
    return over_budget(ctx)


def comment_given(ctx: Ctx) -> None:
    """Rejecting or returning a claim says why (the claimant is told): without it, bad input — so that the
    step is still offered (in mail, `case triggers`) to whoever may take it, with its --comment."""
    if ctx.comment is None or not ctx.comment.strip():
        raise BadInput(f"{ctx.trigger}: say why with --comment TEXT (the claimant is told, R-7.1)")


def reference_given(ctx: Ctx) -> str | None:
    ref = str(ctx.params.get("reference") or "").strip()
    if not ref:
        return "give the payment's reference with --reference R"
    if len(ref) > 100:
        return "--reference: at most 100 characters"
    return None


# -- the finance deadline, paused while the claim is with the claimant ----------------------------------
def _workdays_between(ctx: Ctx, start: date, end: date) -> int:
    """Working days in (start, end] (R-0.6)."""
    day, n = start, 0
    while day < end:
        day += timedelta(days=1)
        n += 1 if ctx.calendar.is_workday(day) else 0
    return n


def _with_finance_since(ctx: Ctx) -> date:
    return date.fromisoformat(str(ctx.data["with_finance_since"]))


def _finance_due(ctx: Ctx, key: str, what: str) -> tuple[datetime, str]:
    """The end of `key` working days of finance's own time after approval (R-0.6); days the claim spent with
    the claimant are not counted (the deadline pauses)."""
    n = ctx.policy.int(f"{PROCESS}.{key}")
    used = int(ctx.data.get("finance_workdays_used", 0))
    due, day, note = end_of_workday_after(ctx, _with_finance_since(ctx), max(n - used, 0))
    paused = f"; {n_days(used, 'working')} already used before it was returned for correction" if used else ""
    return due, (f"{what} when {day} ends = {n_days(n, 'working')} with finance after approval{paused} (R-7.1)"
                 f"{note}")


def due_check_reminder(ctx: Ctx) -> tuple[datetime, str]:
    return _finance_due(ctx, "remind_after_workdays", "finance reminded to check the claim")


def due_check_escalation(ctx: Ctx) -> tuple[datetime, str]:
    return _finance_due(ctx, "check_within_workdays", "escalated to the supervising leader")


def _mail_extra(ctx: Ctx) -> dict[str, Any]:
    """What a claim's mail may say (R-7.3): amount, category, vouchers — never the title."""
    return {"amount": show_yuan(yuan(ctx.data["amount"])), "category": ctx.data["category"],
            "vouchers": int(ctx.data["vouchers"]), "year": int(ctx.data["year"])}


def remind_finance(ctx: Ctx) -> None:
    due, _ = due_check_escalation(ctx)
    ctx.notify("reimbursement.check_reminder", finance(ctx), "R-7.1", actions=("check", "return_for_correction"),
               due_at=due, needs=RETURN_NEEDS, **_mail_extra(ctx))


def escalate_check(ctx: Ctx) -> None:
    ctx.data["escalated"] = True
    ctx.record("escalate", {"rule": "R-7.1", "to": "supervising_leader",
                            "why": "the claim was not checked by finance in time"})
    ctx.notify("reimbursement.check_escalated", leaders(ctx), "R-7.1", **_mail_extra(ctx))


# -- mail: every message names the claim by its facts, never its title (R-7.3) ----------------------------
RETURN_NEEDS = {"return_for_correction": ["comment"]}  # its command line shows --comment TEXT


def notify_submitted(ctx: Ctx) -> None:
    ctx.notify("reimbursement.submitted", approvers(ctx), "R-7.1", actions=("approve", "reject"),
               needs={"reject": ["comment"]}, **_mail_extra(ctx))


def notify_approved(ctx: Ctx) -> None:
    due, _ = due_check_escalation(ctx)
    ctx.notify("reimbursement.approved", finance(ctx), "R-7.1", actions=("check", "return_for_correction"),
               due_at=due, needs=RETURN_NEEDS, **_mail_extra(ctx))
    ctx.notify("reimbursement.approved_info", claimant(ctx), "R-7.1", **_mail_extra(ctx))


def notify_resubmitted(ctx: Ctx) -> None:
    due, _ = due_check_escalation(ctx)
    ctx.notify("reimbursement.resubmitted", finance(ctx), "R-7.1", actions=("check", "return_for_correction"),
               due_at=due, needs=RETURN_NEEDS, **_mail_extra(ctx))


def tell(what: str) -> Callable[[Ctx], None]:
    """The claimant told of a decision (`rejected`, `returned` — invited to resubmit or withdraw — `paid`)."""
    actions = ("resubmit", "withdraw") if what == "returned" else ()

    def effect(ctx: Ctx) -> None:
        ctx.notify(f"reimbursement.{what}", claimant(ctx), "R-7.1", actions=actions, **_mail_extra(ctx))

    return effect


# -- effects -------------------------------------------------------------------------------------------
def record_approval(ctx: Ctx) -> None:
    ctx.data["approved_by"] = _actor(ctx).id
    ctx.data["approved_at"] = ctx.now.isoformat()
    ctx.data["with_finance_since"] = ctx.today.isoformat()


def record_return(ctx: Ctx) -> None:
    used = int(ctx.data.get("finance_workdays_used", 0))
    ctx.data["finance_workdays_used"] = used + _workdays_between(ctx, _with_finance_since(ctx), ctx.today)
    ctx.data["returned"] = int(ctx.data.get("returned", 0)) + 1


def record_resubmission(ctx: Ctx) -> None:
    if ctx.params.get("vouchers") is not None:
        ctx.data["vouchers"] = _vouchers(ctx.params["vouchers"])
        ctx.details["vouchers"] = ctx.data["vouchers"]
    ctx.data["with_finance_since"] = ctx.today.isoformat()


def record_check(ctx: Ctx) -> None:
    ctx.data["checked_by"] = _actor(ctx).id
    ctx.data["checked_at"] = ctx.now.isoformat()


def record_payment(ctx: Ctx) -> None:
    ref = str(ctx.params["reference"]).strip()
    ctx.data["reference"] = ref
    ctx.data["paid_by"] = _actor(ctx).id
    ctx.data["paid_at"] = ctx.now.isoformat()
    ctx.details["reference"] = ref


# -- opening -------------------------------------------------------------------------------------------
def _vouchers(raw: Any) -> int:
    text = str(raw).strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_VOUCHERS:
        raise BadInput(f"--vouchers: expected the number of vouchers, 1–{MAX_VOUCHERS:,}, got {text[:20]!r}")
    return int(text)


def open_claim(ctx: Ctx) -> OpenPlan:
    actor = ctx.actor
    if actor is None:
        raise BadInput("a claim is brought by a person: give --as PERSON")
    if ctx.override is not None:
        raise BadInput("--override is given by the supervising leader when approving (R-7.2), not with the claim")
    if actor.office is None or not (actor.roles & OFFICE_ROLES):
        raise RuleViolation("R-7.1", f"{actor.id} is not one of an office's people; claims are brought by the "
                                     "offices (报帐)")
    raw = ctx.params.get("amount")
    if raw is None:
        raise BadInput("--amount is required (yuan: 1200, 1,200, 1.2万)")
    amount = parse_yuan(raw, "--amount")  # yuan and fen; 0 and less is bad input
    category = str(ctx.params.get("category") or "").strip()
    if category not in CATEGORIES:
        raise BadInput(f"--category: expected one of {', '.join(CATEGORIES)}, got {category[:30]!r}")
    if ctx.params.get("vouchers") is None:
        raise BadInput("--vouchers is required: the number of vouchers brought (R-7.1)")
    vouchers = _vouchers(ctx.params["vouchers"])
    title = str(ctx.params.get("title") or "").strip()
    if not title:
        raise BadInput("--title is required: what the claim is for")
    if len(title) > MAX_TITLE:
        raise BadInput(f"--title: at most {MAX_TITLE} characters")
    year = local_date(ctx.now).year
    return OpenPlan(state="submitted", office=actor.office, subject=actor.id,
                    data={"claimant": actor.id, "amount": _keep(amount), "category": category, "vouchers": vouchers,
                          "title": title, "year": year, "submitted_at": ctx.now.isoformat()})


# -- compliance: budget, approved, paid, remaining per office (R-7.2) ---------------------------------------
def _num(amount: Decimal | None) -> int | float | None:
    """An amount in JSON: a whole number of yuan, or yuan with fen."""
    if amount is None:
        return None
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def compliance(section: Section) -> dict[str, Any]:
    budgets = in_force([r for r in section.records if r.kind == BUDGET
                        and r.key.startswith(f"{section.year}/{section.office}/")])
    whole = budgets.get(budget_key(section.year, section.office, None))
    claims = [c for c in section.cases if int(c.data.get("year", 0)) == section.year]
    approved = spent([c for c in claims if c.state in SPENT_STATES], section.year)
    paid = spent([c for c in claims if c.state == "paid"], section.year)
    budget = yuan(whole.data["amount"]) if whole is not None else None
    by_category = []
    for category in CATEGORIES:
        part = budgets.get(budget_key(section.year, section.office, category))
        mine = [c for c in claims if c.data.get("category") == category and c.state in SPENT_STATES]
        if part is None and not mine:
            continue
        cat_budget = yuan(part.data["amount"]) if part is not None else None
        used = spent(mine, section.year)
        by_category.append({"category": category, "budget": _num(cat_budget), "approved": _num(used),
                            "remaining": None if cat_budget is None else _num(cat_budget - used)})
    return {"reimbursement": {
        "budget": _num(budget), "approved": _num(approved), "paid": _num(paid),
        "remaining": None if budget is None else _num(budget - approved),
        "claims": len(claims), "waiting": sum(1 for c in claims if c.state in ("submitted", "approved", "returned",
                                                                            "checked")),
        "over_budget_approvals": sum(1 for c in claims if c.data.get("over_budget")),
        "categories": by_category,
    }}


def compliance_text(entry: dict[str, Any]) -> list[str]:
    r = entry.get("reimbursement")
    if not r:
        return []
    budget = "not set" if r["budget"] is None else f"{r['budget']:,}"
    left = "" if r["remaining"] is None else f", remaining {r['remaining']:,}"
    lines = [f"  reimbursement (R-7.1, R-7.2): budget {budget} yuan, approved {r['approved']:,}, "
             f"paid {r['paid']:,}{left}; {r['claims']} claims, {r['waiting']} in progress"
             + (f", {r['over_budget_approvals']} approved over budget" if r["over_budget_approvals"] else "")]
    lines += [f"    {c['category']}: budget {'—' if c['budget'] is None else format(c['budget'], ',')}, "
              f"approved {c['approved']:,}" for c in r["categories"]]
    return lines


def mark_over_budget(ctx: Ctx) -> None:
    if "R-7.2" in ctx.overridden:
        ctx.data["over_budget"] = True


# -- the commands: `outpost budget set|show` ---------------------------------------------------------------
def _year(raw: Any) -> int:
    text = str(raw).strip()
    # the length first: int() of a 5,000-digit year raises ValueError (Python's digit limit), an internal error
    if not text.isascii() or not text.isdigit() or len(text) > 4 or not 2000 <= int(text) <= 2100:
        raise BadInput(f"--year: expected 2000–2100, got {text[:20]!r}")
    return int(text)


def _finance_only(org: Any, actor: Person) -> Refusal | None:
    if actor.has("finance"):
        return None
    return ("R-7.2", "each office's budget is set by General Office finance")


def budget_set(service: CaseService, o: dict[str, Any]) -> CommandResult:
    year = _year(o["year"])
    office = str(o["office"])
    category = o.get("category")
    if category is not None and category not in CATEGORIES:
        raise BadInput(f"--category: expected one of {', '.join(CATEGORIES)}, got {str(category)[:30]!r}")
    amount = parse_yuan(o["amount"], "--amount", positive=False)
    reason = (o.get("reason") or "").strip() or None
    key = budget_key(year, office, category)

    def check(tx: Any, org: Any, actor: Person) -> dict[str, Any]:
        if office not in org.offices or not org.offices[office].active:
            raise NotFound("office", office)
        before = in_force(tx.records(PROCESS, BUDGET, key)).get(key)
        if before is not None and reason is None:
            was = show_yuan(yuan(before.data["amount"]))
            raise BadInput(f"{office} {year} {category or 'budget'} is already {was} yuan: say why it changes "
                           "with --reason TEXT")
        return {"amount": _keep(amount), "category": category, "office": office, "year": year, "reason": reason,
                "before": None if before is None else str(before.data["amount"])}

    record = service.add_record(PROCESS, BUDGET, key, o["as_"], _finance_only, check)
    before = record.data["before"]
    what = f"{office} {year}" + (f" {category}" if category else "") + " budget"
    change = "set" if before is None else f"changed from {show_yuan(yuan(before))}"
    return CommandResult(_budget_json(record), f"{what} {change} to {show_yuan(amount)} yuan by {record.actor}"
                         + (f" ({reason})" if reason else ""))


def _budget_json(r: Record) -> dict[str, Any]:
    return {"id": r.id, "office": r.data["office"], "year": r.data["year"], "category": r.data["category"],
            "amount": _num(yuan(r.data["amount"])),
            "before": None if r.data.get("before") is None else _num(yuan(r.data["before"])),
            "reason": r.data.get("reason"),
            "by": r.actor, "at": r.at.astimezone(LOCAL_TZ).isoformat()}


def budget_show(service: CaseService, o: dict[str, Any]) -> CommandResult:
    year = _year(o["year"])
    office = o.get("office")
    records = service.records(PROCESS, BUDGET, f"{year}/" + (f"{office}/" if office else ""))
    org = service.org()
    if office is not None and office not in org.offices:
        raise NotFound("office", office)
    offices = [office] if office else sorted(code for code, of in org.offices.items() if of.active)
    out, lines = [], []
    for code in offices:
        mine = [r for r in records if r.key.startswith(f"{year}/{code}/")]
        claims = service.cases_in(PROCESS, code, SPENT_STATES)
        budgets = in_force(mine)
        whole = budgets.get(budget_key(year, code, None))
        approved = spent(claims, year)
        paid = spent([c for c in claims if c.state == "paid"], year)
        total = None if whole is None else yuan(whole.data["amount"])
        entry: dict[str, Any] = {
                 "office": code, "year": year, "budget": _num(total), "approved": _num(approved), "paid": _num(paid),
                 "remaining": None if total is None else _num(total - approved),
                 "categories": [{"category": r.data["category"], "budget": _num(yuan(r.data["amount"])),
                                 "approved": _num(spent(claims, year, r.data["category"]))}
                                for _, r in sorted(budgets.items()) if r.data["category"]],
                 "changes": [_budget_json(r) for r in mine]}
        out.append(entry)
        lines.append(f"{code} {year}: budget {'not set' if whole is None else show_yuan(yuan(whole.data['amount']))}, "
                     f"approved {show_yuan(approved)}, paid {show_yuan(paid)}"
                     + ("" if whole is None else f", remaining {show_yuan(yuan(whole.data['amount']) - approved)}")
                     + " yuan")
        lines += [f"  {c['category']}: {c['budget']:,} (approved {c['approved']:,})" for c in entry["categories"]]
        lines += [f"  {c['at']} {c['by']}: {c['category'] or 'budget'} "
                  + (f"{c['before']:,} → " if c["before"] is not None else "") + f"{c['amount']:,}"
                  + (f" ({c['reason']})" if c["reason"] else "") for c in entry["changes"]]
    return CommandResult(out, "\n".join(lines) if lines else f"no office in {year}")


APPROVE = "the office's director; for the director's own claim a supervising leader (never oneself, R-7.1)"
FINANCE = "General Office finance (R-7.1)"

DEFINITION = registry.register(ProcessDefinition(
    name=PROCESS,
    version=1,
    title="Reimbursement claim (报帐)",
    names={"zh": "报帐", "en": "reimbursement"},
    home=HOME,
    options=(
        Option("amount", "yuan: 1200, 1,200, 1.2万", "amount", required=True),
        Option("category", " | ".join(CATEGORIES), required=True),
        Option("vouchers", "the number of vouchers brought (R-7.1); resubmit: the corrected number", "number",
               required=True),
        Option("title", "what the claim is for (kept in the case; never mailed, R-7.3)", required=True),
        Option("reference", "pay: the payment's reference (bank transfer or voucher number)", required=True),
    ),
    policy_order=((f"{PROCESS}.remind_after_workdays", f"{PROCESS}.check_within_workdays",
                   "R-7.1: remind finance before escalating"),),
    states=("submitted", "approved", "returned", "checked", "paid", "rejected", "withdrawn"),
    initial_states=("submitted",),
    final_states=("paid", "rejected", "withdrawn"),
    opener=open_claim,
    open_options=frozenset({"amount", "category", "vouchers", "title"}),
    open_effects=(notify_submitted,),
    transitions=(
        Transition("approve", ("submitted",), "approved", leader, APPROVE,
                   guards=(Guard("R-7.2", within_budget_unless_leader),
                           Guard("R-7.2", within_budget, overridable=True)),
                   effects=(record_approval, mark_over_budget, notify_approved)),
        Transition("reject", ("submitted",), "rejected", leader, APPROVE,
                   effects=(comment_given, tell("rejected"))),
        Transition("return_for_correction", ("approved",), "returned", finance_officer, FINANCE,
                   effects=(comment_given, record_return, tell("returned"))),
        Transition("resubmit", ("returned",), "approved", the_claimant, "the claimant",
                   options=frozenset({"vouchers"}), effects=(record_resubmission, notify_resubmitted)),
        Transition("withdraw", ("submitted", "approved", "returned"), "withdrawn", the_claimant, "the claimant"),
        Transition("check", ("approved",), "checked", finance_officer, FINANCE, effects=(record_check,)),
        Transition("pay", ("checked",), "paid", finance_officer, FINANCE, guards=(Guard("R-7.1", reference_given),),
                   options=frozenset({"reference"}), effects=(record_payment, tell("paid"))),
    ),
    deadlines=(
        DeadlineSpec("check_reminder", "approved", "R-7.1", due_check_reminder, "remind_finance",
                     skip_superseded=True, superseded_by=("check_escalation",)),
        DeadlineSpec("check_escalation", "approved", "R-7.1", due_check_escalation, "escalate_check"),
    ),
    events=("reimbursement.submitted", "reimbursement.approved", "reimbursement.approved_info",
            "reimbursement.rejected", "reimbursement.returned", "reimbursement.resubmitted", "reimbursement.paid",
            "reimbursement.check_reminder", "reimbursement.check_escalated"),
    handlers={"remind_finance": remind_finance, "escalate_check": escalate_check},
    compliance=compliance,
    compliance_text=compliance_text,
    commands=(
        Command("budget", "set", "Set an office's budget for a year, in all or for one category (R-7.2).",
                run=budget_set, group_help="The offices' budgets (R-7.2).",
                options=(Option("office", "the office's code", required=True),
                         Option("year", "the calendar year", "number", required=True),
                         Option("amount", "yuan: 500000, 500,000, 50万", "amount", required=True),
                         Option("category", " | ".join(CATEGORIES) + " (default: the office's whole budget)"),
                         Option("reason", "why (required when a budget changes)"))),
        Command("budget", "show", "Each office's budget, approved, paid and remaining for a year (R-7.2).",
                run=budget_show, acts=False,
                options=(Option("year", "the calendar year", "number", required=True),
                         Option("office", "one office's code (default: every office)"))),
    ),
))
