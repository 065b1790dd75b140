"""`outpost delegate add|list|end`: dated delegations (issue 15.4, workflow/delegation.py).

"李明 acting for 王建国, 1–14 March": `delegate add --as wang --absent wang --acting li --start 2027-03-01
--end 2027-03-14`, set by the absent person or a General Office clerk, ended early by either.
"""

from __future__ import annotations

from typing import Any

import typer

from outpost.cli.common import app_of, console, print_json
from outpost.cli.i18n import _

delegate_app = typer.Typer(no_args_is_help=True, help="Dated delegations: who acts for whom, from when to when.")


def register(app: typer.Typer) -> None:
    app.add_typer(delegate_app, name="delegate")


def _line(d: dict[str, Any]) -> str:
    reason = f" — {d['reason']}" if d["reason"] else ""
    ended = _(" (ended {at} by {by})").format(at=d["ended_at"], by=d["ended_by"]) if d["ended_at"] else ""
    return _("delegation {id}: {acting} {acting_name} acting for {absent} {absent_name}, {start} – {end} "
             "[{status}]").format(**{**d, "acting_name": d["acting_name"] or "",
                                     "absent_name": d["absent_name"] or ""}) + ended + reason


@delegate_app.command("add")
def delegate_add(
    ctx: typer.Context,
    as_: str = typer.Option(..., "--as", help="who sets it: the absent person or a General Office clerk"),
    absent: str = typer.Option(..., "--absent", help="the person who is away"),
    acting: str = typer.Option(..., "--acting", help="the person who acts for them"),
    start: str = typer.Option(..., "--start", help="first day, YYYY-MM-DD (Asia/Shanghai, inclusive)"),
    end: str = typer.Option(..., "--end", help="last day, YYYY-MM-DD (inclusive)"),
    reason: str | None = typer.Option(None, "--reason", help="why (kept with the delegation)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """B acts for A from START to END: B may fire what A's own roles permit and gets A's mail."""
    made = app_of(ctx).delegations.add(as_, absent, acting, start, end, reason)
    if as_json:
        print_json(made)
    else:
        typer.echo(_line(made))


@delegate_app.command("list")
def delegate_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Every delegation, with its status (upcoming, in_force, over, ended)."""
    found = app_of(ctx).delegations.list()
    if as_json:
        print_json(found)
        return
    if not found:
        typer.echo(_("no delegations"))
        return
    out = console()
    for d in found:
        out.print(_line(d), markup=False)


@delegate_app.command("end")
def delegate_end(
    ctx: typer.Context,
    delegation: str = typer.Argument(..., help="the delegation's id"),
    as_: str = typer.Option(..., "--as", help="the absent person or a General Office clerk"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """End a delegation now: from this moment the delegate no longer acts or gets the mail."""
    ended = app_of(ctx).delegations.end(as_, delegation)
    if as_json:
        print_json(ended)
    else:
        typer.echo(_line(ended))
