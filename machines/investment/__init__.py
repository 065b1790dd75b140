"""`investment` — the investment target and its rewards (REGULATION.md R-6.4, R-6.5).

One case per office per year (`2027-Y`), created by the daemon at 00:00 on 1 January (or by the year's
first `outpost invest add`, when that comes first). Each investment attracted — amount in whole yuan,
source (`domestic` money from outside the city or `foreign`), project, date, and the people credited —
is logged against the case (`add`, an internal transition). Credits never exceed the amount (R-6.4).

- Progress is reported quarterly (R-6.4): at 09:00 on 1 April, 1 July and 1 October the running total
  is recorded in the case's history and sent to the director, the clerks and the supervising leader.
- At the year's end (00:00 on 1 January) the year is judged: `met` with at least 30,000,000 yuan
  (R-0.1/R-0.2: exactly 30,000,000 meets, 29,999,999 does not), else `missed`. Investments of a judged
  year can no longer be added.
- Grades (R-6.5), only when the office met its target: the director with 30,000,000 yuan or more
  credited → `recommended_excellent`; other staff with 15,000,000 or more → `excellent`. The case keeps
  the running figures (`total`, `credited`, `grades`, provisional until the verdict) in its data.

Amounts: whole yuan, positive; `30000000`, `30,000,000`, `3000万`, `3000万元`, `0.3亿` and `1.5万` are
accepted (万 = 10,000, 亿 = 100,000,000) when they come to a whole number of yuan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from machines._common import clerks, office_directors, show, supervising_leaders
from machines._periodic import at_local, parse_year, schedule_verdict, untracked
from workflow import registry
from workflow.amounts import parse_yuan
from workflow.compliance import Section
from workflow.context import Ctx
from workflow.definition import (
    Command,
    CommandResult,
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
from workflow.errors import BadInput, NotFound, RuleViolation
from workflow.model import OFFICE_ROLES, Case, Item, Org, Person
from workflow.policy import Policy
from workflow.service import CaseService, check_text
from workflow.timeutil import end_of_day, local_date, local_iso, local_midnight, parse_date

HOME = Path(__file__).parent  # templates/ and policy.toml of this process

PROCESS = "investment"
RULE = "R-6.4"
GRADE_RULE = "R-6.5"
TARGET = 30_000_000  # 每年引资3000万元以上 (R-0.1: includes 30,000,000)
DIRECTOR_RECOMMENDED = 30_000_000  # 主任个人引资3000万元以上 → recommended for excellent
STAFF_EXCELLENT = 15_000_000  # 其他工作人员1500万元以上 → excellent
SOURCES = ("domestic", "foreign")
ITEM_KIND = "investment"
MAX_AMOUNT = 10**13  # far beyond any office's year; keeps typos like an extra six zeros out
PROGRESS_DAYS = ((4, 1), (7, 1), (10, 1))  # the day after Q1, Q2, Q3 end; Q4 is the year-end verdict


def investment_periods(year: int, _policy: Policy) -> list[Period]:
    return [Period(key=f"{year}-Y", opens_at=local_midnight(date(year, 1, 1)), due=date(year, 12, 31))]


# -- input -----------------------------------------------------------------------------------------------
def parse_amount(value: object, what: str = "--amount") -> int:
    """Whole yuan, positive: 30000000, 30,000,000, 3000万, 3000万元, 0.3亿 (the one parser of every amount
    option, workflow/amounts.py)."""
    return int(parse_yuan(value, what, whole=True, maximum=MAX_AMOUNT))


def parse_credits(value: object) -> dict[str, int]:
    """`--credit PERSON=YUAN`, repeated (a list of such strings), or a ready {person: yuan} mapping."""
    if value is None:
        return {}
    if isinstance(value, dict):
        pairs = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        pairs = []
        for entry in value:
            text = str(entry)
            if "=" not in text:
                raise BadInput(f"--credit: expected PERSON=YUAN, got {text[:40]!r}")
            person, amount = text.split("=", 1)
            pairs.append((person.strip(), amount))
    else:
        raise BadInput("--credit: expected PERSON=YUAN")
    out: dict[str, int] = {}
    for person, amount in pairs:
        if not person:
            raise BadInput("--credit: a person id is missing before '='")
        if person in out:
            raise BadInput(f"--credit: {person[:40]} is credited twice; give one amount per person")
        out[person] = parse_amount(amount, f"--credit {person[:40]}")
    return out


@dataclass(frozen=True)
class Investment:
    amount: int
    source: str
    project: str
    on: date
    credits: dict[str, int]

    def as_data(self) -> dict[str, Any]:
        return {"v": 1, "amount": self.amount, "source": self.source, "project": self.project,
                "date": self.on.isoformat(), "credits": dict(self.credits)}


def parse_investment(params: dict[str, Any], today: date) -> Investment:
    amount = parse_amount(params.get("amount"))
    source = params.get("source")
    if source not in SOURCES:
        raise BadInput(f"--source: expected domestic or foreign, got {str(source)[:20]!r}")
    project = check_text(params.get("project"), "--project", 500)
    if project is None or not project.strip():
        raise BadInput("--project: name the project")
    raw_date = params.get("date")
    on = raw_date if isinstance(raw_date, date) else (parse_date(str(raw_date), "--date") if raw_date else today)
    return Investment(amount=amount, source=str(source), project=project.strip(), on=on,
                      credits=parse_credits(params.get("credits")))


# -- rules -----------------------------------------------------------------------------------------------
def member_refusal(actor: Person | None, office: str | None) -> Refusal | None:
    if actor is not None and office is not None and actor.office == office and actor.roles & OFFICE_ROLES:
        return None
    return (RULE, f"investments of {office} are recorded by that office's people")


def office_member(ctx: Ctx) -> Refusal | None:
    return member_refusal(ctx.actor, ctx.require_case().office)


def refusal_of(inv: Investment, year: int, office: str, org: Org, now: datetime) -> tuple[str, str] | None:
    """(rule, reason) when this investment may not be recorded against `office`'s `year`; unknown people raise."""
    today = local_date(now)
    if inv.on > today:
        raise BadInput(f"--date {inv.on} is in the future; record an investment once it is made")
    if inv.on.year != year:
        return RULE, f"an investment of {inv.on} counts toward {inv.on.year}, not {year}"
    if now > end_of_day(date(year, 12, 31)):
        return RULE, f"{year} ended and was judged at year end; its investments can no longer be added"
    for person in inv.credits:
        p = org.person(person)
        if p is None or not p.active:
            raise NotFound("person", person)
        if p.office != office:
            return GRADE_RULE, f"{person} is not in {office}; credits go to the office's own people"
    credited = sum(inv.credits.values())
    if credited > inv.amount:
        return RULE, (f"the credits add up to {credited:,} yuan, more than the investment of "
                      f"{inv.amount:,} yuan")
    return None


def acceptable(ctx: Ctx) -> str | None:
    case = ctx.require_case()
    if ctx.params.get("amount") is None:
        return None  # asked what may be done (`case triggers`): the investment itself is checked when given
    inv = parse_investment(ctx.params, ctx.today)
    found = refusal_of(inv, parse_year(str(case.period)), str(case.office), ctx.org, ctx.now)
    if found is None:
        return None
    if found[0] != RULE:
        raise RuleViolation(*found)
    return found[1]


def total_of(ctx: Ctx) -> int:
    return sum(int(i.data["amount"]) for i in ctx.tx.items(ctx.require_case().id, ITEM_KIND))


def target_met(ctx: Ctx) -> str | None:
    total = total_of(ctx)
    return None if total >= TARGET else f"{total:,} yuan, below the target of {TARGET:,}"


def target_missed(ctx: Ctx) -> str | None:
    total = total_of(ctx)
    return None if total < TARGET else f"{total:,} yuan meets the target of {TARGET:,}"


def grade(person: Person | None, office: str, credited: int, office_met: bool) -> str | None:
    """R-6.5: only when the office met its target; the director ≥ 30,000,000 → recommended for excellent,
    other staff ≥ 15,000,000 → excellent."""
    if not office_met or person is None:
        return None
    if person.has("director") and person.office == office:
        return "recommended_excellent" if credited >= DIRECTOR_RECOMMENDED else None
    return "excellent" if credited >= STAFF_EXCELLENT else None


def summarise(ctx: Ctx) -> None:
    """Keep the running figures in the case data (provisional grades until the verdict)."""
    case = ctx.require_case()
    items = ctx.tx.items(case.id, ITEM_KIND)
    total = sum(int(i.data["amount"]) for i in items)
    credited: dict[str, int] = {}
    for i in items:
        for person, amount in dict(i.data.get("credits", {})).items():
            credited[person] = credited.get(person, 0) + int(amount)
    met = total >= TARGET
    office = str(case.office)
    case.data.update({
        "total": total, "count": len(items), "target": TARGET, "target_met": met,
        "credited": dict(sorted(credited.items())),
        "grades": {p: grade(ctx.org.person(p), office, amount, met) for p, amount in sorted(credited.items())},
    })


# -- effects ---------------------------------------------------------------------------------------------
def record(ctx: Ctx) -> None:
    case = ctx.require_case()
    assert ctx.actor is not None
    inv = parse_investment(ctx.params, ctx.today)
    item = Item(case_id=case.id, kind=ITEM_KIND, status="recorded", data=inv.as_data(), created_at=ctx.now,
                created_by=ctx.actor.id, updated_at=ctx.now)
    item_id = ctx.tx.add_item(item)
    summarise(ctx)
    ctx.details.update({"item": item_id, "amount": inv.amount, "source": inv.source, "date": inv.on.isoformat(),
                        "credits": dict(inv.credits), "total": case.data["total"], "rule": RULE})


def record_first(ctx: Ctx) -> None:
    """Opened by a person's `invest add` (before the daemon opened the year): that investment comes with it."""
    if ctx.actor is not None:
        record(ctx)


def record_verdict(ctx: Ctx) -> None:
    summarise(ctx)
    data = ctx.data
    data["judged_at"] = ctx.now.isoformat()
    ctx.details.update({"total": data["total"], "target": TARGET, "rule": RULE,
                        "grades": {p: g for p, g in data["grades"].items() if g}, "grade_rule": GRADE_RULE})


# -- opening ---------------------------------------------------------------------------------------------
def open_year(ctx: Ctx) -> OpenPlan:
    office, period = ctx.params.get("office"), ctx.params.get("period")
    if not office or not period or office not in ctx.org.offices:
        raise BadInput("an investment case is opened for an office and a year")
    year = parse_year(str(period))
    data: dict[str, Any] = {"year": year, "target": TARGET, "total": 0, "count": 0, "target_met": False,
                            "credited": {}, "grades": {}}
    details: dict[str, Any] = {"rule": RULE, "why": f"investment of {office} in {year}: at least {TARGET:,} "
                                                    f"yuan ({RULE})"}
    if ctx.actor is not None:
        refusal = member_refusal(ctx.actor, str(office))
        if refusal is not None:
            raise RuleViolation(*refusal)
        found = refusal_of(parse_investment(ctx.params, ctx.today), year, str(office), ctx.org, ctx.now)
        if found is not None:
            raise RuleViolation(*found)
        details["opened_by_investment"] = True
    return OpenPlan(state="open", office=str(office), subject=None, data=data, period=f"{year}-Y",
                    details=details)


# -- deadlines -------------------------------------------------------------------------------------------
def due_progress(ctx: Ctx) -> list[tuple[datetime, str]]:
    year = int(ctx.data["year"])
    out = []
    for quarter, (month, day) in enumerate(PROGRESS_DAYS, start=1):
        at = at_local(date(year, month, day))
        out.append((at, f"progress after Q{quarter} of {year} reported {show(at)} (quarterly, {RULE})"))
    return out


def due_judge(ctx: Ctx) -> tuple[datetime, str]:
    year = int(ctx.data["year"])
    at = local_midnight(date(year + 1, 1, 1))
    return at, (f"judged {show(at)}, at the end of {year}: met with at least {TARGET:,} yuan, else missed "
                f"({RULE}); grades follow ({GRADE_RULE})")


def progress(ctx: Ctx) -> None:
    if untracked(ctx, date(int(ctx.data["year"]), 1, 1)):
        return  # the year began before the tracking date: "0 yuan so far" would be noise
    assert ctx.deadline is not None
    quarter = ctx.deadline.occurrence
    total = total_of(ctx)
    ctx.record("progress", {"rule": RULE, "quarter": f"Q{quarter}", "total": total, "target": TARGET})
    ctx.notify("investment.progress", office_directors(ctx) + clerks(ctx) + supervising_leaders(ctx), RULE,
               quarter=quarter, total=total, target=TARGET,
               due_at=end_of_day(date(int(ctx.data["year"]), 12, 31)))


def judge(ctx: Ctx) -> None:
    if untracked(ctx, date(int(ctx.data["year"]), 1, 1), "judge"):
        return
    total = total_of(ctx)
    verdict = "met" if total >= TARGET else "missed"
    schedule_verdict(ctx, verdict, RULE, f"{ctx.data['year']}: {total:,} yuan against {TARGET:,} ({RULE}): "
                                         f"{verdict}")


def told_of_verdict(ctx: Ctx) -> list[Person]:
    return office_directors(ctx) + supervising_leaders(ctx) + clerks(ctx)



# -- its section of `report compliance` (R-6.4 progress and verdict, R-6.5 grades) -----------------------------
def compliance(section: Section) -> dict[str, Any]:
    inv = next(iter(section.cases), None)
    data = inv.data if inv is not None else {}
    credited: dict[str, int] = {str(k): int(v) for k, v in dict(data.get("credited", {})).items()}
    grades: dict[str, Any] = dict(data.get("grades", {}))
    members = [p for p in sorted(section.org.people.values(), key=lambda p: p.id)
               if p.active and p.office == section.office]
    people_ = []
    for pid in [p.id for p in members] + sorted(set(credited) - {p.id for p in members}):
        p = section.org.person(pid)
        people_.append({"person": pid, "name": p.name if p else pid, "roles": sorted(p.roles) if p and p.active else [],
                        "credited": credited.get(pid, 0), "grade": grades.get(pid)})
    if inv is None:
        target_met = False
    elif inv.state in ("met", "missed"):
        target_met = inv.state == "met"
    else:
        target_met = bool(data.get("target_met"))
    investments = [
        {"id": i.id, "date": i.data.get("date"), "amount": int(i.data["amount"]), "source": i.data.get("source"),
         "project": i.data.get("project"), "credits": dict(i.data.get("credits", {})), "recorded_by": i.created_by}
        for i in (section.items.get(inv.id, []) if inv is not None else [])
    ]
    return {"investment_total": int(data.get("total", 0)), "investment_target": int(data.get("target", 0)) or None,
            "investment_target_met": target_met, "investment_state": inv.state if inv is not None else None,
            "investments": investments, "people": people_}


DEFINITION = registry.register(ProcessDefinition(
    name=PROCESS,
    version=1,
    title="Investment target (招商引资)",
    names={"zh": "招商引资", "en": "investment promotion"},
    home=HOME,
    compliance=compliance,
    commands=(
        Command("invest", "add", "Record an investment attracted by your office (R-6.4) and who is credited (R-6.5).",
                run=lambda service, o: cmd_add(service, o),
                group_help="Investments attracted and who is credited (R-6.4, R-6.5).",
                options=(Option("amount", "whole yuan: 30000000, 30,000,000 or 3000万", "amount", required=True),
                         Option("source", "domestic | foreign", required=True),
                         Option("project", "the project invested in", required=True),
                         Option("date", "YYYY-MM-DD (default: today)", "date"),
                         Option("credit", "PERSON=YUAN, repeated; at most the amount", "multi"))),
        Command("invest", "list", "List the investments recorded (R-6.4) and who is credited (R-6.5).",
                run=lambda service, o: cmd_list(service, o), acts=False,
                options=(Option("office", "one office's code (default: every office)"),
                         Option("year", "the calendar year (default: every year)", "number"))),
    ),
    states=("open", "met", "missed"),
    initial_states=("open",),
    final_states=("met", "missed"),
    opener=open_year,
    open_options=frozenset({"office", "period"}),
    open_effects=(record_first,),
    periodic=True,
    periods=investment_periods,
    transitions=(
        Transition("add", ("open",), None, office_member, "the office's people",
                   guards=(Guard(RULE, acceptable),),
                   options=frozenset({"amount", "source", "project", "date", "credits"}), effects=(record,)),
        Transition("met", ("open",), "met", None, "the daemon, at the year's end",
                   guards=(Guard(RULE, target_met),), effects=(record_verdict,),
                   notices=(Notice("investment.met", told_of_verdict, RULE),)),
        Transition("missed", ("open",), "missed", None, "the daemon, at the year's end",
                   guards=(Guard(RULE, target_missed),), effects=(record_verdict,),
                   notices=(Notice("investment.missed", told_of_verdict, RULE),)),
    ),
    deadlines=(
        DeadlineSpec("progress", "open", RULE, due_progress, "progress", skip_superseded=True,
                     superseded_by=("judge",)),
        DeadlineSpec("judge", "open", RULE, due_judge, "judge"),
    ),
    events=("investment.progress",),
    handlers={"progress": progress, "judge": judge},
))


# -- use case: `outpost invest add` ----------------------------------------------------------------------
def add_investment(service: CaseService, actor_id: str, amount: object, source: str | None, project: str | None,
                   on: str | None = None, credits: object = None) -> Item:
    """Record an investment against the actor's office and the year of its date: one step of the year's case,
    which the investment opens when the daemon has not yet (CaseService.log_in_period)."""
    params: dict[str, Any] = {"amount": amount, "source": source, "project": project, "date": on,
                              "credits": credits}
    inv = parse_investment(params, local_date(service.clock.now()))
    options: dict[str, Any] = {"amount": inv.amount, "source": inv.source, "project": inv.project,
                               "date": inv.on.isoformat(), "credits": dict(inv.credits)}
    return service.log_in_period(
        PROCESS, actor_id, f"{inv.on.year}-Y", "add", options, rule_id=RULE,
        not_in_office="investments are recorded by the offices",
        closed=lambda case: f"{inv.on.year} was judged at year end ({case.state}); its investments can no longer "
                            "be added")


# -- the command: `outpost invest add` ---------------------------------------------------------------------
def investment_json(item: Item, case: Case) -> dict[str, Any]:
    """An investment as `invest add --json` prints it."""
    data = item.data
    return {
        "id": item.id, "kind": item.kind, "case": item.case_id, "office": case.office, "period": case.period,
        "year": case.data.get("year"),
        "amount": int(data["amount"]), "source": data.get("source"), "project": data.get("project"),
        "date": data.get("date"),
        "credits": [{"person": p, "yuan": int(v)} for p, v in dict(data.get("credits", {})).items()],
        "created_by": item.created_by, "created_at": local_iso(item.created_at),
        "case_state": case.state, "total": case.data.get("total"), "target": case.data.get("target"),
    }


def cmd_add(service: CaseService, o: dict[str, Any]) -> CommandResult:
    item = add_investment(service, o["as_"], o["amount"], o["source"], o["project"], o.get("date"),
                          list(o.get("credit") or []))
    case = service.case(item.case_id)
    total, target = case.data.get("total", 0), case.data.get("target", 0)
    return CommandResult(investment_json(item, case),
                         f"investment recorded (id {item.id}): {int(item.data['amount']):,} yuan for {case.office} "
                         f"{case.period} (case {case.id}); {total:,} of {target:,} yuan this year")


def cmd_list(service: CaseService, o: dict[str, Any]) -> CommandResult:
    """`outpost invest list [--office O] [--year Y]`: the investments, oldest first."""
    prefix = ""
    if o.get("year") is not None:
        text = str(o["year"]).strip()
        if not (text.isascii() and text.isdigit() and len(text) == 4 and 1970 <= int(text) <= 2199):
            raise BadInput(f"--year: expected a year such as 2027, got {text[:20]!r}")
        prefix = f"{int(text)}-Y"
    found = service.items_in(PROCESS, ITEM_KIND, o.get("office"), prefix)
    total = sum(int(i.data["amount"]) for i, _c in found)
    lines = [f"{len(found)} investment(s), {total:,} yuan"]
    for i, c in found:
        credits = ", ".join(f"{p}={int(v):,}" for p, v in dict(i.data.get("credits", {})).items()) or "-"
        lines.append(f"  {i.id} {c.office} {i.data.get('date')} {int(i.data['amount']):,} yuan "
                     f"{i.data.get('source')}: {i.data.get('project')} (credits: {credits})")
    return CommandResult([investment_json(i, c) for i, c in found], "\n".join(lines))
