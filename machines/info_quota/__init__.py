"""`info_quota` — monthly information fed back by each office (REGULATION.md R-6.3).

One case per office per month (`2027-05`), created by the daemon at 00:00 on the 1st (or by the month's
first `outpost info add`, when that comes before the daemon). The office's people log items against it
(`add_item`); a General Office clerk or the supervising leader accepts an item as valuable
(`accept_item`). Both are internal transitions: recorded in the case's history, the state kept.

- At 09:00 five days before the month's last day (policy `info_quota.remind_days_before_month_end`) an
  office with fewer than 4 accepted items is reminded, and the clerks are told of items still waiting.
- At the end of the month (00:00 on the next 1st; policy `info_quota.judge_days_after_month_end` may
  allow the General Office a few more days to accept, default 0) the month is judged: `met` with at least
  4 accepted items (R-0.2: 4 meets, 3 does not), else `short`, which notifies the director and the
  supervising leader. Items can be neither logged nor accepted after that.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from machines._common import clerks, n_days, office_directors, office_members, show, supervising_leaders
from machines._periodic import at_local, month_bounds, parse_month, schedule_verdict, untracked
from workflow import registry
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
from workflow.model import OFFICE_ROLES, Case, Item, Person
from workflow.policy import Policy
from workflow.service import CaseService, check_text
from workflow.timeutil import end_of_day, local_date, local_iso, local_midnight

HOME = Path(__file__).parent  # templates/ and policy.toml of this process

PROCESS = "info_quota"
RULE = "R-6.3"
QUOTA = 4  # with: 不少于4条 = at least 4 accepted items a month
ITEM_KIND = "info"
TITLE_LIMIT = 500


def month_window(year: int, month: int, policy: Policy) -> tuple[date, date, date]:
    """(first day, last day, last day items may still be logged or accepted)."""
    first, last = month_bounds(year, month)
    return first, last, last + timedelta(days=policy.int("info_quota.judge_days_after_month_end"))


def info_periods(year: int, policy: Policy) -> list[Period]:
    out = []
    for month in range(1, 13):
        first, _last, closes = month_window(year, month, policy)
        out.append(Period(key=f"{year}-{month:02d}", opens_at=local_midnight(first), due=closes))
    return out


# -- who -------------------------------------------------------------------------------------------------
def member_refusal(actor: Person | None, office: str | None) -> Refusal | None:
    if actor is not None and office is not None and actor.office == office and actor.roles & OFFICE_ROLES:
        return None
    return (RULE, f"information items of {office} are logged by that office's people")


def office_member(ctx: Ctx) -> Refusal | None:
    return member_refusal(ctx.actor, ctx.require_case().office)


def general_office(ctx: Ctx) -> Refusal | None:
    actor = ctx.actor
    assert actor is not None
    if actor.has("clerk") or actor.has("supervising_leader"):
        return None
    return (RULE, "items are accepted as valuable by a General Office clerk or the supervising leader")


# -- guards ----------------------------------------------------------------------------------------------
def window_refusal(data: dict[str, Any], now: datetime) -> str | None:
    first, closes = date.fromisoformat(data["first"]), date.fromisoformat(data["closes"])
    if now < local_midnight(first):
        return f"the month {data['month']} has not begun"
    if now > end_of_day(closes):
        return (f"the month {data['month']} ended on {data['last']} and its quota is judged; "
                "items can no longer be logged or accepted for it")
    return None


def in_window(ctx: Ctx) -> str | None:
    return window_refusal(ctx.data, ctx.now)


def accepted_count(ctx: Ctx) -> int:
    return sum(1 for i in ctx.tx.items(ctx.require_case().id, ITEM_KIND) if i.status == "accepted")


def quota_reached(ctx: Ctx) -> str | None:
    n = accepted_count(ctx)
    return None if n >= QUOTA else f"{n} accepted items; the quota is at least {QUOTA}"


def quota_missed(ctx: Ctx) -> str | None:
    n = accepted_count(ctx)
    return None if n < QUOTA else f"{n} accepted items meet the quota of {QUOTA}"


def the_item(ctx: Ctx) -> Item:
    raw = ctx.params.get("item")
    if raw is None:
        raise BadInput("name the information item: outpost info accept ITEM")
    try:
        item_id = int(str(raw))
    except ValueError:
        raise BadInput(f"item: expected an item id, got {str(raw)[:40]!r}") from None
    item = ctx.tx.get_item(item_id) if 0 < item_id < 2**31 else None
    if item is None or item.kind != ITEM_KIND:
        raise NotFound("information item", raw)
    if item.case_id != ctx.require_case().id:
        raise BadInput(f"information item {item_id} belongs to case {item.case_id}, not {ctx.require_case().id}")
    return item


def item_waiting(ctx: Ctx) -> str | None:
    if ctx.params.get("item") is None:
        return None  # asked what may be done (`case triggers`): the item is checked when one is named
    item = the_item(ctx)
    if item.status != "logged":
        return f"information item {item.id} is already {item.status}"
    return None


def title_of(params: dict[str, Any]) -> str:
    title = check_text(params.get("title"), "--title", TITLE_LIMIT)
    if title is None or not title.strip():
        raise BadInput("--title: say what the information is about")
    return title.strip()


# -- effects ---------------------------------------------------------------------------------------------
def log_item(ctx: Ctx) -> None:
    case = ctx.require_case()
    assert ctx.actor is not None
    title = title_of(ctx.params)
    item = Item(case_id=case.id, kind=ITEM_KIND, status="logged", data={"v": 1, "title": title,
                                                                       "month": case.period},
                created_at=ctx.now, created_by=ctx.actor.id, updated_at=ctx.now)
    item_id = ctx.tx.add_item(item)
    ctx.data["logged"] = int(ctx.data.get("logged", 0)) + 1
    ctx.details.update({"item": item_id, "title": title, "rule": RULE})
    ctx.notify("info_quota.item_logged", clerks(ctx), RULE, key=f"item{item_id}", item=item_id,
               logged=ctx.data["logged"], accepted=int(ctx.data.get("accepted", 0)), quota=QUOTA)


def log_first_item(ctx: Ctx) -> None:
    """Opened by a person's `info add` (before the daemon opened the month): that item is logged with it."""
    if ctx.actor is not None:
        log_item(ctx)


def accept(ctx: Ctx) -> None:
    item = the_item(ctx)
    assert ctx.actor is not None
    item.status = "accepted"
    item.data = {**item.data, "accepted_by": ctx.actor.id, "accepted_at": ctx.now.isoformat()}
    item.updated_at = ctx.now
    ctx.tx.update_item(item)
    ctx.data["accepted"] = int(ctx.data.get("accepted", 0)) + 1
    ctx.details.update({"item": item.id, "accepted": ctx.data["accepted"], "rule": RULE})


def record_verdict(ctx: Ctx) -> None:
    n = accepted_count(ctx)
    ctx.data["accepted"] = n
    ctx.details.update({"accepted": n, "quota": QUOTA, "rule": RULE})


# -- opening ---------------------------------------------------------------------------------------------
def open_month(ctx: Ctx) -> OpenPlan:
    office, period = ctx.params.get("office"), ctx.params.get("period")
    if not office or not period or office not in ctx.org.offices:
        raise BadInput("an information case is opened for an office and a month")
    year, month = parse_month(str(period), "period")
    first, last, closes = month_window(year, month, ctx.policy)
    key = f"{year}-{month:02d}"
    data: dict[str, Any] = {"month": key, "first": first.isoformat(), "last": last.isoformat(),
                            "closes": closes.isoformat(), "quota": QUOTA, "logged": 0, "accepted": 0}
    details: dict[str, Any] = {"rule": RULE, "why": f"information of {office} for {key}: at least {QUOTA} "
                                                    f"accepted items ({RULE})"}
    if ctx.actor is not None:
        refusal = member_refusal(ctx.actor, str(office))
        if refusal is not None:
            raise RuleViolation(*refusal)
        late = window_refusal(data, ctx.now)
        if late is not None:
            raise RuleViolation(RULE, late)
        title_of(ctx.params)
        details["opened_by_item"] = True
    return OpenPlan(state="open", office=str(office), subject=None, data=data, period=key, details=details)


# -- deadlines -------------------------------------------------------------------------------------------
def due_reminder(ctx: Ctx) -> tuple[datetime, str]:
    n = ctx.policy.int("info_quota.remind_days_before_month_end")
    last = date.fromisoformat(ctx.data["last"])
    at = at_local(last - timedelta(days=n))
    return at, (f"{ctx.data['month']} ends {last}; reminder {show(at)} = {n_days(n)} before the month's end, "
                f"sent when fewer than {QUOTA} items are accepted ({RULE})")


def due_judge(ctx: Ctx) -> tuple[datetime, str]:
    closes = date.fromisoformat(ctx.data["closes"])
    at = local_midnight(closes + timedelta(days=1))
    grace = (closes - date.fromisoformat(ctx.data["last"])).days
    extra = f" + {n_days(grace)} (policy info_quota.judge_days_after_month_end)" if grace else ""
    return at, (f"judged {show(at)}, at the end of {ctx.data['month']}{extra}: met with at least {QUOTA} "
                f"accepted items, else short ({RULE})")


def remind(ctx: Ctx) -> None:
    if untracked(ctx, date.fromisoformat(ctx.data["first"])):
        return  # the month began before the tracking date: its count is not the office's (no verdict either)
    accepted = accepted_count(ctx)
    if accepted >= QUOTA:
        return
    logged = len(ctx.tx.items(ctx.require_case().id, ITEM_KIND))
    due_at = end_of_day(date.fromisoformat(ctx.data["closes"]))
    ctx.notify("info_quota.reminder", office_members(ctx), RULE, due_at=due_at, accepted=accepted,
               logged=logged, quota=QUOTA)
    if logged > accepted:
        ctx.notify("info_quota.items_waiting", clerks(ctx), RULE, due_at=due_at, waiting=logged - accepted,
                   accepted=accepted, quota=QUOTA)


def judge(ctx: Ctx) -> None:
    if untracked(ctx, date.fromisoformat(ctx.data["first"]), "judge"):
        return
    n = accepted_count(ctx)
    verdict = "met" if n >= QUOTA else "short"
    schedule_verdict(ctx, verdict, RULE, f"{ctx.data['month']}: {n} accepted items, quota {QUOTA} ({RULE}): "
                                         f"{verdict}")


def told_of_shortfall(ctx: Ctx) -> list[Person]:
    return office_directors(ctx) + supervising_leaders(ctx)



# -- its section of `report compliance` (R-6.3) ---------------------------------------------------------------
def compliance(section: Section) -> dict[str, Any]:
    months = []
    for c in section.cases:
        items = section.items.get(c.id, [])
        accepted = sum(1 for i in items if i.status == "accepted")
        quota = int(c.data.get("quota", QUOTA))
        closes = c.data.get("closes")
        past = bool(closes) and section.now > end_of_day(date.fromisoformat(str(closes)))
        short = c.state == "short" or (c.state == "open" and past and accepted < quota)
        months.append({"month": c.period, "state": c.state, "logged": len(items), "accepted": accepted,
                       "quota": quota, "short": short})
    return {"info_months": months, "info_short_months": [m["month"] for m in months if m["short"]]}


DEFINITION = registry.register(ProcessDefinition(
    name=PROCESS,
    version=1,
    title="Monthly information (信息报送)",
    names={"zh": "信息报送", "en": "information quota"},
    home=HOME,
    compliance=compliance,
    commands=(
        Command("info", "add", "Log an information item for your office's month (R-6.3).",
                run=lambda service, o: cmd_add(service, o),
                group_help="Monthly information items (R-6.3).",
                options=(Option("title", "what the information is about", required=True),
                         Option("month", "YYYY-MM (default: this month)"))),
        Command("info", "accept", "Accept an information item as valuable (R-6.3).",
                run=lambda service, o: cmd_accept(service, o),
                arguments=(Option("item", "the item id (printed by `info add`)", "id"),)),
        Command("info", "list", "List the information items, those awaiting acceptance with --status logged (R-6.3).",
                run=lambda service, o: cmd_list(service, o), acts=False,
                options=(Option("office", "one office's code (default: every office)"),
                         Option("month", "YYYY-MM (default: every month)"),
                         Option("status", "logged (awaiting acceptance) | accepted"))),
    ),
    states=("open", "met", "short"),
    initial_states=("open",),
    final_states=("met", "short"),
    opener=open_month,
    open_options=frozenset({"office", "period"}),
    open_effects=(log_first_item,),
    periodic=True,
    periods=info_periods,
    transitions=(
        Transition("add_item", ("open",), None, office_member, "the office's people",
                   guards=(Guard(RULE, in_window),), options=frozenset({"title"}), effects=(log_item,)),
        Transition("accept_item", ("open",), None, general_office,
                   "a General Office clerk or the supervising leader",
                   guards=(Guard(RULE, in_window), Guard(RULE, item_waiting)), options=frozenset({"item"}),
                   effects=(accept,)),
        Transition("met", ("open",), "met", None, "the daemon, at the month's end",
                   guards=(Guard(RULE, quota_reached),), effects=(record_verdict,)),
        Transition("short", ("open",), "short", None, "the daemon, at the month's end",
                   guards=(Guard(RULE, quota_missed),), effects=(record_verdict,),
                   notices=(Notice("info_quota.short", told_of_shortfall, RULE),)),
    ),
    deadlines=(
        DeadlineSpec("reminder", "open", RULE, due_reminder, "remind", skip_superseded=True,
                     superseded_by=("judge",)),
        DeadlineSpec("judge", "open", RULE, due_judge, "judge"),
    ),
    events=("info_quota.item_logged", "info_quota.reminder", "info_quota.items_waiting"),
    handlers={"remind": remind, "judge": judge},
))


# -- use cases: `outpost info add|accept` ------------------------------------------------------------------
def add_item(service: CaseService, actor_id: str, title: str, month: str | None = None) -> Item:
    """Log an information item for the actor's office and `month` (default: this month): one step of the
    month's case, which the item opens when the daemon has not yet (CaseService.log_in_period)."""
    title = title_of({"title": title})
    if month is None:
        month = local_date(service.clock.now()).strftime("%Y-%m")
    year, mon = parse_month(month)
    key = f"{year}-{mon:02d}"
    return service.log_in_period(
        PROCESS, actor_id, key, "add_item", {"title": title}, rule_id=RULE,
        not_in_office="information items are fed back by the offices",
        closed=lambda case: f"{key} was judged at month end ({case.state}); items can no longer be logged")


def accept_item(service: CaseService, item_ref: str | int, actor_id: str) -> Item:
    """Accept an information item as valuable (R-6.3): the `accept_item` step of its month's case."""
    try:
        item_id = int(str(item_ref))
    except ValueError:
        raise BadInput(f"unknown information item: {str(item_ref)[:40]!r} (an item id is a number)") from None
    if not 0 < item_id < 2**31:
        raise NotFound("information item", item_ref)
    found = service.item(item_id)
    if found is None or found[0].kind != ITEM_KIND or found[1].process != PROCESS:
        raise NotFound("information item", item_ref)
    item, case = found
    if case.state != "open":
        raise RuleViolation(RULE, f"{case.period} was judged at month end ({case.state}); items can no longer "
                                  "be accepted")
    service.advance(item.case_id, "accept_item", actor_id, options={"item": item_id})
    done = service.item(item_id)
    assert done is not None
    return done[0]


# -- the commands: `outpost info add|accept` ---------------------------------------------------------------
def item_json(item: Item, case: Case) -> dict[str, Any]:
    """An information item as `info add|accept --json` print it."""
    accepted_at = item.data.get("accepted_at")
    return {
        "id": item.id, "kind": item.kind, "case": item.case_id, "office": case.office, "month": case.period,
        "title": item.data.get("title"), "status": item.status, "created_by": item.created_by,
        "created_at": local_iso(item.created_at), "accepted_by": item.data.get("accepted_by"),
        "accepted_at": local_iso(datetime.fromisoformat(str(accepted_at))) if accepted_at else None,
        "case_state": case.state, "accepted_in_month": case.data.get("accepted", 0),
        "quota": case.data.get("quota"),
    }


def cmd_add(service: CaseService, o: dict[str, Any]) -> CommandResult:
    item = add_item(service, o["as_"], o["title"], o.get("month"))
    case = service.case(item.case_id)
    return CommandResult(item_json(item, case),
                         f"information item {item.id} logged for {case.office} {case.period} (case {case.id}); "
                         f"{case.data.get('accepted', 0)} of {case.data.get('quota')} accepted so far")


def cmd_accept(service: CaseService, o: dict[str, Any]) -> CommandResult:
    item = accept_item(service, o["item"], o["as_"])
    case = service.case(item.case_id)
    return CommandResult(item_json(item, case),
                         f"information item {item.id} accepted; {case.office} {case.period}: "
                         f"{case.data.get('accepted', 0)} of {case.data.get('quota')} accepted")


STATUSES = ("logged", "accepted")


def cmd_list(service: CaseService, o: dict[str, Any]) -> CommandResult:
    """`outpost info list [--office O] [--month YYYY-MM] [--status logged|accepted]`: the items, oldest first."""
    prefix = ""
    if o.get("month") is not None:
        year, mon = parse_month(str(o["month"]))
        prefix = f"{year}-{mon:02d}"
    status = o.get("status")
    if status is not None and status not in STATUSES:
        raise BadInput(f"--status: expected logged or accepted, got {str(status)[:20]!r}")
    found = [(i, c) for i, c in service.items_in(PROCESS, ITEM_KIND, o.get("office"), prefix)
             if status is None or i.status == status]
    lines = [f"{len(found)} information item(s)"]
    lines += [f"  {i.id} {c.office} {c.period} {i.status} {i.created_by or '-'}: {i.data.get('title')}"
              for i, c in found]
    return CommandResult([item_json(i, c) for i, c in found], "\n".join(lines))
