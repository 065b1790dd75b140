"""Reading an administrator's file (settings, policy, holiday notice) as text: bounded, UTF-8, one line of
bad input for every way it can be wrong."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from workflow.errors import BadInput


def read_text_file(path: Path, what: str, max_bytes: int) -> str:
    """The file's text; never more than `max_bytes` read (not the whole of /dev/zero), a byte-order mark
    from a Windows editor dropped. `what` names the file in the error ("policy file", "holiday notice")."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise BadInput(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"{what} {path}: is a folder, not a file") from None
    except OSError as exc:
        raise BadInput(f"{what} {path}: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise BadInput(f"{what} {path}: larger than {max_bytes:,} bytes")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{what} {path}: not UTF-8 text (byte {exc.start})") from None


def read_toml(path: Path, what: str, max_bytes: int = 5_000_000) -> dict[str, Any]:
    """A TOML file as a table; every failure is one line of bad input naming the file."""
    try:
        return tomllib.loads(read_text_file(path, what, max_bytes))
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{what} {path}: not valid TOML ({exc})") from None
