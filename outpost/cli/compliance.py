"""`outpost report compliance`: built by workflow/compliance.py from what store/reports.py reads.

The processes' own commands (`info add`, `invest add`, …) are not here: each process declares them in its
folder and outpost/cli/generated.py makes them commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from outpost.cli.common import app_of, print_json
from workflow.errors import BadInput

if TYPE_CHECKING:
    pass

report_app = typer.Typer(no_args_is_help=True, help="Reports across cases.")


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")


# -- report compliance ---------------------------------------------------------------------------------
@report_app.command("compliance")
def report_compliance(
    ctx: typer.Context,
    year: int = typer.Option(..., "--year", help="the calendar year"),
    office: str | None = typer.Option(None, "--office", help="one office's code (default: every office)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Each office's year: investment, reports, information, statements, presence, incidents, grades."""
    if not 2000 <= year <= 2100:
        raise BadInput(f"--year: expected 2000–2100, got {year}")
    result, ranks = app_of(ctx).compliance(year, office)
    if as_json:
        print_json(result)
        return
    _print_compliance(result, ranks)


def _print_compliance(result: list[dict[str, Any]], ranks: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    from workflow.compliance import text_lines

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
        for line in text_lines(o):  # the sections of processes that print their own
            console.print(line, markup=False)
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
