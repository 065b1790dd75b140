"""`outpost info add|accept`, `outpost invest add` and `outpost report compliance`.

Registered on the main typer app by `workflow/cli.py`. The use cases live with their machines
(machines/info_quota.py, machines/investment.py) and go through the case service: each command writes
in one transaction, refusals name their rule. The compliance report is built by workflow/compliance.py
from what store/reports.py reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from workflow.errors import BadInput, NotFound

if TYPE_CHECKING:
    from workflow.app import App
    from workflow.model import Item

info_app = typer.Typer(no_args_is_help=True, help="Monthly information items (R-6.3).")
invest_app = typer.Typer(no_args_is_help=True, help="Investments attracted and who is credited (R-6.4, R-6.5).")
report_app = typer.Typer(no_args_is_help=True, help="Reports across cases.")


def register(app: typer.Typer) -> None:
    app.add_typer(info_app, name="info")
    app.add_typer(invest_app, name="invest")
    app.add_typer(report_app, name="report")


def _app(ctx: typer.Context) -> App:
    from workflow.cli import _app as root_app

    return root_app(ctx)


def _print_json(obj: Any) -> None:
    from workflow.cli import _print_json as print_json

    print_json(obj)


def _case_of(application: App, item: Item) -> dict[str, Any]:
    return application.case_view(item.case_id, with_history=False)


def info_item_json(item: Item, case: dict[str, Any]) -> dict[str, Any]:
    from workflow.timeutil import local_iso

    return {
        "id": item.id, "kind": item.kind, "case": item.case_id, "office": case["office"], "month": case["period"],
        "title": item.data.get("title"), "status": item.status, "created_by": item.created_by,
        "created_at": local_iso(item.created_at), "accepted_by": item.data.get("accepted_by"),
        "accepted_at": local_iso(_instant(item.data.get("accepted_at"))),
        "case_state": case["state"], "accepted_in_month": case["data"].get("accepted", 0),
        "quota": case["data"].get("quota"),
    }


def investment_json(item: Item, case: dict[str, Any]) -> dict[str, Any]:
    from workflow.timeutil import local_iso

    data = item.data
    return {
        "id": item.id, "kind": item.kind, "case": item.case_id, "office": case["office"], "period": case["period"],
        "year": case["data"].get("year"),
        "amount": int(data["amount"]), "source": data.get("source"), "project": data.get("project"),
        "date": data.get("date"),
        "credits": [{"person": p, "yuan": int(v)} for p, v in dict(data.get("credits", {})).items()],
        "created_by": item.created_by, "created_at": local_iso(item.created_at),
        "case_state": case["state"], "total": case["data"].get("total"), "target": case["data"].get("target"),
    }


def _instant(value: Any) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(str(value)) if value else None


# -- info ----------------------------------------------------------------------------------------------
@info_app.command("add")
def info_add(
    ctx: typer.Context,
    as_: str = typer.Option(..., "--as", help="the person logging it (one of the office's people)"),
    title: str = typer.Option(..., "--title", help="what the information is about"),
    month: str | None = typer.Option(None, "--month", help="YYYY-MM (default: this month)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Log an information item for your office's month (R-6.3)."""
    from machines.info_quota import add_item

    application = _app(ctx)
    item = add_item(application.service, as_, title, month)
    case = _case_of(application, item)
    if as_json:
        _print_json(info_item_json(item, case))
        return
    typer.echo(f"information item {item.id} logged for {case['office']} {case['period']} (case {item.case_id}); "
               f"{case['data'].get('accepted', 0)} of {case['data'].get('quota')} accepted so far")


@info_app.command("accept")
def info_accept(
    ctx: typer.Context,
    item: str = typer.Argument(..., help="the item id (printed by `info add`)"),
    as_: str = typer.Option(..., "--as", help="a General Office clerk or the supervising leader"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Accept an information item as valuable (R-6.3)."""
    from machines.info_quota import accept_item

    application = _app(ctx)
    done = accept_item(application.service, item, as_)
    case = _case_of(application, done)
    if as_json:
        _print_json(info_item_json(done, case))
        return
    typer.echo(f"information item {done.id} accepted; {case['office']} {case['period']}: "
               f"{case['data'].get('accepted', 0)} of {case['data'].get('quota')} accepted")


# -- invest --------------------------------------------------------------------------------------------
@invest_app.command("add")
def invest_add(
    ctx: typer.Context,
    as_: str = typer.Option(..., "--as", help="the person recording it (one of the office's people)"),
    amount: str = typer.Option(..., "--amount", help="whole yuan: 30000000, 30,000,000 or 3000万"),
    source: str = typer.Option(..., "--source", help="domestic | foreign"),
    project: str = typer.Option(..., "--project"),
    date: str | None = typer.Option(None, "--date", help="YYYY-MM-DD (default: today)"),
    credit: list[str] | None = typer.Option(None, "--credit", help="PERSON=YUAN, repeated; at most the amount"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Record an investment attracted by your office (R-6.4) and who is credited (R-6.5)."""
    from machines.investment import add_investment

    application = _app(ctx)
    item = add_investment(application.service, as_, amount, source, project, date, list(credit or []))
    case = _case_of(application, item)
    if as_json:
        _print_json(investment_json(item, case))
        return
    total, target = case["data"].get("total", 0), case["data"].get("target", 0)
    typer.echo(f"investment recorded (id {item.id}): {int(item.data['amount']):,} yuan for {case['office']} "
               f"{case['period']} (case {item.case_id}); {total:,} of {target:,} yuan this year")


# -- report compliance ---------------------------------------------------------------------------------
@report_app.command("compliance")
def report_compliance(
    ctx: typer.Context,
    year: int = typer.Option(..., "--year", help="the calendar year"),
    office: str | None = typer.Option(None, "--office", help="one office's code (default: every office)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Each office's year: investment, reports, information, statements, presence, incidents, grades."""
    from store.reports import SqlReports
    from workflow.compliance import build, ranking

    if not 2000 <= year <= 2100:
        raise BadInput(f"--year: expected 2000–2100, got {year}")
    application = _app(ctx)
    data = SqlReports(application.store).year_data(year)
    if office is not None and office not in data.org.offices:
        raise NotFound("office", office)
    result = build(data, application.clock.now(), office)
    if as_json:
        _print_json(result)
        return
    _print_compliance(result, ranking(data))


def _print_compliance(result: list[dict[str, Any]], ranks: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)

    def yes(flag: bool) -> str:
        return "yes" if flag else "NO"

    for o in result:
        target = o["investment_target"]
        console.print(f"[bold]{o['office']} {o['office_name']} — {o['year']}[/bold] (as of {o['as_of']})")
        console.print(f"  investment: {o['investment_total']:,} yuan"
                      + (f" of {target:,}" if target else "")
                      + f" — target met: {yes(o['investment_target_met'])}"
                      + (f" ({o['investment_state']})" if o["investment_state"] else ""), markup=False)
        console.print("  months short of information: " + (", ".join(o["info_short_months"]) or "none"),
                      markup=False)
        console.print("  late financial statements: " + (", ".join(o["fin_statements_late"]) or "none"),
                      markup=False)
        if o["annual_audit"]:
            a = o["annual_audit"]
            console.print(f"  annual audit {a['period']}: {a['state']}" + (" (late)" if a["late"] else ""),
                          markup=False)
        table = Table(title="work reports (R-5)", title_justify="left")
        for col in ("period", "state", "status", "due", "score", "rank"):
            table.add_column(col)
        for r in o["reports"]:
            table.add_row(r["period"], r["state"], r["status"], r["due"] or "",
                          "" if r["score"] is None else str(r["score"]), "" if r["rank"] is None else str(r["rank"]))
        console.print(table)
        people = Table(title="people (R-2.5 presence, R-6.5 grades)", title_justify="left")
        for col in ("person", "name", "off site", "limit", "credited ¥"):
            people.add_column(col)
        people.add_column("grade", no_wrap=True, min_width=len("recommended_excellent"))
        presence = {p["person"]: p for p in o["presence"]}
        for p in o["people"]:
            days = presence.get(p["person"])
            people.add_row(p["person"], p["name"],
                           "" if days is None else str(days["off_site_days"]) + (" OVER" if days["over"] else ""),
                           "" if days is None else str(days["limit"]), f"{p['credited']:,}", p["grade"] or "—")
        console.print(people)
        if o["incidents"]:
            console.print("  compliance incidents:")
            for i in o["incidents"]:
                console.print(f"    {i['at']} case {i['case']} ({i['process']}) {i['rule'] or ''}: "
                              f"{i['trigger']} by {i['actor'] or 'system'}", markup=False)
        else:
            console.print("  compliance incidents: none")
        console.print("")
    if ranks:
        table = Table(title="ranking of the offices (R-5.3, by assessment score)", title_justify="left")
        for col in ("period", "rank", "office", "score"):
            table.add_column(col)
        for period in ranks:
            for row in period["offices"]:
                table.add_row(period["period"], "" if row["rank"] is None else str(row["rank"]), str(row["office"]),
                              "" if row["score"] is None else str(row["score"]))
        console.print(table)
