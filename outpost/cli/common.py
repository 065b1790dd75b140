"""What every command of the CLI shares: the application built once per run, JSON output, ids."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from workflow.errors import BadInput

if TYPE_CHECKING:
    from outpost.app import App


@dataclass
class RootOptions:
    config: Path | None
    database_url: str | None
    app: App | None = None


def app_of(ctx: typer.Context) -> App:
    from outpost.app import App
    from workflow.settings import load_settings

    opts: RootOptions = ctx.find_root().obj
    if opts.app is None:
        _terminal_logging()
        settings = load_settings({"database_url": opts.database_url}, config_path=opts.config)
        from outpost.cli import i18n

        i18n.use(settings.language)  # the settings decide (early_language read the same sources for --help)
        opts.app = App(settings)
        ctx.find_root().call_on_close(opts.app.close)
    return opts.app


def _terminal_logging() -> None:
    """Warnings of a command reach stderr as `outpost: warning: …` lines (without this, Python's last-resort
    handler prints them bare). Set up with the application, so `outpost --help` does not import logging;
    only where nothing has configured logging yet: the daemon configures its own (scheduler.setup_logging
    replaces this), and a test harness keeps its own.

    The calendar's Monday–Friday fallback (R-0.6) is left out: the daemon logs it, `outpost status` shows it
    and every deadline computed that way says so itself; here it would be a stray line after every command
    until the year's notice is loaded."""
    import logging

    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("outpost: warning: %(message)s"))
    handler.addFilter(lambda record: record.name != "outpost.calendar")
    root.addHandler(handler)


def print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def parse_case_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadInput(f"unknown case: {text[:40]!r} (a case id is a number)") from None
    if value <= 0 or value > 2**31 - 1:  # ids are 32-bit integers in every database
        raise BadInput(f"unknown case: {text[:40]}")
    return value


def console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


