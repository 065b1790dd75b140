"""What people plan by: the things due on open cases, for `outpost calendar export`.

A thing due is what a deadline mail says is due: the case and the `due_at` its `.ics` is made from. The
daemon's own deadlines (reminders, escalations, "start") are not things due; they are when the mails
about one go out. So the export shows, for each open case, every thing due that a mail has announced
since the case entered its current state, or that a pending deadline's mail will announce (found by
rehearsing the deadline, nothing written) — each once, with the UID, title and text of that mail's
`.ics`, in the configured language. Importing the export and the mails updates one entry per thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from notifications.delivery import ActionFilter, addressed_now, load_org, outbox_for
from notifications.ics import DueItem, due_uid
from notifications.message import calendar_texts, mail_domain
from notifications.render import render
from workflow import registry
from workflow.model import Case, Mail

if TYPE_CHECKING:
    from notifications.delivery import Parts as App


def _recipient(mail: Mail) -> str | None:
    return str(mail.recipients[0].get("person")) if mail.recipients else None


def announced(app: App, case: Case) -> list[Mail]:
    """Mail about a thing due on `case` in its current state: what was queued since it entered that
    state (newest first), then what its pending deadlines will queue (in due order)."""
    with app.store.transaction(write=False) as tx:
        entries = tx.history(case.id)
    entered = max((h.at for h in entries if h.to_state == case.state and h.from_state != h.to_state),
                  default=None)
    queued = [m for m in outbox_for(app).mails(case_id=case.id)
              if m.params.get("state") == case.state and (entered is None or m.created_at >= entered)]
    queued.sort(key=lambda m: (m.created_at, m.id or 0), reverse=True)
    coming = [m for _, rows in app.service.rehearsals(case.id) for m in rows
              if m.params.get("state") == case.state]  # a step the deadline fires is not due yet
    return [m for m in (*queued, *coming) if m.params.get("due_at")]


def things_due(app: App, cases: Iterable[Case], person: str | None = None) -> list[DueItem]:
    """One calendar entry per thing due on the open `cases`, as the mail about it shows it (the one
    to `person` when there is one), in the configured language; sorted by due time."""
    org = load_org(app)
    actions = ActionFilter(app)
    domain = mail_domain(app.settings.smtp.sender)
    items: list[DueItem] = []
    for case in cases:
        if case.id is None or case.state in registry.get(case.process, case.definition_version).final_states:
            continue
        about: dict[str, list[Mail]] = {}
        for mail in announced(app, case):
            about.setdefault(str(mail.params["due_at"]), []).append(mail)
        for due, mails in about.items():
            mail = addressed_now(next((m for m in mails if _recipient(m) == person), mails[0]), org)
            rendered = render(mail, org, lang=app.settings.language, allowed=actions(mail))
            summary, description = calendar_texts(rendered)
            due_at = datetime.fromisoformat(due)
            items.append(DueItem(uid=due_uid(case.id, due_at, domain), due_at=due_at, summary=summary,
                                 description=description, categories=(case.process,)))
    unique = {i.uid: i for i in sorted(items, key=lambda i: (i.due_at, i.uid), reverse=True)}
    return sorted(unique.values(), key=lambda i: (i.due_at, i.uid))
