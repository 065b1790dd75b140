"""What the periodic duties of R-6 share: calendar periods, the R-5.5-shaped submission cycle, verdicts.

- Periods: quarters (`2027-Q3`), months (`2027-05`) and years (`2027-Y`), each with its first and last day.
- `PeriodicSubmission`: a document due on a date — reminders N days before, overdue the day after,
  the overdue reminder repeating every N working days until it is submitted, a late submission accepted
  and marked late (R-5.5). `report` (R-5), `fin_statement` (R-6.1) and `annual_audit` (R-6.2) use it,
  each with the numbers of its own policy section; where a process genuinely differs (the wording of
  its explanations, the states the document is still due in, no repeating reminder) it says so through
  the fields and the few methods a subclass overrides.
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

from machines._common import data_date, n_days, show
from workflow.context import Ctx
from workflow.definition import DeadlineSpec, Handler
from workflow.errors import BadInput
from workflow.model import Deadline, Person
from workflow.timeutil import LOCAL_TZ, end_of_day, local_date, local_midnight

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
    The document is due while the case is in one of `states` (deadlines are set on entering each);
    `repeat_overdue=False` sends the overdue notice once, without the repeating reminder.
    """

    process: str
    section: str
    rule: str
    due_rule: str  # where the due date comes from (the case's `data["due_why"]` says it more exactly)
    submitters: Callable[[Ctx], list[Person]]
    leaders: Callable[[Ctx], list[Person]]
    states: tuple[str, ...] = ("open",)
    action: str = "submit"
    repeat_overdue: bool = True
    submitted_key: str = "submitted_at"  # where the first submission's instant is kept in the case's data

    @property
    def events(self) -> tuple[str, ...]:
        repeat = (f"{self.process}.overdue_reminder",) if self.repeat_overdue else ()
        return (f"{self.process}.reminder", f"{self.process}.overdue", *repeat)

    @property
    def deadlines(self) -> tuple[DeadlineSpec, ...]:
        return tuple(
            spec
            for state in self.states
            for spec in (
                DeadlineSpec("reminder", state, self.rule, self.due_reminders, "remind", skip_superseded=True,
                             superseded_by=("overdue",)),
                DeadlineSpec("overdue", state, self.rule, self.due_overdue, "overdue"),
            )
        )

    @property
    def handlers(self) -> dict[str, Handler]:
        found: dict[str, Handler] = {"remind": self.remind, "overdue": self.overdue}
        if self.repeat_overdue:
            found["overdue_repeat"] = self.overdue_repeat
        return found

    # -- how it explains itself (a process with its own wording overrides these) -----------------------
    @property
    def cited(self) -> str:
        """The rule a reminder cites: R-5.5 itself, or "R-6.1, as R-5.5"."""
        return self.rule if self.rule == "R-5.5" else f"{self.rule}, as R-5.5"

    def reminder_why(self, ctx: Ctx, due: date, at: datetime, n: int) -> str:
        source = ctx.data.get("due_why") or self.due_rule
        return (f"due {due} = {source} (on or before that day, R-0.3); reminder {show(at)} = {n_days(n)} before "
                f"({self.cited})")

    def overdue_why(self, due: date, at: datetime) -> str:
        return f"overdue from {show(at)}: the day after the due date {due} ({self.cited})"

    def actions(self, ctx: Ctx) -> tuple[str, ...]:
        """The triggers a reminder invites its recipients to fire."""
        return (self.action,)

    def mail_params(self, ctx: Ctx) -> dict[str, Any]:
        """What the mails tell besides the period and the due line (issue 17): once submitted, the local day
        it was and whether late (R-5.5), for the one who reviews it; a process adds what its actions need."""
        data = ctx.data
        found: dict[str, Any] = {"due_date": data["due"]}
        if data.get(self.submitted_key):
            found["submitted_on"] = local_date(datetime.fromisoformat(str(data[self.submitted_key]))).isoformat()
            found["late"] = bool(data.get("late"))
        return found

    # -- due dates ------------------------------------------------------------------------------------
    @staticmethod
    def due_instant(data: dict[str, Any]) -> datetime:
        """R-0.3: "on or before the 15th" ends at 23:59:59.999999 local that day."""
        return end_of_day(data_date(data, "due"))

    def due_reminders(self, ctx: Ctx) -> list[tuple[datetime, str]]:
        due = data_date(ctx.data, "due")
        out = []
        for n in ctx.policy.ints(f"{self.section}.remind_days_before"):
            at = at_local(due - timedelta(days=n))
            out.append((at, self.reminder_why(ctx, due, at, n)))
        return out

    def due_overdue(self, ctx: Ctx) -> tuple[datetime, str] | None:
        due = data_date(ctx.data, "due")
        at = local_midnight(due + timedelta(days=1))
        return at, self.overdue_why(due, at)

    # -- effects and handlers -------------------------------------------------------------------------
    def record_submission(self, ctx: Ctx) -> None:
        """The first submission decides lateness (R-0.3, R-5.5); a resubmission keeps it."""
        data = ctx.data
        if self.submitted_key not in data:
            data[self.submitted_key] = ctx.now.isoformat()
            data["late"] = ctx.now > self.due_instant(data)
            ctx.details["late"] = data["late"]
        else:
            data["resubmitted_at"] = ctx.now.isoformat()

    def remind(self, ctx: Ctx) -> None:
        ctx.notify(f"{self.process}.reminder", self.submitters(ctx), self.rule, actions=self.actions(ctx),
                   due_at=self.due_instant(ctx.data), **self.mail_params(ctx))

    def overdue(self, ctx: Ctx) -> None:
        ctx.data["overdue"] = True
        ctx.record("overdue", {"rule": self.rule, "due": ctx.data["due"]})
        ctx.notify(f"{self.process}.overdue", self.submitters(ctx) + self.leaders(ctx), self.rule,
                   actions=self.actions(ctx), due_at=self.due_instant(ctx.data), **self.mail_params(ctx))
        if self.repeat_overdue:
            self.schedule_repeat(ctx, occurrence=1)

    def overdue_repeat(self, ctx: Ctx) -> None:
        ctx.notify(f"{self.process}.overdue_reminder", self.submitters(ctx), self.rule, actions=self.actions(ctx),
                   due_at=self.due_instant(ctx.data), **self.mail_params(ctx))
        assert ctx.deadline is not None
        self.schedule_repeat(ctx, occurrence=ctx.deadline.occurrence + 1)

    def schedule_repeat(self, ctx: Ctx, occurrence: int) -> None:
        """The next overdue reminder, every N working days; after downtime, the next slot after now —
        never one per missed interval (R-5.5)."""
        n = ctx.policy.int(f"{self.section}.overdue_repeat_workdays")
        assert ctx.deadline is not None

        def after(at: datetime) -> tuple[datetime, str]:
            # a reminder goes out in the morning of the n-th working day, not at the end of it
            # (after_workdays: a deadline's end), nor at the minute the overdue notice fired
            result = ctx.calendar.add_workdays(at.astimezone(LOCAL_TZ).date(), n)
            return at_local(result.day), result.note

        at, note = after(ctx.deadline.due_at)
        while at <= ctx.now:
            at, note = after(at)
        case = ctx.require_case()
        ctx.schedule(Deadline(case_id=case.id, kind="overdue_reminder", due_at=at, rule_id=self.rule,
                              why=f"overdue since {ctx.data['due']}; reminder repeats every {n_days(n, 'working')} "
                                  f"until submitted, next {show(at)} ({self.cited}){note}",
                              action="overdue_repeat", for_state=ctx.deadline.for_state, created_at=ctx.now,
                              occurrence=occurrence))
