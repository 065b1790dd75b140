"""The CLI speaks the office's language (issue 17.10): `language = "zh"` (the default) or `"en"`.

Catalogues: gettext, domain `outpost`, in `outpost/locale/<lang>/LC_MESSAGES/outpost.{po,mo}`. The msgids are
the English texts themselves, so English needs no catalogue (gettext falls back to the msgid). The `.mo`
files are compiled with Babel (`python -m outpost.cli.catalogue`) and committed: a plain `pip install` gets a
working Chinese CLI without Babel, and reading a `.mo` is stdlib `gettext` (a few hundred microseconds);
`tests/test_cli_language.py` fails when a `.mo` is older than its `.po` or a text has no translation.

What is translated, and where:
- help: every command's and option's help (the English help is the msgid), the headings click writes
  ("Usage:", "Options", …) through `LocalFormatter`; a process's own option and command help in Chinese
  comes from its folder's `texts.toml` (workflow/texts.py);
- what the CLI itself prints, marked `_()` in outpost/cli: confirmations, tables, `case show`'s lines, and the
  readable (non --json) output of `init`, `org load|show`, `status` (its warnings through the patterns below),
  `tick`, `mail list|deliver|retry|preview` (the mail itself speaks the mail's language; the headers' names
  From/To/Subject stay), `calendar holidays load|show`, `report compliance` (lines, table titles and headings;
  a process's own lines, e.g. reimbursement's, through the patterns below), `audit verify|seal`,
  `delegate add|list|end`;
- the one line printed for an error (`run`): the engine builds its messages in English; `translate_message`
  matches them against the message patterns of outpost/cli/messages.py (msgids with `{placeholders}`) and
  puts the captured values into the translation. A message no pattern matches is printed as it is (English).
Never translated: rule ids, ids, people's ids, states, triggers, process and deadline codes, statuses (a mail's,
a delegation's), option names, and everything printed by `--json`.
"""

from __future__ import annotations

import gettext
import os
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

LOCALE = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "outpost"
LANGUAGES = ("zh", "en")

_state: dict[str, Any] = {"lang": "zh", "tr": None}


def N_(message: str) -> str:
    """Mark a text for the catalogue without translating it here."""
    return message


# what click and typer write around the help (headings, the help option, an option's tags): translated by
# LocalFormatter, listed here for the catalogue
CLICK_TEXTS = (N_("Usage: "), N_("Options"), N_("Commands"), N_("Arguments"), N_("Show this message and exit."),
               N_("required"), N_("default: {default}"))


def use(lang: str) -> None:
    """Speak `lang` from now on (an unknown language speaks English; settings refuse one before this)."""
    if lang == _state["lang"] and _state["tr"] is not None:
        return
    _state["lang"] = lang
    _state["tr"] = _translation(lang)


def language() -> str:
    return str(_state["lang"])


@lru_cache(maxsize=4)
def _translation(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE, languages=[lang], fallback=True)


def _(message: str) -> str:
    """`message` in the language spoken (the message itself when the catalogue has no translation)."""
    tr = _state["tr"]
    if tr is None:
        use(_state["lang"])
        tr = _state["tr"]
    return str(tr.gettext(message)) if message else message


def p_(context: str, message: str) -> str:
    """`message` in the language spoken, as meant in `context` (one English word, two Chinese ones)."""
    tr = _state["tr"]
    if tr is None:
        use(_state["lang"])
        tr = _state["tr"]
    return str(tr.pgettext(context, message))


def early_language(args: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    """The language `load_settings` will find (OUTPOST_LANG > the config file's `language` > zh), read before
    the settings are built so that `--help` speaks it too. A setting that is not zh or en is left to
    `load_settings` to refuse; help then speaks the default."""
    env = os.environ if env is None else env
    found = env.get("OUTPOST_LANG")
    if not found:
        found = _config_language(_config_path(args, env, cwd or Path.cwd()))
    return found if found in LANGUAGES else "zh"


def _config_path(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> Path | None:
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            return Path(args[i + 1])
        if arg.startswith("--config="):
            return Path(arg.partition("=")[2])
    if env.get("OUTPOST_CONFIG"):
        return Path(env["OUTPOST_CONFIG"])
    return cwd / "outpost.toml"


def _config_language(path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    import tomllib

    try:
        value = tomllib.loads(path.read_text(encoding="utf-8")).get("language")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # the settings report it when the command runs
    return value if isinstance(value, str) else None


# -- the error line: English messages matched against patterns (outpost/cli/messages.py) --------------------
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
NESTED = frozenset({"reason"})  # placeholders whose value is itself a message to translate
ALTERNATIVES = frozenset({"levels"})  # placeholders whose value is messages joined by " or "
# placeholders that may hold spaces; any other is one word (an id, a date, a state, an amount), so that
# "refused: sun is not staff …" is not read as an actor named "refused: sun"
FREE = frozenset({"reason", "levels", "known", "span", "detail", "why", "text", "names", "args", "days", "credits",
                  "project", "what", "route", "years", "kind", "thing", "ids"})
WORDS = frozenset({"kind", "thing"})  # placeholders whose value is a word of the catalogue ("case", "person", …)


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    from outpost.cli.messages import PATTERNS

    compiled = []
    for msgid in PATTERNS:
        parts = _PLACEHOLDER.split(msgid)  # literal, name, literal, name, …
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>{'.+?' if p in FREE else r'[^ ]+?'})"
                        for i, p in enumerate(parts))
        literal = sum(len(p) for p in parts[::2])
        compiled.append((literal, re.compile(regex, re.DOTALL), msgid))
    compiled.sort(key=lambda c: -c[0])  # the most specific pattern first
    return [(regex, msgid) for _literal, regex, msgid in compiled]


def translate_message(text: str, depth: int = 0) -> str:
    """An English message of the engine in the language spoken, when a pattern of messages.py matches it
    whole; else the message unchanged."""
    if _state["lang"] == "en" or depth > 4:
        return text
    for regex, msgid in _patterns():
        found = regex.fullmatch(text)
        if found is None:
            continue
        translated = _(msgid)
        if translated == msgid:
            return text
        values = {k: _nested(k, v, depth) for k, v in found.groupdict().items()}
        return translated.format(**values)
    return text


def _nested(name: str, value: str, depth: int) -> str:
    if name in NESTED:
        return translate_message(value, depth + 1)
    if name in WORDS:
        return _(value)
    if name in ALTERNATIVES:  # "the director of BJ or a supervising leader"
        return _(" or ").join(translate_message(part, depth + 1) for part in value.split(" or "))
    return value


def translate_lines(text: str) -> str:
    """Each line of a process command's text (`info add`, `budget show`, …), translated as a message."""
    if _state["lang"] == "en":
        return text
    return "\n".join(translate_message(line.strip()) if not line.startswith(" ") else _indented(line)
                     for line in text.split("\n"))


def _indented(line: str) -> str:
    body = line.lstrip(" ")
    return line[: len(line) - len(body)] + translate_message(body)


# -- help --------------------------------------------------------------------------------------------------
_SUFFIX = re.compile(r"\s*\[(required|default: [^\]]*)\]$")


def localize(command: Any, process_help: Mapping[str, str] | None = None) -> Any:
    """Translate the help of a click command tree in place (commands, options, arguments) and give each
    command the formatter that translates click's headings. `process_help` maps an English help text of a
    process's option or command to its own translation (texts.toml), before the shared catalogue."""
    own = process_help or {}

    def tr(text: str | None) -> str | None:
        if not text:
            return text
        return own.get(text) or _(text)

    command.context_class = LocalContext
    if _state["lang"] == "en":
        return command
    command.help = tr(command.help)
    command.short_help = tr(command.short_help)
    for param in getattr(command, "params", ()):
        if getattr(param, "help", None):
            param.help = tr(param.help)
    for sub in getattr(command, "commands", {}).values():
        localize(sub, own)
    return command


def _formatter_class() -> Any:
    try:
        from typer._click.formatting import HelpFormatter
    except ImportError:  # pragma: no cover - older typer on real click
        from click.formatting import HelpFormatter  # type: ignore[no-redef,import-not-found,assignment,unused-ignore]

    class LocalFormatter(HelpFormatter):  # type: ignore[misc,valid-type,unused-ignore]
        """click's formatter, its headings and the generated parts of option help in the language spoken."""

        def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
            super().write_usage(prog, args, _("Usage: ") if prefix is None else prefix)

        def write_heading(self, heading: str) -> None:
            super().write_heading(_(heading))

        def write_dl(self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
            super().write_dl([(term, _help_row(text)) for term, text in rows], col_max, col_spacing)

    return LocalFormatter


def _help_row(text: str) -> str:
    if not text or _state["lang"] == "en":
        return text
    found = _SUFFIX.search(text)
    body, suffix = (text[: found.start()], found.group(1)) if found else (text, "")
    if suffix == "required":
        suffix = _("required")
    elif suffix:
        suffix = _("default: {default}").format(default=suffix.partition(": ")[2])
    body = _(body) if body else body
    return body + (f"  [{suffix}]" if suffix else "")


def _context_class() -> Any:
    try:
        from typer._click.core import Context
    except ImportError:  # pragma: no cover - older typer on real click
        from click.core import Context  # type: ignore[no-redef,import-not-found,assignment,unused-ignore]

    class _LocalContext(Context):  # type: ignore[misc,valid-type,unused-ignore]
        formatter_class = _formatter_class()

    return _LocalContext


LocalContext = _context_class()
