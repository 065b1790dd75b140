"""Working days in the PRC (R-0.6): official notices loaded as data, then chinese-calendar, then Mon–Fri.

One interface for every source. A year that neither a loaded notice nor the library covers falls back
to Monday–Friday; that is never silent: `fallback_years` lists it and each result says so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

log = logging.getLogger("outpost.calendar")

FALLBACK_MARK = "[Mon–Fri fallback: no holiday notice for "  # in the `why` of every deadline computed so
_FALLBACK_NOTE = re.compile(r"\[Mon–Fri fallback: no holiday notice for ([0-9, ]+) \(R-0\.6\)\]")


def fallback_years(why: str) -> set[int]:
    """The years a deadline's explanation says were computed Monday–Friday (its note, `WorkdayResult.note`)."""
    return {int(y) for m in _FALLBACK_NOTE.finditer(why) for y in m.group(1).split(",") if y.strip()}


@dataclass(frozen=True)
class WorkdayResult:
    day: date
    fallback_years: tuple[int, ...]  # years computed Monday–Friday for want of data

    @property
    def note(self) -> str:
        if not self.fallback_years:
            return ""
        years = ", ".join(str(y) for y in self.fallback_years)
        return f" {FALLBACK_MARK}{years} (R-0.6)]"


class WorkCalendar:
    """Answers "is this a working day?" from the best source that knows the year."""

    def __init__(self, notices: Mapping[date, tuple[bool, str]] | None = None) -> None:
        self._notices = dict(notices or {})
        self._notice_years = {d.year for d in self._notices}
        self._library_years: dict[int, bool] = {}
        self._added: dict[tuple[date, int], WorkdayResult] = {}  # the calendar never changes: answers keep
        self.warned_years: set[int] = set()

    def source(self, year: int) -> str:
        """`notice` (loaded by an administrator), `library` (chinese-calendar) or `fallback`."""
        if year in self._notice_years:
            return "notice"
        if self._library_knows(year):
            return "library"
        return "fallback"

    def _library_knows(self, year: int) -> bool:
        known = self._library_years.get(year)
        if known is None:
            import chinese_calendar

            try:
                chinese_calendar.is_workday(date(year, 6, 1))
                known = True
            except NotImplementedError:
                known = False
            self._library_years[year] = known
        return known

    def is_workday(self, day: date) -> bool:
        if day.year in self._notice_years:
            entry = self._notices.get(day)
            if entry is not None:
                return entry[0]
            return day.weekday() < 5
        if self._library_knows(day.year):
            import chinese_calendar

            return bool(chinese_calendar.is_workday(day))
        if day.year not in self.warned_years:
            self.warned_years.add(day.year)
            log.warning("no holiday data for %s: working days computed Monday–Friday (R-0.6)", day.year)
        return day.weekday() < 5

    def holiday_name(self, day: date) -> str | None:
        entry = self._notices.get(day)
        if entry is not None:
            return entry[1] or None
        if self._library_knows(day.year):
            import chinese_calendar

            on_holiday, name = chinese_calendar.get_holiday_detail(day)
            return str(name) if on_holiday and name else None
        return None

    def add_workdays(self, start: date, n: int) -> WorkdayResult:
        """The n-th working day after `start` (start itself not counted); n = 0 gives `start`."""
        found = self._added.get((start, n))
        if found is None:
            if len(self._added) >= 4096:  # a long-running daemon walks through the years: stay small
                self._added.clear()
            found = self._added[(start, n)] = self._add_workdays(start, n)
        return found

    def _add_workdays(self, start: date, n: int) -> WorkdayResult:
        day = start
        fallback: set[int] = set()
        counted = 0
        while counted < n:
            day += timedelta(days=1)
            if self.source(day.year) == "fallback":
                fallback.add(day.year)
            if self.is_workday(day):
                counted += 1
        if self.source(start.year) == "fallback" and n > 0:
            fallback.add(start.year)
        return WorkdayResult(day, tuple(sorted(fallback)))

    def workdays_between(self, start: date, end: date) -> int:
        """Working days d with start < d <= end."""
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            if self.is_workday(day):
                count += 1
        return count

    def working_hour(self, at: datetime, start: time, end: time, tz: tzinfo) -> datetime:
        """`at` if it falls in the working hours [start, end) of a working day (local to `tz`), else the
        next `start` of a working day: when a reminder or notice goes out (policy `mail.send_from`,
        `mail.send_until`; docs/mail.md)."""
        local = at.astimezone(tz)
        if self.is_workday(local.date()):
            if start <= local.time() < end:
                return at
            if local.time() < start:
                return datetime.combine(local.date(), start, tzinfo=tz).astimezone(at.tzinfo)
        day = self.add_workdays(local.date(), 1).day
        return datetime.combine(day, start, tzinfo=tz).astimezone(at.tzinfo)
