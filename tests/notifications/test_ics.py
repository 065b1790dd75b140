"""The `.ics` of every deadline mail, read back with icalendar and checked by libical 3 (RFC 5545, and
RFC 5546 iTIP for METHOD:PUBLISH); a deadline is a day (R-0.4) or an instant, never a zero-length event."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from icalendar import Calendar

from notifications.message import build_message
from notifications.render import render
from tests.conftest import local
from tests.notifications.libical import libical_errors
from tests.notifications.test_message import parse
from tests.notifications.test_render import EXTRAS, ORG, PERIODS, synthetic
from workflow import registry
from workflow.timeutil import end_of_day, local_midnight

SENDER = "Outpost 督办 <outpost@gov.example.org>"
ORGANIZER = "mailto:outpost@gov.example.org"

# The three shapes a due instant takes: the last instant of 15 July, 00:00 on 16 July (the same deadline,
# ), and a time of day (the end of a working day).
DUE_DAY = date(2027, 7, 15)
DUES = {"end_of_day": end_of_day(DUE_DAY), "next_midnight": local_midnight(DUE_DAY + timedelta(days=1)),
        "at_a_time": local(2027, 7, 15, 17, 30).astimezone(UTC)}


def attachment(event: str, lang: str, due_at: datetime) -> bytes:
    mail = synthetic(event, lang, period=PERIODS.get(event.split(".")[0]), actions=["submit"], **EXTRAS,
                     due_at=due_at.isoformat())
    out = build_message(mail, render(mail, ORG), sender=SENDER, to_name="王建国", to_email="wang@bj.example.org")
    [part] = list(parse(out.data).iter_attachments())
    assert part.get_content_type() == "text/calendar" and part.get_param("method") == "PUBLISH"
    data = part.get_content()
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def check_event(ev: Any, due: str) -> None:
    """A day event on 15 July (DTEND the next day) or an instant without DTEND; never DTEND <= DTSTART."""
    start = ev.decoded("dtstart")
    if due == "at_a_time":
        assert start == DUES[due] and "dtend" not in ev and "duration" not in ev
    else:
        assert start == DUE_DAY and not isinstance(start, datetime)
        assert ev.decoded("dtend") == DUE_DAY + timedelta(days=1)


def every_event() -> list[str]:
    return [e for p in registry.names() for e in registry.latest(p).all_events]


def test_every_mail_calendar_passes_libicals_itip_check_and_reads_back_with_icalendar() -> None:
    """Every mail event of every process, in zh and en, with each shape of due instant: the .ics reads
    back with icalendar (one VEVENT, ORGANIZER the configured sender, a proper day or instant) and libical 3
    finds no error, its RFC 5546 restrictions for METHOD:PUBLISH included."""
    made: list[tuple[str, bytes]] = []
    for event in every_event():
        for lang in ("zh", "en"):
            for due, at in DUES.items():
                data = attachment(event, lang, at)
                cal = Calendar.from_ical(data)
                assert str(cal["method"]) == "PUBLISH"
                [ev] = list(cal.walk("VEVENT"))
                assert str(ev["organizer"]) == ORGANIZER
                assert ev.decoded("dtstamp") == datetime(2027, 1, 4, 1, 0, tzinfo=UTC)  # the event's time
                check_event(ev, due)
                made.append((f"{event} {lang} {due}", data))
    assert len(made) == 6 * len(every_event()) > 300
    errors = libical_errors([data for _, data in made])
    assert [(name, e) for (name, _), e in zip(made, errors, strict=True) if e] == []


@pytest.mark.parametrize("due", list(DUES))
def test_R0_4_a_deadline_by_the_end_of_a_day_is_that_whole_day(due: str) -> None:
    """'By 15 July' stored as 15 July 23:59:59.999999 or as 16 July 00:00 (local) is an all-day event on
    15 July, DTEND 16 July (RFC 5545 3.8.2.2: DTEND after DTSTART); a deadline at 17:30 is that instant,
    without DTEND."""
    [ev] = list(Calendar.from_ical(attachment("report.reminder", "zh", DUES[due])).walk("VEVENT"))
    check_event(ev, due)


def test_a_deadline_and_its_reminders_are_one_calendar_entry() -> None:
    """Every mail about the same deadline carries the same UID (importing them updates one entry), and
    'by the end of 15 July' has one UID whichever way the instant was written."""
    uids = {str(Calendar.from_ical(attachment(e, lang, DUES[due])).walk("VEVENT")[0]["uid"])
            for e in ("fin_statement.opened", "fin_statement.reminder", "fin_statement.overdue")
            for lang in ("zh", "en") for due in ("end_of_day", "next_midnight")}
    assert len(uids) == 1
