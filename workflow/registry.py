"""The process registry: definitions by name and version. The engine never imports a machine itself."""

from __future__ import annotations

import importlib
import pkgutil
import tomllib
from typing import TYPE_CHECKING, Any

from workflow.definition import ProcessDefinition
from workflow.errors import DefinitionError, NotFound
from workflow.model import Case

if TYPE_CHECKING:
    from workflow.ports import Tx

_registry: dict[str, dict[int, ProcessDefinition]] = {}
_loaded = False


_policy: dict[str, dict[str, Any]] = {}  # each process's policy defaults, read from its folder when it registers
_names: dict[str, dict[str, str]] = {}  # names_in, per language


def register(definition: ProcessDefinition) -> ProcessDefinition:
    """Add a definition; its folder's `policy.toml` (if any) is read and checked here, so a process whose
    defaults are missing or malformed fails when it loads, not at its first due date."""
    versions = _registry.setdefault(definition.name, {})
    if definition.version in versions and versions[definition.version] is not definition:
        raise DefinitionError(f"process {definition.name!r} version {definition.version} registered twice")
    if definition.home is not None and definition.name not in _policy:
        _policy[definition.name] = _read_policy(definition)
    versions[definition.version] = definition
    _names.clear()
    return definition


def _read_policy(definition: ProcessDefinition) -> dict[str, Any]:
    assert definition.home is not None
    path = definition.home / "policy.toml"
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DefinitionError(f"process {definition.name!r}: {path}: {exc}") from None
    if set(data) != {definition.name} or not isinstance(data[definition.name], dict):
        raise DefinitionError(f"process {definition.name!r}: {path} must hold one table, [{definition.name}]")
    section: dict[str, Any] = data[definition.name]
    for key, value in section.items():
        if isinstance(value, bool) or not isinstance(value, int | list):
            raise DefinitionError(f"process {definition.name!r}: policy {key} must be a number or a list of numbers")
    return section


def policy_defaults() -> dict[str, dict[str, Any]]:
    """Every registered process's policy defaults, by process name (the policy file's tables)."""
    load_machines()
    return {name: dict(section) for name, section in sorted(_policy.items()) if section}


def policy_order() -> list[tuple[str, str, str]]:
    """(earlier, later, why) pairs of policy keys, from every registered process."""
    load_machines()
    return [pair for name in sorted(_registry) for pair in latest(name).policy_order]


def names_in(lang: str) -> dict[str, str]:
    """What people call each process in `lang` (mail, calendars, pages); made once per language until another
    definition registers (every mail and page asks). The dict is shared: read it, do not change it."""
    found = _names.get(lang)
    if found is None:
        load_machines()
        found = _names[lang] = {name: latest(name).names.get(lang, name) for name in sorted(_registry)}
    return found


def load_machines(package: str = "machines") -> None:
    """Import every module of the machines package; each registers its definitions."""
    global _loaded
    if _loaded and package == "machines":
        return
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
    if package == "machines":
        _loaded = True


def latest(name: str) -> ProcessDefinition:
    load_machines()
    versions = _registry.get(name)
    if not versions:
        raise NotFound("process", name, known=sorted(_registry))  # as an unknown trigger lists the triggers
    return versions[max(versions)]


def get(name: str, version: int) -> ProcessDefinition:
    load_machines()
    found = _registry.get(name, {}).get(version)
    if found is None:
        raise DefinitionError(
            f"case uses process {name!r} version {version}, which this Outpost does not have; upgrade Outpost"
        )
    return found


def definitions() -> list[ProcessDefinition]:
    """Every registered definition, every version."""
    load_machines()
    return [d for name in sorted(_registry) for _, d in sorted(_registry[name].items())]


def names() -> list[str]:
    load_machines()
    return sorted(_registry)


def has(name: str) -> bool:
    load_machines()
    return name in _registry


def open_states(name: str) -> tuple[str, ...]:
    """The states a case of `name` can still be open in, in any version this Outpost has: a case keeps the
    version it was opened with, so a state final in one version may be open in another."""
    load_machines()
    return tuple(sorted({s for d in _registry.get(name, {}).values() for s in d.open_states}))


def open_cases_of(tx: Tx, name: str, subject: str) -> list[Case]:
    """The subject's cases of process `name` still open under their own definition version."""
    return [c for c in tx.cases_of(name, subject, open_states(name))
            if c.state not in get(c.process, c.definition_version).final_states]
