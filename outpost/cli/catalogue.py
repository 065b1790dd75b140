"""Keep the CLI's catalogues (outpost/locale) in step with the code — a maintainer's tool, needs Babel:

    python -m outpost.cli.catalogue          # write outpost/locale/outpost.pot, merge it into each .po, compile .mo

The template holds every text marked `_()` / `N_()` in outpost/ (Babel's extractor) and the help of every
static command and option (read from the command tree in English: typer's docstrings and `help=` are not
marked). Translate the new entries in `outpost/locale/zh/LC_MESSAGES/outpost.po`, then run it again to compile.
`tests/test_cli_language.py` checks that nothing is untranslated and that each `.mo` is what its `.po` compiles to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from outpost.cli.i18n import DOMAIN, LOCALE

ROOT = Path(__file__).resolve().parent.parent  # the `outpost` package
TRANSLATED = ("zh",)  # English is the msgids themselves


def help_texts() -> dict[str, str]:
    """The help of the static commands and options, {text: where}, read in English."""
    import typer

    from outpost.cli import app, i18n

    before = i18n.language()
    i18n.use("en")
    found: dict[str, str] = {}

    def walk(command: Any, path: str, process_groups: frozenset[str]) -> None:
        for text in (command.help, command.short_help):
            if text:
                found.setdefault(_clean(text), path)
        for param in getattr(command, "params", ()):
            if getattr(param, "help", None):
                found.setdefault(_clean(param.help), f"{path} {param.name}")
        for name, sub in getattr(command, "commands", {}).items():
            if name not in process_groups:
                walk(sub, f"{path} {name}", frozenset())

    try:
        root = typer.main.get_command(app)
        static = frozenset(getattr(root, "commands", {}))
        walk(root, "outpost", frozenset(root.list_commands(None)) - static)  # type: ignore[attr-defined,arg-type,unused-ignore]
    finally:
        i18n.use(before)
    return found


def _clean(text: str) -> str:
    return text  # click shows the help as given (dedented docstrings are one line here)


def template() -> Any:
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    catalog = Catalog(project="outpost", domain=DOMAIN, charset="utf-8")
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map=[("**.py", "python")], keywords={"_": None, "N_": None, "p_": ((1, "c"), 2)}):
        catalog.add(message, locations=[(f"outpost/{filename}", lineno)], context=_context)
    for text, where in sorted(help_texts().items()):
        if text not in catalog:
            catalog.add(text, auto_comments=[f"help: {where}"])
    return catalog


def po_path(lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(lang: str) -> Any:
    from babel.messages.pofile import read_po

    with po_path(lang).open("rb") as f:
        return read_po(f, locale=lang, domain=DOMAIN)


def compiled(lang: str) -> bytes:
    """The .mo that the .po of `lang` compiles to."""
    from io import BytesIO

    from babel.messages.mofile import write_mo

    out = BytesIO()
    write_mo(out, read(lang), use_fuzzy=False)
    return out.getvalue()


def main() -> None:
    from babel.messages.pofile import write_po

    pot = template()
    with (LOCALE / f"{DOMAIN}.pot").open("wb") as f:
        write_po(f, pot, width=120, omit_header=False)
    for lang in TRANSLATED:
        catalog = read(lang)
        catalog.update(pot, update_header_comment=False)
        with po_path(lang).open("wb") as f:
            write_po(f, catalog, width=120, ignore_obsolete=True)
        po_path(lang).with_suffix(".mo").write_bytes(compiled(lang))
        missing = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
        print(f"{lang}: {len(catalog)} messages, {len(missing)} to translate")


if __name__ == "__main__":
    main()
