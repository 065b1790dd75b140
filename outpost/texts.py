"""What people read of each process in their language, from its folder's `texts.toml` (issue 17.10):

    [zh.labels]    # the case's data keys and item kinds as `case show` labels them
    start = "开始日期"
    [zh.options]   # the help of the process's options in Chinese (the English is the Option's own help)
    start = "第一天，YYYY-MM-DD"
    [zh.commands]  # the help of its own commands ("group name"), and of its command group ("group")
    "info add" = "…"
    [zh.states]    # what the web pages call its states, actions (triggers) and deadlines (their kinds)
    pending = "待审批"
    [zh.actions]
    approve = "批准"
    [zh.deadlines]
    remind_approver = "提醒审批人"
    [en.labels]
    start = "first day"

Found by the process's name without importing its machine (`case show` stays fast): the folder of
`machines.<process>`. A process without the file, or a key without a text, shows the key itself.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any


@lru_cache(maxsize=32)
def texts_of(process: str) -> dict[str, dict[str, dict[str, str]]]:
    """{lang: {"labels"|"options"|"commands": {key: text}}} of a process; {} when it has none."""
    if not process.isidentifier():
        return {}
    spec = find_spec("machines")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / process / "texts.toml"
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {lang: {part: {str(k): str(v) for k, v in table.items()} for part, table in parts.items()}
            for lang, parts in data.items()}


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
