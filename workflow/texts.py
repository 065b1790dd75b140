"""What people read of a process in their language, from `texts.toml` in its folder: labels of its data, the
help of its options and commands, and what its states, steps and deadlines are called.

    [zh.labels]    start = "开始日期"        # the case's data keys and item kinds
    [zh.options]   start = "第一天，YYYY-MM-DD"
    [zh.commands]  "info add" = "…"
    [zh.states]    pending = "待审批"
    [zh.actions]   approve = "批准"
    [zh.deadlines] remind_approver = "提醒审批人"
    [en.…]         the same in English

The file is read once per process, found by the process's name without importing its machine (`case show`
stays fast): the folder of the `machines` package's `<process>`. A missing file, or a key without a text,
gives the key itself (`text` gives None).
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

Texts = dict[str, dict[str, dict[str, str]]]


def read_texts(path: Path) -> Texts:
    """{lang: {part: {key: text}}} of one `texts.toml`; {} when there is none."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {lang: {part: {str(k): str(v) for k, v in table.items()} for part, table in parts.items()}
            for lang, parts in data.items()}


def _folder(process: str) -> Path | None:
    if not process.isidentifier():
        return None
    spec = find_spec("machines")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / process


@lru_cache(maxsize=64)  # the one cache, by name: a page asks for a dozen texts; a Path is slow to join and hash
def texts_of(process: str) -> Texts:
    """{lang: {"labels"|"options"|"commands"|…: {key: text}}} of a process; {} when it has none."""
    folder = _folder(process)
    return read_texts(folder / "texts.toml") if folder is not None else {}


def text(process: str, lang: str, part: str, key: str) -> str | None:
    """The text of `key` in `part` ("labels", "options", "commands") of `process` in `lang`, if it has one."""
    return texts_of(process).get(lang, {}).get(part, {}).get(key)


def label(process: str, lang: str, key: str) -> str:
    return text(process, lang, "labels", key) or key


def state_name(process: str, lang: str, state: str) -> str:
    """What people call the state (`待审批`); the state itself where the process does not say."""
    return text(process, lang, "states", state) or state


def action_name(process: str, lang: str, trigger: str) -> str:
    """What people call the step (`批准`); the trigger, spaced, where the process does not say."""
    return text(process, lang, "actions", trigger) or trigger.replace("_", " ")


def deadline_name(process: str, lang: str, kind: str) -> str:
    """What happens when a deadline of this kind falls due (`提醒审批人`); the kind where not said."""
    return text(process, lang, "deadlines", kind) or kind.replace("_", " ")
