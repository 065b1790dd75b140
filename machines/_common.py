"""Small helpers the machine definitions share: due dates that explain themselves, and the role look-ups
(who holds a role, the office's director, the supervising leaders, the clerks) — written once, here."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from workflow.context import Ctx
from workflow.errors import BadInput
from workflow.model import Person
from workflow.timeutil import LOCAL_TZ, end_of_day, local_midnight, parse_date


def param_date(ctx: Ctx, key: str, required: bool = True) -> date | None:
    value = ctx.params.get(key)
    if value is None:
        if required:
            raise BadInput(f"--{key.replace('_', '-')} is required")
        return None
    if isinstance(value, date):
        return value
    return parse_date(str(value), f"--{key.replace('_', '-')}")


def span(ctx: Ctx, what: str) -> tuple[date, date, int]:
    """--start and --end of an absence: both given, in order, at most a year (366 days) long; and its days."""
    start, end = param_date(ctx, "start"), param_date(ctx, "end")
    assert start is not None and end is not None
    if end < start:
        raise BadInput(f"--end {end} is before --start {start}")
    days = (end - start).days + 1
    if days > 366:
        raise BadInput(f"--end: {what} is at most one year (366 days) long; {start} – {end} is {n_days(days)}")
    return start, end, days


def data_date(data: dict[str, Any], key: str) -> date:
    return date.fromisoformat(str(data[key]))


def after_workdays(ctx: Ctx, anchor: datetime, n: int) -> tuple[datetime, str]:
    """The end of the n-th working day after `anchor`'s local day (R-0.6); and the note on its source.

    "Within 2 working days" gives the approver those days whole: the deadline ends with the working day
    (23:59:59.999999 local, as a date's deadline does, R-0.3/R-0.4), not at the minute of the request
    (issue 17: a request at 03:09 made every reminder and escalation due at 03:09). What fires then is
    mailed at the next working hour (`mail.send_from`)."""
    result = ctx.calendar.add_workdays(anchor.astimezone(LOCAL_TZ).date(), n)
    return end_of_day(result.day).astimezone(anchor.tzinfo), result.note


def end_of_workday_after(ctx: Ctx, day: date, n: int) -> tuple[datetime, date, str]:
    """The end of the n-th working day after `day`."""
    result = ctx.calendar.add_workdays(day, n)
    return end_of_day(result.day), result.day, result.note


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # strftime's %a in the C locale


@lru_cache(maxsize=1024)  # each due date of a step is shown in its explanation; a few dates recur
def show(at: datetime) -> str:
    """A due instant as people read it: local date, weekday, time ("2027-01-05 Tue 09:00")."""
    local = at.astimezone(LOCAL_TZ)
    return f"{local.date().isoformat()} {_WEEKDAYS[local.weekday()]} {local.hour:02d}:{local.minute:02d}"


def n_days(n: int, kind: str = "") -> str:
    """A count of days as an explanation says it: "1 day", "3 days", "1 working day"."""
    return f"{n} {kind + ' ' if kind else ''}day{'' if n == 1 else 's'}"


def start_of(day: date) -> datetime:
    return local_midnight(day)


def days_before(day: date, n: int) -> date:
    return day - timedelta(days=n)


# -- people: the one set of role look-ups every machine uses -----------------------------------------------
def people(ctx: Ctx, role: str, office: str | None = None, exclude: str | None = None) -> list[Person]:
    """The holders of `role` (in `office` when given), less the person `exclude` (e.g. the case's subject)."""
    return [p for p in ctx.org.holders(role, office) if p.id != exclude]


def office_directors(ctx: Ctx) -> list[Person]:
    """The director(s) of the case's office."""
    return people(ctx, "director", ctx.require_case().office)


def supervising_leaders(ctx: Ctx) -> list[Person]:
    return people(ctx, "supervising_leader")


def clerks(ctx: Ctx) -> list[Person]:
    """The General Office's clerks."""
    return people(ctx, "clerk")


def office_members(ctx: Ctx) -> list[Person]:
    """Everyone working in the case's office (director, deputies, staff), in id order."""
    office = ctx.require_case().office
    return [p for p in sorted(ctx.org.people.values(), key=lambda p: p.id)
            if p.active and p.office == office and p.office is not None]


# -- an assessment with a score (R-5.3, and R-6.1 "same shape as report") --------------------------------
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,6}")


def score_given(ctx: Ctx) -> str | None:
    raw = ctx.params.get("score")
    if raw is None:
        return "give the assessment with --score N (0–100)"
    text = str(raw).strip()
    if not _WHOLE_NUMBER.fullmatch(text):  # not int(): it also takes "1_0" and full-width digits
        return f"--score: expected a whole number 0–100, got {str(raw)[:20]!r}"
    score = int(text)
    if not 0 <= score <= 100:
        return f"--score: expected 0–100, got {score}"
    return None


def record_score(ctx: Ctx) -> None:
    score = int(str(ctx.params["score"]))
    ctx.data["score"] = score
    ctx.details["score"] = score
