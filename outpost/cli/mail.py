"""`outpost mail …` and `outpost calendar export`.

Registered on the main typer app by `outpost/cli/__init__.py`. Everything heavy (jinja2, smtplib, icalendar,
rich) is imported inside the commands, so `outpost --help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from outpost.cli.common import app_of, print_json
from outpost.cli.i18n import _
from workflow.errors import BadInput, DeliveryError, NotFound

if TYPE_CHECKING:
    from outpost.app import App
    from workflow.model import Mail

mail_app = typer.Typer(no_args_is_help=True, help="The outbox: list, deliver, retry and preview mail.")


def register(app: typer.Typer, calendar_app: typer.Typer) -> None:
    app.add_typer(mail_app, name="mail")
    calendar_app.command("export")(calendar_export)


def _id(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadInput(f"unknown {what}: {text[:40]!r} (a {what} id is a number)") from None
    if value <= 0 or value > 2**62:
        raise BadInput(f"unknown {what}: {text[:40]}")
    return value


def _subject(application: App, mail: Mail) -> str | None:
    """The stored subject, or (for a row not yet delivered) what it will be."""
    if mail.subject:
        return mail.subject
    from notifications.render import TemplateProblem, render

    try:
        return render(mail, _org(application)).subject
    except TemplateProblem:
        return None


def _org(application: App) -> Any:
    cache = application.__dict__.setdefault("_cli_mail_org", [])
    if not cache:
        with application.store.transaction(write=False) as tx:
            cache.append(tx.org())
    return cache[0]


def _mail_json(application: App, mail: Mail) -> dict[str, Any]:
    from workflow.timeutil import local_iso
    from workflow.views import mail_json

    out = mail_json(mail)
    out["subject"] = _subject(application, mail)
    out["next_attempt_at"] = local_iso(mail.next_attempt_at) if mail.status == "queued" else None
    out["sent_at"] = local_iso(mail.sent_at)
    return out


# -- mail ----------------------------------------------------------------------------------------------
@mail_app.command("list")
def mail_list(
    ctx: typer.Context,
    failed: bool = typer.Option(False, "--failed", help="only mail that failed for good"),
    case: str | None = typer.Option(None, "--case", help="only the mail of this case"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List the outbox: every message with its status and attempts."""
    from notifications.delivery import outbox_for

    application = app_of(ctx)
    rows = outbox_for(application).mails(status="failed" if failed else None,
                                         case_id=_id(case, "case") if case is not None else None)
    data = [_mail_json(application, m) for m in rows]
    if as_json:
        print_json(data)
        return
    if not data:
        typer.echo(_("no failed mail") if failed else _("no mail"))
        return
    import sys

    def note(m: dict[str, Any]) -> str:
        if m["status"] in ("failed", "superseded"):
            return str(m["last_error"] or "")
        if m["status"] == "sent":
            return str(m["sent_at"])
        return _("next attempt {at}").format(at=m["next_attempt_at"])

    if not sys.stdout.isatty():  # piped: whole lines, never cut to a terminal's width
        for m in data:
            typer.echo("\t".join((str(m["id"]), _("case {case}").format(case=m["case"] or "-"), m["event"],
                                  ", ".join(m["to"]) or "-", m["status"],
                                  _("{n} attempt(s)").format(n=m["attempts"]), note(m), m["subject"] or "")))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for col in (_("id"), _("case"), _("event"), _("to"), _("subject"), _("status"), _("attempts"),
                _("when / error")):
        table.add_column(col)
    for m in data:
        table.add_row(*(Text(str(v)) for v in (m["id"], m["case"] or "", m["event"], ", ".join(m["to"]) or "—",
                                               m["subject"] or "", m["status"], m["attempts"], note(m))))
    Console(highlight=False, soft_wrap=True).print(table)


@mail_app.command("deliver")
def mail_deliver(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Run one delivery pass and exit (for cron; the daemon does this by itself)."""
    import logging

    from notifications.delivery import deliver_pass

    application = app_of(ctx)
    # this command reports what went wrong itself, in one line (the daemon logs it instead): the pass's
    # own warning would be a second line on stderr
    mail_log = logging.getLogger("outpost.mail")
    level = mail_log.level
    mail_log.setLevel(logging.ERROR)
    try:
        report = deliver_pass(application)
    finally:
        mail_log.setLevel(level)
    if as_json:
        print_json(report.as_json())
    else:
        line = (_("mail: {sent} sent to {dir}, {retried} to retry later, {failed} failed")
                if report.mode == "outbox_dir" else _("mail: {sent} sent, {retried} to retry later, {failed} failed"))
        typer.echo(line.format(sent=report.sent, dir=application.settings.outbox_dir, retried=report.retried,
                               failed=report.failed))
        for e in report.errors:
            if report.connection_error is None:
                typer.echo(f"  {e}")
    if report.connection_error:
        raise DeliveryError(f"mail server unusable ({report.connection_error}); "
                            f"{report.retried} message(s) stay queued and will be retried")


@mail_app.command("retry")
def mail_retry(ctx: typer.Context, mail: str = typer.Argument(..., help="mail id (see `mail list`)"),
               as_json: bool = typer.Option(False, "--json")) -> None:
    """Queue a failed message again, due now, with fresh attempts."""
    from notifications.delivery import outbox_for

    application = app_of(ctx)
    row = outbox_for(application).requeue(_id(mail, "mail"), application.clock.now())
    if as_json:
        print_json(_mail_json(application, row))
    else:
        typer.echo(_("mail {mail} queued again; the next delivery pass sends it").format(mail=row.id))


@mail_app.command("preview")
def mail_preview(
    ctx: typer.Context,
    case: str = typer.Argument(..., help="case id"),
    lang: str | None = typer.Option(None, "--lang", help="zh | en (default: the mail's language)"),
    html: bool = typer.Option(False, "--html", help="show the HTML part instead of the text"),
) -> None:
    """Show the next mail of a case as it would be sent: its newest queued one, or the one its next
    deadline will send (found by rehearsing that deadline; nothing is written)."""
    from notifications.delivery import preview

    if lang is not None and lang not in ("zh", "en"):
        raise BadInput(f"--lang: expected zh or en, got {lang[:20]!r}")
    case_id = _id(case, "case")
    found = preview(app_of(ctx), case_id, lang=lang)
    if found is None:
        typer.echo(_("no mail queued for case {case}, and none of its deadlines sends any").format(case=case_id))
        return
    m = found.mail
    if found.deadline is not None:
        from workflow.timeutil import local_iso

        d = found.deadline
        others = _("; also to {people}").format(people=", ".join(found.also_to)) if found.also_to else ""
        typer.echo(_("not queued yet: deadline {deadline} ({kind}, due {due}, {rule}) will send {event}").format(
            deadline=d.id, kind=d.kind, due=local_iso(d.due_at), rule=d.rule_id, event=m.event) + others)
    else:
        typer.echo(_("mail {mail} · {event} · {status} · attempt {attempts}").format(
            mail=m.id, event=m.event, status=m.status, attempts=m.attempts))
    out = found.outgoing
    if out is None:
        typer.echo(_("cannot be sent as it is: {problem}").format(problem=found.problem))
        return
    msg = out.message
    for header in ("From", "To", "Subject", "Date", "Message-ID"):
        typer.echo(f"{header}: {msg[header]}")
    attachments = [f"{p.get_filename()} ({p.get_content_type()})" for p in msg.iter_attachments()]
    if attachments:
        typer.echo(_("Attachments: ") + ", ".join(attachments))
    typer.echo("")
    typer.echo(out.rendered.html if html else out.rendered.text, nl=False)


# -- calendar export -----------------------------------------------------------------------------------
def calendar_export(
    ctx: typer.Context,
    office: str | None = typer.Option(None, "--office", help="only this office's cases"),
    person: str | None = typer.Option(None, "--person", help="only cases this person is part of or may act on"),
) -> None:
    """iCalendar of everything due on open cases (one entry per thing due, as its mails show it), on stdout."""
    from notifications.agenda import things_due
    from notifications.ics import deadlines_calendar
    from notifications.message import sender_address
    from workflow.ports import CaseFilter

    application = app_of(ctx)
    org = _org(application)
    if office is not None and office not in org.offices:
        raise NotFound("office", office)
    if person is not None and org.person(person) is None:
        raise NotFound("person", person)
    cases = [c for c in application.store.list_cases(CaseFilter(office=office))
             if person is None or _concerns(application, c, person)]
    try:
        organizer = sender_address(application.settings.smtp.sender).addr_spec
    except DeliveryError as exc:
        raise BadInput(f"smtp.from: {exc}") from None
    items = things_due(application, cases, person)
    typer.echo(deadlines_calendar(items, stamp=application.clock.now(), organizer=organizer).decode("utf-8"),
               nl=False)


def _concerns(application: App, case: Any, person: str) -> bool:
    if person in (case.subject, case.opened_by):
        return True
    return any(t.allowed for t in application.service.triggers(case.id, person))
