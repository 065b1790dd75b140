"""Business dates and instants (R-0.3, R-0.4).

Business dates are `date`s in Asia/Shanghai; instants are stored in UTC and shown in local time.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from workflow.errors import BadInput

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
MIN_YEAR, MAX_YEAR = 1970, 2199  # business dates; keeps date arithmetic far from datetime's limits
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(text: str, what: str = "date") -> date:
    """A strict `YYYY-MM-DD` date; anything else is bad input naming the option."""
    if not isinstance(text, str) or not _DATE_RE.fullmatch(text):
        raise BadInput(f"{what}: expected YYYY-MM-DD, got {_shorten(text)!r}")
    try:
        value = date.fromisoformat(text)
    except ValueError as exc:
        raise BadInput(f"{what}: impossible date {text!r} ({exc})") from None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise BadInput(f"{what}: {text} is outside the years Outpost handles ({MIN_YEAR}–{MAX_YEAR})")
    return value


def parse_instant(text: str, what: str = "--at") -> datetime:
    """ISO 8601 with or without an offset; no offset means Asia/Shanghai (PRODUCT.md)."""
    if not isinstance(text, str) or len(text) > 64:
        raise BadInput(f"{what}: expected an ISO 8601 date-time, got {_shorten(str(text))!r}")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{what}: expected an ISO 8601 date-time, got {_shorten(text)!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL_TZ)
    if not MIN_YEAR <= value.year <= MAX_YEAR or not MIN_YEAR <= value.astimezone(LOCAL_TZ).year <= MAX_YEAR:
        raise BadInput(f"{what}: {text} is outside the years Outpost handles ({MIN_YEAR}–{MAX_YEAR})")
    return value.astimezone(UTC)


def local_date(at: datetime) -> date:
    """The Asia/Shanghai calendar date of an instant."""
    return at.astimezone(LOCAL_TZ).date()


@lru_cache(maxsize=4096)  # a step's due dates fall on few days: made once each (an instant never changes)
def local_midnight(day: date) -> datetime:
    """00:00 local on `day`, as a UTC instant."""
    return datetime.combine(day, time(0, 0), tzinfo=LOCAL_TZ).astimezone(UTC)


@lru_cache(maxsize=4096)
def end_of_day(day: date) -> datetime:
    """The last instant of a local day: "on or before 25 June" ends at 23:59:59.999999 +08:00 (R-0.3)."""
    return local_midnight(day + timedelta(days=1)) - timedelta(microseconds=1)


def local_iso(at: datetime | None) -> str | None:
    """An instant shown in local time, ISO 8601 with its offset."""
    if at is None:
        return None
    return at.astimezone(LOCAL_TZ).isoformat()


def days_inclusive(start: date, end: date) -> int:
    """Calendar days from start to end, both included (R-0.5)."""
    return (end - start).days + 1


def days_in_year(year: int) -> int:
    return (date(year + 1, 1, 1) - date(year, 1, 1)).days


def overlap_days(start: date, end: date, year: int) -> int:
    """How many days of [start, end] fall in calendar year `year`."""
    lo = max(start, date(year, 1, 1))
    hi = min(end, date(year, 12, 31))
    return max(0, (hi - lo).days + 1)


WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _shorten(text: object, limit: int = 40) -> str:
    s = str(text)
    return s if len(s) <= limit else s[:limit] + "…"
