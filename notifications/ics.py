"""iCalendar: the `.ics` part of a reminder or deadline mail, and `outpost calendar export`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from workflow.timeutil import LOCAL_TZ

PRODID = "-//Outpost//outpost workflow engine//EN"


@dataclass(frozen=True)
class DueItem:
    """One open deadline, as a calendar shows it."""

    uid: str
    due_at: datetime
    summary: str
    description: str
    stamp: datetime  # when the deadline was set: stable, so an export twice is byte-identical
    categories: tuple[str, ...] = ()


def _calendar(method: str | None = None) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    return cal


def due_uid(case: int | None, due_at: datetime, domain: str) -> str:
    """One calendar entry per (case, due instant): every reminder of the same deadline updates it
    instead of adding another, and a resend of the same mail carries the same UID."""
    key = f"case{case}:{due_at.astimezone(UTC).isoformat()}"
    return f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}"


def mail_calendar(*, uid: str, due_at: datetime, summary: str, description: str, stamp: datetime,
                  sequence: int = 0) -> bytes:
    """A one-event calendar: an all-day event on the local (Asia/Shanghai) due date."""
    day = due_at.astimezone(LOCAL_TZ).date()
    ev = Event()
    ev.add("uid", uid)
    ev.add("dtstamp", stamp.astimezone(UTC))
    ev.add("dtstart", day)
    ev.add("dtend", day + timedelta(days=1))
    ev.add("summary", summary)
    ev.add("description", description)
    ev.add("transp", "TRANSPARENT")
    ev.add("sequence", sequence)
    cal = _calendar("PUBLISH")
    cal.add_component(ev)
    return bytes(cal.to_ical())


def deadlines_calendar(items: Iterable[DueItem], name: str = "Outpost") -> bytes:
    """Every open deadline as a timed event at its due instant (UTC)."""
    cal = _calendar("PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", "Asia/Shanghai")
    for item in items:
        ev = Event()
        ev.add("uid", item.uid)
        ev.add("dtstamp", item.stamp.astimezone(UTC))
        ev.add("dtstart", item.due_at.astimezone(UTC))
        ev.add("dtend", item.due_at.astimezone(UTC))
        ev.add("summary", item.summary)
        ev.add("description", item.description)
        if item.categories:
            ev.add("categories", list(item.categories))
        cal.add_component(ev)
    return bytes(cal.to_ical())
