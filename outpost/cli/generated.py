"""The parts of the CLI generated from the process registry: each process's options of `case open` and
`case advance`, and each process's own commands (`outpost info add`, `outpost budget set`, …).

Nothing here names a process: a new process folder under `machines/` brings its options and commands with
it. The registry is loaded only when one of these is used (or for `outpost --help`), so that `outpost case
show` starts without importing every machine.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import typer
import typer.core

from outpost.cli import i18n
from outpost.cli.common import app_of, print_json
from workflow.errors import BadInput
from workflow.texts import text as process_text

_TEXT_KINDS = frozenset({"text"})


def _registry() -> Any:
    from workflow import registry

    return registry


def parse_options(args: Sequence[str], catalogue: Sequence[Any], where: str) -> dict[str, Any]:
    """`--name value` pairs (or `--name=value`) of the options a process declares; `multi` ones repeat.

    An option the process does not declare is bad input, naming the ones it does."""
    from workflow.service import check_text

    by_flag = {o.flag: o for o in catalogue}
    found: dict[str, Any] = {}
    rest = list(args)
    while rest:
        token = rest.pop(0)
        flag, eq, value = token.partition("=")
        option = by_flag.get(flag) if flag.startswith("--") else None
        if option is None:
            known = ", ".join(sorted(by_flag)) or "none"
            shown = token[:40] if token.startswith("-") else repr(token[:40])
            raise BadInput(f"{where}: {'option ' if token.startswith('-') else 'unexpected '}{shown} does not "
                           f"apply (options: {known})")
        if not eq:
            if not rest:
                raise BadInput(f"{where}: option {flag} needs a value")
            value = rest.pop(0)
        if option.kind in _TEXT_KINDS:
            check_text(value, flag)
        if option.kind == "multi":
            found.setdefault(option.name, []).append(value)
        elif option.name in found:
            raise BadInput(f"{where}: option {flag} given twice")
        else:
            found[option.name] = value
    return found


def open_options(definition: Any) -> list[Any]:
    return [o for o in definition.options if o.name in definition.open_options]


def trigger_options(definition: Any) -> list[Any]:
    used = {name for t in definition.transitions for name in t.options}
    return [o for o in definition.options if o.name in used]


def options_help(what: str) -> str:
    """Every process's options, for the help of `case open` (what="open") or `case advance`."""
    registry = _registry()
    lines = []
    for name in registry.names():
        d = registry.latest(name)
        if what == "open" and d.periodic:
            continue
        shown = open_options(d) if what == "open" else trigger_options(d)
        if not shown:
            continue
        lines.append(f"{name}:")
        required = " (" + i18n._("required") + ")"
        lines += [f"  {o.flag} {o.name.upper()}{required if o.required and what == 'open' else ''}: "
                  f"{process_text(name, i18n.language(), 'options', o.name) or o.help}" for o in shown]
    return "\n".join(lines)


class ProcessOptionsCommand(typer.core.TyperCommand):
    """A command taking the registry's options after its own (`case open`, `case advance`): their help is
    listed, per process, below the command's own."""

    options_of = "open"

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        formatter.write_paragraph()
        formatter.write_text(i18n._("Options by process:"))
        for line in options_help(self.options_of).splitlines():
            formatter.write(f"  {line}\n")


class AdvanceOptionsCommand(ProcessOptionsCommand):
    options_of = "advance"


class ProcessGroup(typer.core.TyperGroup):
    """The root command: the static commands, and each process's own command groups from the registry."""

    def _process_groups(self) -> dict[str, list[Any]]:
        groups: dict[str, list[Any]] = {}
        registry = _registry()
        for name in registry.names():
            for command in registry.latest(name).commands:
                groups.setdefault(command.group, []).append(command)
        return groups

    def list_commands(self, ctx: Any) -> list[str]:
        static = list(super().list_commands(ctx))
        return sorted({*static, *self._process_groups()})

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        commands = self._process_groups().get(cmd_name)
        if not commands:
            return None
        return i18n.localize(typer.main.get_group(build_group(cmd_name, commands)), process_help(commands))


def process_help(commands: Sequence[Any]) -> dict[str, str]:
    """English help → its translation, of these commands of process folders and their options (texts.toml)."""
    lang = i18n.language()
    out: dict[str, str] = {}
    registry = _registry()
    owner = {id(c): name for name in registry.names() for c in registry.latest(name).commands}
    for command in commands:
        process = owner.get(id(command), "")
        for key, english in ((f"{command.group} {command.name}", command.help), (command.group, command.group_help)):
            found = process_text(process, lang, "commands", key)
            if found and english:
                out[english] = found
        for opt in (*command.options, *command.arguments):  # "info list month" before "month"
            found = (process_text(process, lang, "options", f"{command.group} {command.name} {opt.name}")
                     or process_text(process, lang, "options", opt.name))
            if found:
                out[opt.help] = found
    return out


def build_group(name: str, commands: Sequence[Any]) -> typer.Typer:
    """One typer group of a process's commands (several processes may add to one group, e.g. `report`)."""
    helps = [c.group_help for c in commands if c.group_help]
    group = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help=helps[0] if helps else None)
    for command in commands:
        group.command(command.name, help=command.help)(_command_function(command))
    return group


def _annotation(option: Any) -> Any:
    return list[str] | None if option.kind == "multi" else str | None


def _command_function(command: Any) -> Callable[..., None]:
    """A function with the signature typer reads: `ctx`, the arguments, `--as`, the options, `--json`."""
    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    for arg in command.arguments:
        params.append(inspect.Parameter(arg.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str,
                                        default=typer.Argument(..., help=arg.help)))
    if command.acts:
        params.append(inspect.Parameter("as_", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str,
                                        default=typer.Option(..., "--as", help=i18n.N_("the person acting"))))
    for opt in command.options:
        default = typer.Option(... if opt.required else None, opt.flag, help=opt.help)
        params.append(inspect.Parameter(opt.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                        annotation=str if opt.required else _annotation(opt), default=default))
    params.append(inspect.Parameter("as_json", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=bool,
                                    default=typer.Option(False, "--json", help=i18n.N_("print the result as JSON"))))

    def run(ctx: typer.Context, **values: Any) -> None:
        from workflow.service import check_text

        as_json = values.pop("as_json")
        for opt in (*command.options, *command.arguments):
            if opt.kind in _TEXT_KINDS and values.get(opt.name) is not None:
                check_text(values[opt.name], opt.flag)
        result = command.run(app_of(ctx).service, values)
        if as_json:
            print_json(result.json)
        else:
            typer.echo(i18n.translate_lines(result.text))

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__name__ = f"{command.group}_{command.name}"
    run.__doc__ = command.help
    return run
