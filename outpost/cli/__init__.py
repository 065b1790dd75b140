"""The `outpost` command line. Heavy imports happen inside commands so that `--help` stays fast."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from outpost.cli.common import RootOptions, app_of, console, parse_case_id, print_json
from outpost.cli.generated import (
    AdvanceOptionsCommand,
    ProcessGroup,
    ProcessOptionsCommand,
    open_options,
    parse_options,
    trigger_options,
)
from outpost.cli.i18n import _, translate_message
from workflow.errors import BadInput, WorkflowError

app = typer.Typer(cls=ProcessGroup, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="Outpost: approvals, deadlines and escalations for the "
                  "General Office and its stationed offices.")
org_app = typer.Typer(no_args_is_help=True, help="The organisation: offices, people, roles.")
case_app = typer.Typer(no_args_is_help=True, help="Open, inspect and advance cases.")
audit_app = typer.Typer(no_args_is_help=True, help="Integrity of the history.")
app.add_typer(org_app, name="org")
app.add_typer(case_app, name="case")
calendar_app = typer.Typer(no_args_is_help=True, help="Working-day calendar and deadline calendars.")
app.add_typer(audit_app, name="audit")
app.add_typer(calendar_app, name="calendar")
# Mail commands (`mail list|deliver|retry|preview`) and `calendar export` live in outpost/cli/mail.py;
# `report compliance` in outpost/cli/compliance.py; the processes' own commands come from the registry
# (outpost/cli/generated.py).
from outpost.cli import compliance as cli_compliance  # noqa: E402
from outpost.cli import mail as cli_mail  # noqa: E402 - they register on the apps defined above

cli_mail.register(app, calendar_app)
cli_compliance.register(app)
from outpost.cli import delegate as cli_delegate  # noqa: E402 - `delegate add|list|end` (issue 15.4)

cli_delegate.register(app)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, "--config", help="outpost.toml to read (default: ./outpost.toml)"),
    database_url: str | None = typer.Option(None, "--database-url", help="overrides OUTPOST_DATABASE_URL"),
) -> None:
    ctx.obj = RootOptions(config, database_url)


# -- init ----------------------------------------------------------------------------------------------
@app.command()
def init(ctx: typer.Context) -> None:
    """Create or upgrade the database (idempotent)."""
    from store import redact_url

    before, after = app_of(ctx).init()
    shown = redact_url(app_of(ctx).settings.database_url)
    if before == after:
        typer.echo(_("database at schema {after}, nothing to do ({url})").format(after=after, url=shown))
    elif before is None:
        typer.echo(_("database created at schema {after} ({url})").format(after=after, url=shown))
    else:
        typer.echo(_("database upgraded from {before} at schema {after} ({url})").format(before=before, after=after,
                                                                                         url=shown))
    typer.echo(_("tracking from {day}: periods that ended before are not opened, and those that began before get "
                 "no verdict (tracking_from in outpost.toml changes it)").format(day=app_of(ctx).tracking_from))


# -- org -----------------------------------------------------------------------------------------------
@org_app.command("load")
def org_load(ctx: typer.Context, file: Path = typer.Argument(..., help="organisation TOML file"),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Load the organisation file, validated as a whole; loading it twice changes nothing."""
    result = app_of(ctx).load_org(file)
    if as_json:
        print_json(result)
        return
    if not result["changed"]:
        typer.echo(_("organisation unchanged"))
        return
    labels = {"offices_added": _("offices added"), "offices_changed": _("offices changed"),
              "people_added": _("people added"), "people_changed": _("people changed"),
              "people_removed": _("people removed"), "cadre_changes": _("cadre changes"),
              "departure_audits_opened": _("departure audits opened")}
    parts = [_("{what}: {ids}").format(what=labels.get(k, k.replace("_", " ")), ids=", ".join(map(str, v)))
             for k, v in result.items() if isinstance(v, list) and v]
    typer.echo(_("organisation loaded; ") + _("; ").join(parts))


@org_app.command("show")
def org_show(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show offices and people."""
    from workflow.views import org_json

    application = app_of(ctx)
    with application.store.transaction(write=False) as tx:
        data = org_json(tx.org())
    if as_json:
        print_json(data)
        return
    from rich.table import Table

    table = Table(title=_("Offices"))
    for col in (_("code"), _("name"), _("city"), _("covers")):
        table.add_column(col)
    for o in data["offices"]:
        table.add_row(o["code"], o["name"], o["city"], ", ".join(o["covers"]))
    people = Table(title=_("People"))
    for col in (_("id"), _("name"), _("office"), _("roles"), _("email")):
        people.add_column(col)
    for p in data["people"]:
        if p["active"]:
            people.add_row(p["id"], p["name"], p["office"] or _("(General Office)"), ", ".join(p["roles"]),
                           p["email"] or "—")
    out = console()
    out.print(table)
    out.print(people)


# -- case ----------------------------------------------------------------------------------------------
@case_app.command("open", cls=ProcessOptionsCommand,
                  context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def case_open(
    ctx: typer.Context,
    process: str = typer.Argument(..., help="the process (its options are listed below)"),
    as_: str = typer.Option(..., "--as", help="the person acting"),
    comment: str | None = typer.Option(None, "--comment"),
    override: str | None = typer.Option(None, "--override", help="reason for passing an overridable rule"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Open a case; the process's own options follow (`outpost case open --help` lists them)."""
    from workflow import registry

    definition = registry.latest(process)  # an unknown process is bad input (exit 2)
    catalogue = open_options(definition)
    params = parse_options(ctx.args, catalogue, f"case open {process}")
    application = app_of(ctx)
    case = application.service.open(process, as_, params, comment=comment, override=override)
    view = application.case_view(case.id)
    if as_json:
        print_json(view)
    else:
        typer.echo(_("case {case} opened: {process} {state}").format(case=case.id, process=case.process,
                                                                     state=case.state))


@case_app.command("list")
def case_list(
    ctx: typer.Context,
    process: str | None = typer.Option(None, "--process"),
    office: str | None = typer.Option(None, "--office"),
    state: str | None = typer.Option(None, "--state"),
    overdue: bool = typer.Option(False, "--overdue", help="only cases past a due date"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List cases."""
    from workflow import registry
    from workflow.ports import CaseFilter
    from workflow.timeutil import local_date
    from workflow.views import case_json

    application = app_of(ctx)
    if process is not None:
        definition = registry.latest(process)  # an unknown process is bad input (exit 2)
        if state is not None and state not in definition.states:
            raise BadInput(f"--state: {process} has no state {state[:40]!r} ({', '.join(definition.states)})")
    elif state is not None and not any(state in registry.latest(n).states for n in registry.names()):
        raise BadInput(f"--state: no process has a state {state[:40]!r}")
    if office is not None:
        with application.store.transaction(write=False) as tx:
            if office not in tx.org().offices:
                raise BadInput(f"--office: unknown office {office[:40]!r}")
    flt = CaseFilter(process=process, office=office, state=state,
                     overdue_at=application.clock.now() if overdue else None)
    cases = application.store.list_cases(flt)
    if as_json:
        print_json([case_json(c) for c in cases])
        return
    from rich.table import Table

    table = Table()
    for col in (_("id"), _("process"), _("office"), _("subject"), _("period"), _("state"), _("opened")):
        table.add_column(col)
    for c in cases:
        table.add_row(str(c.id), c.process, c.office or "", c.subject or "", c.period or "", c.state,
                      local_date(c.opened_at).isoformat())  # the day in Asia/Shanghai
    console().print(table)


@case_app.command("show")
def case_show(ctx: typer.Context, case: str = typer.Argument(...),
              as_json: bool = typer.Option(False, "--json")) -> None:
    """State, people, deadlines (each with why it is due then), full history."""
    view = app_of(ctx).case_view(parse_case_id(case))
    if as_json:
        print_json(view)
        return
    from outpost.cli.show import case_lines

    # plain lines (no rich): `case show` is run often and from scripts; it should start fast
    typer.echo("\n".join(case_lines(view, app_of(ctx).case_items(view["id"]))))


@case_app.command("triggers")
def case_triggers(ctx: typer.Context, case: str = typer.Argument(...),
                  as_: str | None = typer.Option(None, "--as", help="the person; without it, who may act now"),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """What this person may do now (rules included); without --as, everyone who may act now (the same)."""
    if as_ is None:
        people = app_of(ctx).service.may_act(parse_case_id(case))
        if as_json:
            print_json(people)
            return
        for m in people:
            typer.echo(f"{m['person']} {m['name']}: {', '.join(m['triggers'])}")
        if not people:
            typer.echo(_("nobody: no person's trigger is possible in this state"))
        return
    infos = app_of(ctx).service.triggers(parse_case_id(case), as_)
    if as_json:
        print_json([i.as_json() for i in infos])
        return
    for i in infos:
        from outpost.cli.i18n import translate_message

        answer = _("yes") if i.allowed else _("no")
        typer.echo(f"{answer:3} {i.trigger}"
                   + (f"  ({translate_message(i.reason)})" if i.reason else ""))


@case_app.command("advance", cls=AdvanceOptionsCommand,
                  context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def case_advance(
    ctx: typer.Context,
    case: str = typer.Argument(...),
    trigger: str = typer.Argument(...),
    as_: str = typer.Option(..., "--as"),
    comment: str | None = typer.Option(None, "--comment"),
    override: str | None = typer.Option(None, "--override", help="reason for passing an overridable rule"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fire a trigger on a case; the trigger's own options follow (`--help` lists them by process)."""
    application = app_of(ctx)
    case_id = parse_case_id(case)
    process = application.case_process(case_id)
    catalogue = trigger_options(process)
    options = parse_options(ctx.args, catalogue, f"case advance {trigger}")
    result = application.service.advance(case_id, trigger, as_, comment=comment, override=override,
                                         options=options)
    if as_json:
        print_json(application.case_view(result.id))
    else:
        typer.echo(_("case {case}: {trigger} → {state}").format(case=result.id, trigger=trigger, state=result.state))


# -- audit ---------------------------------------------------------------------------------------------
@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json"),
    seal_file: Path | None = typer.Option(None, "--seal", help="also prove every row of this seal is still there"),
) -> None:
    """Check the integrity of every case's hash-chained history (and, with --seal, that it only grew)."""
    seal = None
    if seal_file is not None:
        from workflow.audit import parse_seal
        from workflow.files import read_text_file

        seal = parse_seal(read_text_file(seal_file, "seal", max_bytes=200_000_000), str(seal_file))
    result = app_of(ctx).verify(seal)
    if as_json:
        print_json({"ok": result.ok, "cases": result.cases, "rows": result.rows, "problem": result.problem,
                     "seal": None if seal is None else {"at": seal["at"], "rows": seal["rows"],
                                                        "digest": seal["digest"]}})
    if not result.ok:
        if not as_json:
            typer.echo("outpost: " + _("audit FAILED: {problem}").format(problem=result.problem), err=True)
        from workflow.errors import IntegrityError

        raise typer.Exit(IntegrityError.exit_code)  # 5: verification failed
    if not as_json:
        since = ("" if seal is None else _("; all {rows} rows of the seal of {at} are intact").format(
            rows=seal["rows"], at=seal["at"]))
        typer.echo(_("audit ok: {rows} history rows in {cases} cases chain correctly").format(
            rows=result.rows, cases=result.cases) + since)


@audit_app.command("seal")
def audit_seal(
    ctx: typer.Context,
    output: Path | None = typer.Option(None, "--output", "-o", help="write the seal here (default: stdout)"),
) -> None:
    """Write the head of every history chain, to keep outside the database (see `audit verify --seal`)."""
    from workflow.audit import make_seal

    application = app_of(ctx)
    seal = make_seal(application.store, application.clock.now())
    text = json.dumps(seal, ensure_ascii=True, indent=1, sort_keys=True) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"--output {output}: {exc.strerror or exc}") from None
    typer.echo(_("sealed {rows} history rows in {cases} cases: {digest} → {output}").format(
        rows=seal["rows"], cases=len(seal["cases"]), digest=seal["digest"], output=output))


# -- daemon side -------------------------------------------------------------------------------------
@app.command()
def tick(
    ctx: typer.Context,
    at: str | None = typer.Option(None, "--at", help="ISO 8601 instant (no offset = Asia/Shanghai)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="play the tick and roll it back: what it would do"),
    force: bool = typer.Option(False, "--force", help="tick at an --at earlier than the last tick: deadlines "
                               "still pending and due by then fire, nothing fired fires again, the last tick stays"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fire everything due at that time, once, in due order."""
    from workflow.timeutil import local_iso, parse_instant

    application = app_of(ctx)
    now = parse_instant(at) if at is not None else application.clock.now()  # --at "" is bad input
    later = application.ticker.check_at(now, force) if at is not None else None  # exit 2 unless --force
    if later is not None:
        typer.echo("outpost: --force: " + _("ticking at {now}, before the last tick ({last}); nothing fired fires "
                                             "again and the last tick stays").format(now=local_iso(now),
                                                                                    last=local_iso(later)), err=True)
    report = application.ticker.tick(now, dry_run=dry_run, keep_last_tick=later is not None)
    if as_json:
        print_json(report.as_json())
        return
    def on(f: dict[str, Any]) -> str:
        n = f.get("new_case")
        if n is None:
            return _("case {case}").format(case=f["case"])
        return _("the new {process} {period} case for {office}").format(**n)

    for o in report.opened:
        opened = _("would open {process} {period} for {office}") if dry_run else _("opened {process} {period} for "
                                                                                    "{office}")
        typer.echo(opened.format(**o) + (_(" (case {case})").format(case=o["case"]) if o["case"] else ""))
    for f in report.fired:
        fired = _("would fire {kind} on {on} (due {due}, {rule})") if dry_run else _("fired {kind} on {on} (due "
                                                                                      "{due}, {rule})")
        typer.echo(fired.format(kind=f["kind"], on=on(f), due=f["due_at"], rule=f["rule"]))
    for f in report.skipped:
        skipped = _("would be {outcome} {kind} on {on} (due {due})") if dry_run else _("{outcome} {kind} on {on} "
                                                                                        "(due {due})")
        typer.echo(skipped.format(outcome=f["outcome"], kind=f["kind"], on=on(f), due=f["due_at"]))
    for f in report.failed:
        failed = _("WOULD FAIL {kind} on {on}: {error}") if dry_run else _("FAILED {kind} on {on}: {error}")
        typer.echo(failed.format(kind=f["kind"], on=on(f), error=f["error"]))
    counts = {"fired": len(report.fired), "skipped": len(report.skipped), "failed": len(report.failed),
              "opened": len(report.opened), "mail": report.mail_queued}
    if dry_run:  # played in a transaction that was rolled back: nothing was written
        typer.echo(_("{fired} would fire, {skipped} would be skipped, {failed} would fail, {opened} would open, "
                     "{mail} mail would be queued").format(**counts)
                   + (_(" (the first 1000 deadlines only)") if report.interrupted else "") + _("; nothing written"))
        return
    typer.echo(_("{fired} fired, {skipped} skipped, {failed} failed, {opened} opened, {mail} mail queued").format(
        **counts))


@app.command()
def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Last tick, deadlines due now, mail queued and failed, daemons alive, calendar warnings."""
    from outpost.status import gather

    data = gather(app_of(ctx))
    if as_json:
        print_json(data)
        return
    typer.echo(_("last tick: {last}; tracking from {since}").format(last=data["last_tick"] or _("never"),
                                                                    since=data["tracking_from"] or _("(not set)")))
    typer.echo(_("due now: {due} deadline(s); failed deadlines: {failed}").format(
        due=data["due_now"], failed=len(data["failed_deadlines"])))
    for d in data["failed_deadlines"]:
        typer.echo(_("  FAILED deadline {id} ({kind} on case {case}): {error}").format(**d))
    typer.echo(_("mail: {queued} queued, {failed} failed, {sent} sent, {superseded} superseded").format(
        queued=data["mail_queued"], failed=data["mail_failed"], sent=data["mail_sent"],
        superseded=data["mail_superseded"]))
    for d in data["daemons"]:
        typer.echo(_("daemon {owner}: heartbeat {at} ({alive})").format(
            owner=d["owner"], at=d["heartbeat_at"], alive=_("alive") if d["alive"] else _("silent")))
    for w in data["warnings"]:
        typer.echo(_("WARNING: {warning}").format(warning=translate_message(w)))


@app.command()
def daemon(
    ctx: typer.Context,
    tick_seconds: float | None = typer.Option(None, "--tick-seconds",
                                              help="default: policy scheduler.tick_every_seconds"),
    deliver_seconds: float | None = typer.Option(None, "--deliver-seconds"),
) -> None:
    """The long-running scheduler (tick + mail delivery); stops cleanly on SIGTERM/SIGINT."""
    import scheduler

    raise typer.Exit(scheduler.run(app_of(ctx), tick_seconds=tick_seconds, deliver_seconds=deliver_seconds))


@app.command()
def web(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="default: web.host (127.0.0.1)"),
    port: int | None = typer.Option(None, "--port", help="default: web.port (8080)"),
) -> None:
    """The web front door (action links, my tasks, dashboard), beside the daemon on the same database."""
    from outpost.web import serve  # Starlette and uvicorn are imported by this command only

    application = app_of(ctx)
    web_settings = application.settings.web
    if port is not None and not 1 <= port <= 65535:
        raise BadInput(f"--port: expected 1–65535, got {port}")
    raise typer.Exit(serve(application, host or web_settings.host, port or web_settings.port))


holidays_app = typer.Typer(no_args_is_help=True, help="Official holiday notices (R-0.6).")
calendar_app.add_typer(holidays_app, name="holidays")


@holidays_app.command("load")
def holidays_load(ctx: typer.Context, file: Path = typer.Argument(...)) -> None:
    """Load a year's official holiday notice (replaces that year's)."""
    from workflow.holidays import read_notice

    notice = read_notice(file)
    changed, recomputed = app_of(ctx).load_holidays(notice)  # and the deadlines computed Mon–Fri meanwhile
    off = [day for day, (work, _name) in notice.days.items() if not work]
    weekdays = sum(1 for day in off if day.weekday() < 5)  # what `holidays show` lists: the rest were off anyway
    workdays = len(notice.days) - len(off)
    holidays = _("{n} holiday") if len(off) == 1 else _("{n} holidays")
    adjusted = _("{n} adjusted working day") if workdays == 1 else _("{n} adjusted working days")
    typer.echo(_("{year}: {holidays} ({weekdays} on weekdays) and {adjusted} {what}").format(
        year=notice.year, holidays=holidays.format(n=len(off)), weekdays=weekdays,
        adjusted=adjusted.format(n=workdays), what=_("loaded") if changed else _("already loaded, nothing changed")))
    if recomputed:  # each change is in its case's history (old → new, why)
        moved = sum(1 for r in recomputed if r["moved"])
        kept = sum(1 for r in recomputed if r["new"] is None)
        typer.echo(_("{n} pending deadline(s) had been computed Monday–Friday for {year}: {moved} moved, {same} kept "
                     "their time").format(n=len(recomputed), year=notice.year, moved=moved,
                                          same=len(recomputed) - moved - kept)
                   + (_(", {kept} could not be computed again (see `outpost status`)").format(kept=kept) if kept
                      else ""))
        for r in recomputed:
            if r["moved"]:
                typer.echo(_("  case {case} {kind}: {old} → {new}").format(**r))


@holidays_app.command("show")
def holidays_show(ctx: typer.Context, year: int = typer.Argument(...),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """The non-working weekdays and working weekend days of a year, and where they come from."""
    from datetime import date, timedelta

    from workflow.calendar import WorkCalendar

    if not 2000 <= year <= 2100:
        raise BadInput(f"year: expected 2000–2100, got {year}")
    cal = WorkCalendar(app_of(ctx).store.holidays())
    source = cal.source(year)
    out = []
    day = date(year, 1, 1)
    while day.year == year:
        work = cal.is_workday(day)
        if work != (day.weekday() < 5):
            out.append({"date": day.isoformat(), "workday": work, "name": cal.holiday_name(day)})
        day += timedelta(days=1)
    if as_json:
        print_json({"year": year, "source": source, "days": out})
        return
    if source == "fallback":
        typer.echo(_("{year}: no holiday data — working days are Monday–Friday (R-0.6); load the official notice "
                     "with `outpost calendar holidays load FILE`").format(year=year))
        return
    typer.echo(_("{year} (source: {source}):").format(year=year, source=source))
    for d in out:
        what = _("working day (调休)") if d["workday"] else _("holiday")
        typer.echo(f"  {d['date']} {what} {d['name'] or ''}")


# -- diagram -------------------------------------------------------------------------------------------
@app.command()
def diagram(process: str = typer.Argument(...),
            fmt: str = typer.Option("mermaid", "--format", help="mermaid | dot")) -> None:
    """Draw a process's state machine, generated from its definition."""
    from workflow import registry
    from workflow.diagram import dot, mermaid

    if fmt not in ("mermaid", "dot"):
        raise BadInput(f"--format: expected mermaid or dot, got {fmt[:20]!r}")
    definition = registry.latest(process)
    typer.echo(mermaid(definition) if fmt == "mermaid" else dot(definition), nl=False)


# -- entry point ---------------------------------------------------------------------------------------
def _one_line(text: str, limit: int = 4000) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; errors become one line on stderr."""
    try:  # typer ≥ 0.20 vendors click
        from typer._click.exceptions import ClickException, NoArgsIsHelpError
    except ImportError:  # pragma: no cover - older typer on real click
        from click.exceptions import (  # type: ignore[no-redef,import-not-found,assignment,unused-ignore]
            ClickException,
            NoArgsIsHelpError,
        )

    args = list(sys.argv[1:] if argv is None else argv)
    for arg in args:  # bytes that are not UTF-8 arrive as lone surrogates: refuse them before anything runs
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            sys.stderr.write(f"outpost: argument {arg.encode('utf-8', 'replace')[:40]!r} is not valid UTF-8 text\n")
            return 2
    from outpost.cli import i18n

    i18n.use(i18n.early_language(args))  # the settings' language, read before them so that --help speaks it
    command = i18n.localize(typer.main.get_command(app))
    try:
        result = command.main(args=args, prog_name="outpost", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        return int(exc.exit_code)
    except NoArgsIsHelpError as exc:
        sys.stdout.write((exc.ctx.get_help() if exc.ctx else "") + "\n")
        return 2
    except ClickException as exc:
        sys.stderr.write(f"outpost: {i18n.translate_message(_one_line(exc.format_message()))}\n")
        return 2
    except typer.Abort:
        sys.stderr.write("outpost: aborted\n")
        return 130
    except WorkflowError as exc:
        sys.stderr.write(f"outpost: {i18n.translate_message(_one_line(str(exc)))}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("outpost: interrupted\n")
        return 130
    except OSError as exc:
        if _writing_stdout(exc):  # the output could not be written (a full disk, a closed terminal)
            _drop_stdout()
            sys.stderr.write(f"outpost: could not write the output ({exc.strerror or exc}); what the command "
                             "did before printing is done\n")
            return 1
        return _internal_error(exc)
    except Exception as exc:
        return _internal_error(exc)


def _writing_stdout(exc: BaseException) -> bool:
    """Whether `exc` was raised writing to stdout: by click's `echo(…, file)` or rich's `Console.file`."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    local = tb.tb_frame.f_locals
    return local.get("file") is sys.stdout or getattr(local.get("self"), "file", None) is sys.stdout


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's own flush at exit does not fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file behind stdout (a test's capture)
        pass


def _internal_error(exc: Exception) -> int:
    """An internal error: one line, the traceback only on request."""
    import os

    if os.environ.get("OUTPOST_DEBUG", "") not in ("", "0"):
        import traceback

        traceback.print_exception(exc)
    sys.stderr.write(f"outpost: internal error: {type(exc).__name__}: {_one_line(str(exc), 200)} "
                     "(set OUTPOST_DEBUG=1 for details)\n")
    return 1


def main() -> None:
    sys.exit(run())
