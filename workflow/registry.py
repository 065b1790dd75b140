"""The process registry: definitions by name and version. The engine never imports a machine itself."""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

from workflow.definition import ProcessDefinition
from workflow.errors import DefinitionError, NotFound
from workflow.model import Case

if TYPE_CHECKING:
    from workflow.ports import Tx

_registry: dict[str, dict[int, ProcessDefinition]] = {}
_loaded = False


def register(definition: ProcessDefinition) -> ProcessDefinition:
    versions = _registry.setdefault(definition.name, {})
    if definition.version in versions and versions[definition.version] is not definition:
        raise DefinitionError(f"process {definition.name!r} version {definition.version} registered twice")
    versions[definition.version] = definition
    return definition


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
