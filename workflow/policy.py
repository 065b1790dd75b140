"""The policy file: the administrator-editable defaults of REGULATION.md, validated as a whole."""

from __future__ import annotations

import builtins
import datetime as dt
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from workflow.errors import BadInput

POLICY_VERSION = 1


def _default_text() -> str:
    return resources.files("workflow").joinpath("policy_default.toml").read_text(encoding="utf-8")


def _dotted(node: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, value in node.items():
        key = f"{prefix}{name}"
        yield key, value
        if isinstance(value, dict):
            yield from _dotted(value, key + ".")


class Policy:
    """Read-only access by dotted key: `policy.int("leave.escalate_after_workdays")`."""

    def __init__(self, data: dict[str, Any], source: str = "shipped defaults") -> None:
        self._data = data
        self.source = source
        # every node by its dotted key, sections included: a step asks a dozen keys
        self._by_key: dict[str, Any] = dict(_dotted(data))

    def get(self, key: str) -> Any:
        try:
            return self._by_key[key]
        except KeyError:
            raise KeyError(f"policy key {key!r} is not defined") from None

    def int(self, key: str) -> int:
        value = self.get(key)
        assert isinstance(value, int)
        return value

    def time(self, key: str) -> dt.time:
        value = self.get(key)
        assert isinstance(value, dt.time)
        return value

    def ints(self, key: str) -> list[builtins.int]:
        value = self.get(key)
        assert isinstance(value, list)
        return [builtins.int(v) for v in value]

    def as_dict(self) -> dict[str, Any]:
        return dict(self._data)


def _upper_bound(key: str) -> int:
    """The largest sensible value of a policy number, by its unit: a deadline a year away at most (every
    duty of the regulation is at most yearly), a day for waits in seconds, a few hundred attempts."""
    if "workdays" in key or key.endswith("_days") or "days_" in key:
        return 366
    if "months" in key:
        return 12
    if key.endswith("_seconds"):
        return 86_400
    return 1_000


def _lower_bound(key: str) -> int:
    """Waits, attempts and repeat intervals of zero would spin (a tick every 0 s, a reminder repeating every 0
    working days) or never try: they start at 1. Offsets may be 0 (remind on the day itself)."""
    if key.endswith("_seconds") or key.endswith("max_attempts") or "repeat" in key:
        return 1
    return 0


# (earlier, later, why): pairs whose order the regulation implies; a reminder after the escalation it should
# precede, or a back-off that starts above its own ceiling, is a typo the daemon would silently act on.
# Each process adds its own pairs (`ProcessDefinition.policy_order`).
_ORDER = (
    ("mail.backoff_first_seconds", "mail.backoff_max_seconds", "the first back-off is at most the longest"),
    ("mail.send_from", "mail.send_until", "mail goes out between the two"),
)


def _check_order(policy: Policy, errors: list[str]) -> None:
    from workflow import registry

    for earlier, later, why in (*_ORDER, *registry.policy_order()):
        a, b = policy.get(earlier), policy.get(later)
        if (isinstance(a, int) and isinstance(b, int) and a > b) or \
                (isinstance(a, dt.time) and isinstance(b, dt.time) and a >= b):
            errors.append(f"{earlier} = {a} is after {later} = {b} ({why})")


def _check(defaults: dict[str, Any], given: dict[str, Any], path: str, errors: list[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key in given:
        if key not in defaults:
            errors.append(f"{path}{key}: unknown key")
    for key, default in defaults.items():
        if key not in given:
            merged[key] = default
            continue
        value = given[key]
        where = f"{path}{key}"
        if isinstance(default, dict):
            if not isinstance(value, dict):
                errors.append(f"{where}: expected a table")
                merged[key] = default
            else:
                merged[key] = _check(default, value, where + ".", errors)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                errors.append(f"{where}: expected true or false")
            merged[key] = value
        elif isinstance(default, int):
            low, top = _lower_bound(key), _upper_bound(key)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= top:
                errors.append(f"{where}: expected a whole number {low}–{top:,}, got {value!r}")
            merged[key] = value
        elif isinstance(default, dt.time):
            if not isinstance(value, dt.time) or value.tzinfo is not None:
                errors.append(f"{where}: expected a local time of day such as 09:00:00, got {value!r}")
                value = default
            merged[key] = value
        elif isinstance(default, list):
            top = _upper_bound(key)
            if not isinstance(value, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= top for v in value
            ):
                errors.append(f"{where}: expected a list of whole numbers 0–{top:,}")
            merged[key] = value
        else:
            merged[key] = value
    return merged


def defaults() -> dict[str, Any]:
    """The engine's defaults and every registered process's (`machines/<process>/policy.toml`)."""
    from workflow import registry

    found = tomllib.loads(_default_text())
    for name, section in registry.policy_defaults().items():
        if name in found:
            raise BadInput(f"policy: process {name!r} has the name of an engine table")
        found[name] = section
    return found


def load_policy(path: Path | None = None) -> Policy:
    """The shipped defaults, overlaid with the administrator's file; any error names its key."""
    defaults_ = defaults()
    if path is None:
        return Policy(defaults_)
    from workflow.files import read_toml

    given = read_toml(path, "policy file", max_bytes=1_000_000)
    if given.get("v", POLICY_VERSION) != POLICY_VERSION:
        raise BadInput(f"policy file {path}: version {given.get('v')!r} is not supported (expected {POLICY_VERSION})")
    errors: list[str] = []
    merged = _check(defaults_, given, "", errors)
    if not errors:  # the order of two keys is judged only once each has a valid value
        _check_order(Policy(merged), errors)
    if errors:
        raise BadInput(f"policy file {path}: " + "; ".join(errors))
    return Policy(merged, source=str(path))
