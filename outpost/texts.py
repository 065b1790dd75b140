"""What people read of each process in their language, from its folder's `texts.toml` (workflow/texts.py
says what it holds): labels, the Chinese help of options and commands, and the names of states, steps and
deadlines.

Found by the process's name without importing its machine (`case show` stays fast): the folder of
`machines.<process>`. A process without the file, or a key without a text, shows the key itself.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

from workflow.texts import Texts, read_texts


@lru_cache(maxsize=64)
def _folder(process: str) -> Path | None:
    if not process.isidentifier():
        return None
    spec = find_spec("machines")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / process


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
