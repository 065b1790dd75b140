"""What the periodic duties of R-6 share: calendar periods, the R-5.5-shaped submission cycle, verdicts.

- Periods: quarters (`2027-Q3`), months (`2027-05`) and years (`2027-Y`), each with its first and last day.
- `PeriodicSubmission`: a document due on a date — reminders N days before, overdue the day after,
  the overdue reminder repeating every N working days until it is submitted, a late submission accepted
  and marked late (R-5.5). `fin_statement` (R-6.1) uses it; its policy numbers live in the process's
  own policy section.
- `schedule_verdict`: a period's judgment (`met`/`short`, `met`/`missed`) is two system triggers out of
  one state; the deadline handler that judges schedules the chosen trigger at once, and the tick fires
  it in the same run (the engine's deadline actions name one trigger each).
"""

from __future__ import annotations

import calendar as _calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from machines._common import after_workdays, data_date, n_days, people, show
from workflow.context import Ctx
from workflow.definition import DeadlineSpec, Handler
from workflow.errors import BadInput
from workflow.model import Deadline, Person
from workflow.timeutil import LOCAL_TZ, end_of_day, local_midnight

REMIND_AT = time(9, 0)  # reminders go out at 09:00 local, as for the work reports
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_YEAR = re.compile(r"(\d{4})-Y")


# -- periods ---------------------------------------------------------------------------------------------
def quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    first = date(year, 3 * quarter - 2, 1)
    last_month = 3 * quarter
    return first, date(year, last_month, _calendar.monthrange(year, last_month)[1])


def month_bounds(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, _calendar.monthrange(year, month)[1])


def parse_quarter(key: str) -> tuple[int, int]:
    m = _QUARTER.fullmatch(key)
    if not m:
        raise BadInput(f"period {key[:20]!r}: expected a quarter YYYY-Qn")
    return int(m.group(1)), int(m.group(2))


def parse_month(key: str, what: str = "--month") -> tuple[int, int]:
    m = _MONTH.fullmatch(key)
    if not m or not 1970 <= int(m.group(1)) <= 2199:
        raise BadInput(f"{what}: expected YYYY-MM, got {key[:20]!r}")
    return int(m.group(1)), int(m.group(2))


def parse_year(key: str) -> int:
    m = _YEAR.fullmatch(key)
    if not m:
        raise BadInput(f"period {key[:20]!r}: expected a year YYYY-Y")
    return int(m.group(1))


def at_local(day: date, at: time = REMIND_AT) -> datetime:
    return datetime.combine(day, at, tzinfo=LOCAL_TZ)


# -- verdicts --------------------------------------------------------------------------------------------
def schedule_verdict(ctx: Ctx, trigger: str, rule_id: str, why: str) -> None:
    """Fire the system trigger `trigger` now, through a deadline the tick takes in the same run.

    A deadline action names one trigger; a judgment with two outcomes from the same state is decided by
    the handler and carried out by this one-off deadline (recorded, fired once, like any other).
    """
    case = ctx.require_case()
    ctx.schedule(Deadline(case_id=case.id, kind="verdict", due_at=ctx.now, rule_id=rule_id, why=why,
                          action=f"trigger:{trigger}", for_state=case.state, created_at=ctx.now))


# -- the tracking date (workflow/tracking.py) ---------------------------------------------------------------
def untracked(ctx: Ctx, first: date, what: str | None = None) -> bool:
    """Whether the case's period began (`first`) before the tracking date: Outpost did not see all of it, so
    it gives no verdict on it and sends nothing that counts it. With `what`, the history says what was not
    done and why (the judgment; a reminder or a progress report just stays silent)."""
    since = ctx.tracking_from()
    if since is None or first >= since:
        return False
    if what is not None:
        ctx.record("not_judged", {"rule": "tracking_from", "not": what, "period_began": first.isoformat(),
                                  "tracking_from": since.isoformat(),
                                  "why": f"the period began {first}, before Outpost's tracking date {since}: "
                                         "no verdict on a period it did not follow from its start"})
    return True


# -- the R-5.5-shaped submission cycle ---------------------------------------------------------------------
@dataclass(frozen=True)
class PeriodicSubmission:
    """Reminders, overdue and the repeating overdue reminder for a document due on `data["due"]`.

    `section` names the policy section holding `remind_days_before` and `overdue_repeat_workdays`;
    `rule` is the rule that sets the due date and the cycle (e.g. R-6.1 "reminders and overdue as R-5.5").
    """

    process: str
    section: str
    rule: str
    due_rule: str  # where the due date comes from (the case's `data["due_why"]` says it more exactly)
    submitters: Callable[[Ctx], list[Person]]
    leaders: Callable[[Ctx], list[Person]]
    state: str = "open"
    action: str = "submit"

    @property
    def events(self) -> tuple[str, ...]:
        return (f"{self.process}.reminder", f"{self.process}.overdue", f"{self.process}.overdue_reminder")

    @property
    def deadlines(self) -> tuple[DeadlineSpec, ...]:
        return (
            DeadlineSpec("reminder", self.state, self.rule, self.due_reminders, "remind", skip_superseded=True,
                         superseded_by=("overdue",)),
            DeadlineSpec("overdue", self.state, self.rule, self.due_overdue, "overdue"),
        )

    @property
    def handlers(self) -> dict[str, Handler]:
        return {"remind": self.remind, "overdue": self.overdue, "overdue_repeat": self.overdue_repeat}

    # -- due dates ------------------------------------------------------------------------------------
    @staticmethod
    def due_instant(data: dict[str, Any]) -> datetime:
        """R-0.3: "on or before the 15th" ends at 23:59:59.999999 local that day."""
        return end_of_day(data_date(data, "due"))

    def due_reminders(self, ctx: Ctx) -> list[tuple[datetime, str]]:
        due = data_date(ctx.data, "due")
        source = ctx.data.get("due_why") or self.due_rule
        out = []
        for n in ctx.policy.ints(f"{self.section}.remind_days_before"):
            at = at_local(due - timedelta(days=n))
            out.append((at, f"due {due} = {source} (on or before that day, R-0.3); reminder {show(at)} = "
                            f"{n_days(n)} before ({self.rule}, as R-5.5)"))
        return out

    def due_overdue(self, ctx: Ctx) -> tuple[datetime, str]:
        due = data_date(ctx.data, "due")
        at = local_midnight(due + timedelta(days=1))
        return at, f"overdue from {show(at)}: the day after the due date {due} ({self.rule}, as R-5.5)"

    # -- effects and handlers -------------------------------------------------------------------------
    def record_submission(self, ctx: Ctx) -> None:
        """The first submission decides lateness (R-0.3, R-5.5); a resubmission keeps it."""
        data = ctx.data
        if "submitted_at" not in data:
            data["submitted_at"] = ctx.now.isoformat()
            data["late"] = ctx.now > self.due_instant(data)
            ctx.details["late"] = data["late"]
        else:
            data["resubmitted_at"] = ctx.now.isoformat()

    def remind(self, ctx: Ctx) -> None:
        ctx.notify(f"{self.process}.reminder", self.submitters(ctx), self.rule, actions=(self.action,),
                   due_at=self.due_instant(ctx.data))

    def overdue(self, ctx: Ctx) -> None:
        ctx.data["overdue"] = True
        ctx.record("overdue", {"rule": self.rule, "due": ctx.data["due"]})
        ctx.notify(f"{self.process}.overdue", self.submitters(ctx) + self.leaders(ctx), self.rule,
                   actions=(self.action,), due_at=self.due_instant(ctx.data))
        self.schedule_repeat(ctx, occurrence=1)

    def overdue_repeat(self, ctx: Ctx) -> None:
        ctx.notify(f"{self.process}.overdue_reminder", self.submitters(ctx), self.rule, actions=(self.action,),
                   due_at=self.due_instant(ctx.data))
        assert ctx.deadline is not None
        self.schedule_repeat(ctx, occurrence=ctx.deadline.occurrence + 1)

    def schedule_repeat(self, ctx: Ctx, occurrence: int) -> None:
        """The next overdue reminder, every N working days; after downtime, the next slot after now."""
        n = ctx.policy.int(f"{self.section}.overdue_repeat_workdays")
        assert ctx.deadline is not None
        at, note = after_workdays(ctx, ctx.deadline.due_at, n)
        while at <= ctx.now:
            at, note = after_workdays(ctx, at, n)
        case = ctx.require_case()
        ctx.schedule(Deadline(case_id=case.id, kind="overdue_reminder", due_at=at, rule_id=self.rule,
                              why=f"overdue since {ctx.data['due']}; reminder repeats every {n_days(n, 'working')} "
                                  f"until submitted, next {show(at)} ({self.rule}, as R-5.5){note}",
                              action="overdue_repeat", for_state=self.state, created_at=ctx.now,
                              occurrence=occurrence))


# -- people ------------------------------------------------------------------------------------------------
def office_directors(ctx: Ctx) -> list[Person]:
    return people(ctx, "director", ctx.require_case().office)


def supervising_leaders(ctx: Ctx) -> list[Person]:
    return people(ctx, "supervising_leader")


def clerks(ctx: Ctx) -> list[Person]:
    return people(ctx, "clerk")


def office_members(ctx: Ctx) -> list[Person]:
    """Everyone working in the case's office (director, deputies, staff), in id order."""
    office = ctx.require_case().office
    return [p for p in sorted(ctx.org.people.values(), key=lambda p: p.id)
            if p.active and p.office == office and p.office is not None]
