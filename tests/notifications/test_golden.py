"""Golden files: the text part of a few mails per process, zh and en, as the engine queues them (issue 17).

Each file `golden/<process>.<event>.<lang>.txt` is what one recipient reads: subject, then the text part.
A change to a template or to what a machine passes shows up as a readable diff of these files. To write
them anew after an intended change: `OUTPOST_REGOLD=1 pytest tests/notifications/test_golden.py`, then read
the diff before committing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from notifications.delivery import ActionFilter, prepare
from outpost.app import App
from tests.conftest import local, set_time
from workflow.model import Mail

GOLDEN = Path(__file__).parent / "golden"
REGOLD = os.environ.get("OUTPOST_REGOLD") == "1"
SENDER = "Outpost 公文系统 <outpost@gov.example.org>"

# (process, event, recipient): the mails kept as golden files
WANTED = [
    ("leave", "leave.requested", "liu"),  # a director's extension, 8 days in total, to the supervising leader
    ("leave", "leave.reminder", "wang"),
    ("leave", "leave.approved", "zhao"),
    ("matter", "matter.request_submitted", "liu"),
    ("matter", "matter.reminder", "liu"),
    ("report", "report.opened", "wang"),  # the annual report: `submit --plan TEXT`
    ("report", "report.reminder", "wang"),
    ("report", "report.overdue", "wang"),
    ("fin_statement", "fin_statement.opened", "wang"),
    ("fin_statement", "fin_statement.submitted", "sun"),
    ("annual_audit", "annual_audit.scheduled", "zhou"),
    ("departure_audit", "departure_audit.notice_issued", "wang"),
    ("off_site", "off_site.recorded", "wang"),
]


def _at(app: App, when: datetime) -> None:
    set_time(app, when)
    app.ticker.tick(when)


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, str, str], str]]:
    """A year of the Beijing office in a fixed order (case ids and dates are part of the texts). Each wanted
    mail is rendered when it is queued, as it is delivered: with the commands its recipient may use then."""
    from tests.conftest import ORG_FILE
    from workflow.clock import FixedClock
    from workflow.settings import load_settings

    folder = tmp_path_factory.mktemp("golden")
    settings = load_settings({"database_url": f"sqlite:///{folder / 'outpost.db'}", "outbox_dir": folder / "out",
                              "smtp_from": SENDER}, env={}, cwd=folder)
    app = App(settings, clock=FixedClock(local(2027, 3, 1, 15, 9)))
    app.init()
    app.load_org(ORG_FILE)
    found: dict[tuple[str, str, str], str] = {}

    def snap() -> None:
        for m in app.store.mails():
            key = (m.event, m.recipients[0]["person"])
            if key in {(e, p) for _proc, e, p in WANTED} and (*key, "zh") not in found:
                for lang in ("zh", "en"):
                    found[(*key, lang)] = _text(app, m, lang)

    s = app.service
    # a director's 5-day leave (recorded, R-2.2) extended by 3 days: 8 in total, the supervising leader decides
    base = s.open("leave", "wang", {"start": "2027-03-08", "end": "2027-03-12", "reason": "机密"}).id
    s.open("leave", "wang", {"start": "2027-03-13", "end": "2027-03-15", "extends": str(base)})
    staff = s.open("leave", "zhao", {"start": "2027-04-06", "end": "2027-04-09"}).id
    s.open("matter", "wang", {"category": "asset_purchase", "kind": "request", "title": "购置办公楼-机密",
                              "event_date": "2027-04-20", "amount": "5000000"})
    s.open("off_site", "sun", {"subject": "zhao", "start": "2027-03-22", "end": "2027-03-24", "reason": "出差"})
    snap()
    _at(app, local(2027, 3, 5, 0, 0))  # reminders: leave (end of Tue), matter (end of Thu)
    snap()
    set_time(app, local(2027, 3, 5, 10, 30))
    s.advance(staff, "approve", "wang")
    s.open("departure_audit", "wu", {"subject": "li"})
    audit = next(m.case_id for m in app.store.mails() if m.event == "departure_audit.opened")
    assert audit is not None
    s.advance(audit, "issue_notice", "zhou")
    s.open("report", None, {"office": "BJ", "period": "2027-Y"})
    statement = s.open("fin_statement", None, {"office": "BJ", "period": "2027-Q1"}).id
    s.open("annual_audit", None, {"office": "BJ", "period": "2027-Y"})
    snap()
    set_time(app, local(2027, 4, 19, 11, 0))
    s.advance(statement, "submit", "wang")  # four days late (due 15 April)
    snap()
    _at(app, local(2027, 12, 18, 12, 0))  # the annual report's reminders (and the year's other cases)
    snap()
    _at(app, local(2027, 12, 27, 10, 0))  # overdue
    snap()
    yield found
    app.close()


def _text(app: App, mail: Mail, lang: str) -> str:
    with app.store.transaction(write=False) as tx:
        org = tx.org()
    rendered = prepare(mail, org, app.settings, ActionFilter(app), lang=lang).rendered
    return f"Subject: {rendered.subject}\n\n{rendered.text}"


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(("process", "event", "person"), WANTED)
def test_golden_mail(texts: dict[tuple[str, str, str], str], process: str, event: str, person: str,
                     lang: str) -> None:
    """The text a recipient reads is the golden file's, word for word (OUTPOST_REGOLD=1 writes it)."""
    text = texts.get((event, person, lang))
    assert text is not None, f"the scenario queued no {event} for {person}"
    path = GOLDEN / f"{event}.{lang}.txt"
    if REGOLD:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with OUTPOST_REGOLD=1 and read the diff"
    assert text == path.read_text(encoding="utf-8")


def test_every_golden_file_is_checked() -> None:
    """No stale golden file: each one is a (process, event) of WANTED in a language."""
    expected = {f"{event}.{lang}.txt" for _p, event, _who in WANTED for lang in ("zh", "en")}
    assert {p.name for p in GOLDEN.glob("*.txt")} <= expected


