"""`outpost report compliance`: built by workflow/compliance.py from what store/reports.py reads.

The processes' own commands (`info add`, `invest add`, …) are not here: each process declares them in its
folder and outpost/cli/generated.py makes them commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from outpost.cli.common import app_of, print_json
from outpost.cli.i18n import _, translate_lines
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
        return _("yes") if flag else _("NO")

    for o in result:
        target = o["investment_target"]
        console.print(f"[bold]{o['office']} {o['office_name']} — {o['year']}[/bold] "
                      + _("(as of {at})").format(at=o["as_of"]))
        amount = (_("{total} yuan of {target}") if target else _("{total} yuan")).format(
            total=f"{o['investment_total']:,}", target=f"{target:,}" if target else "")
        console.print(_("  investment: {amount} — target met: {met}").format(
                      amount=amount, met=yes(o["investment_target_met"]))
                      + (f" ({o['investment_state']})" if o["investment_state"] else ""), markup=False)
        console.print(_("  months short of information: ") + (", ".join(o["info_short_months"]) or _("none")),
                      markup=False)
        console.print(_("  late financial statements: ") + (", ".join(o["fin_statements_late"]) or _("none")),
                      markup=False)
        if o["annual_audit"]:
            a = o["annual_audit"]
            console.print(_("  annual audit {period}: {state}").format(period=a["period"], state=a["state"])
                          + (_(" (late)") if a["late"] else ""), markup=False)
        table = Table(title=_("work reports (R-5)"), title_justify="left")
        for col in (_("period"), _("state"), _("status"), _("due"), _("score"), _("rank")):
            table.add_column(col)
        for r in o["reports"]:
            table.add_row(r["period"], r["state"], r["status"], r["due"] or "",
                          "" if r["score"] is None else str(r["score"]), "" if r["rank"] is None else str(r["rank"]))
        console.print(table)
        people = Table(title=_("people (R-2.5 presence, R-6.5 grades)"), title_justify="left")
        for col in (_("person"), _("name"), _("off site"), _("limit"), _("credited ¥")):
            people.add_column(col)
        people.add_column(_("grade"), no_wrap=True, min_width=len("recommended_excellent"))
        presence = {p["person"]: p for p in o["presence"]}
        for p in o["people"]:
            days = presence.get(p["person"])
            people.add_row(p["person"], p["name"],
                           "" if days is None else str(days["off_site_days"]) + (_(" OVER") if days["over"] else ""),
                           "" if days is None else str(days["limit"]), f"{p['credited']:,}", p["grade"] or "—")
        console.print(people)
        if o["incidents"]:
            console.print(_("  compliance incidents:"))
            for i in o["incidents"]:
                console.print(_("    {at} case {case} ({process}) {rule}: {trigger} by {actor}").format(
                    at=i["at"], case=i["case"], process=i["process"], rule=i["rule"] or "", trigger=i["trigger"],
                    actor=i["actor"] or _("system")), markup=False)
        else:
            console.print(_("  compliance incidents: none"))
        for line in text_lines(o):  # the sections of processes that print their own
            console.print(translate_lines(line), markup=False)
        console.print("")
    if ranks:
        table = Table(title=_("ranking of the offices (R-5.3, by assessment score)"), title_justify="left")
        for col in (_("period"), _("rank"), _("office"), _("score")):
            table.add_column(col)
        for period in ranks:
            for row in period["offices"]:
                table.add_row(period["period"], "" if row["rank"] is None else str(row["rank"]), str(row["office"]),
                              "" if row["score"] is None else str(row["score"]))
        console.print(table)
