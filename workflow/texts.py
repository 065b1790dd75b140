"""What people read of a process in their language, from `texts.toml` in its folder: labels of its data, the
help of its options and commands, and what its states, steps and deadlines are called.

    [zh.labels]    start = "开始日期"        # the case's data keys and item kinds
    [zh.options]   start = "第一天，YYYY-MM-DD"
    [zh.commands]  "info add" = "…"
    [zh.states]    pending = "待审批"
    [zh.actions]   approve = "批准"
    [zh.deadlines] remind_approver = "提醒审批人"
    [en.…]         the same in English

The file is read once per process. A missing file, or a key without a text, gives None: the caller shows
the key itself.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

Texts = dict[str, dict[str, dict[str, str]]]


@lru_cache(maxsize=64)
def read_texts(path: Path) -> Texts:
    """{lang: {part: {key: text}}} of one `texts.toml`; {} when there is none."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {lang: {part: {str(k): str(v) for k, v in table.items()} for part, table in parts.items()}
            for lang, parts in data.items()}


def text_in(home: Path | None, lang: str, part: str, key: str) -> str | None:
    """The text of `key` in `part` of the process whose folder is `home`, in `lang`, if it has one."""
    if home is None:
        return None
    return read_texts(home / "texts.toml").get(lang, {}).get(part, {}).get(key)
