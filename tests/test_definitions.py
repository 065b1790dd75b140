"""Process definitions are checked when they are loaded (GUIDE.md: definitions apart from instances)."""

from __future__ import annotations

from typing import Any

import pytest

from workflow import registry
from workflow.definition import DeadlineSpec, Guard, OpenPlan, ProcessDefinition, Transition
from workflow.errors import DefinitionError

PRODUCT_PROCESSES = {"leave", "matter", "departure_audit", "report", "fin_statement", "annual_audit",
                     "info_quota", "investment"}


def anyone(ctx: Any) -> None:
    return None


def opener(ctx: Any) -> OpenPlan:
    return OpenPlan(state="a", office=None, subject=None, data={})


def definition(**changes: Any) -> ProcessDefinition:
    spec: dict[str, Any] = dict(
        name="probe", version=1, title="probe", states=("a", "b"), initial_states=("a",), final_states=("b",),
        transitions=(Transition("go", ("a",), "b", anyone, "anyone"),), opener=opener, open_options=frozenset())
    spec.update(changes)
    return ProcessDefinition(**spec)


def test_every_machine_of_the_product_loads_and_is_valid() -> None:
    """Importing machines/ registers every process PRODUCT.md names, each a valid definition."""
    assert set(registry.names()) >= PRODUCT_PROCESSES
    for name in registry.names():
        d = registry.latest(name)
        d.validate()
        assert d.machine.get_triggers(d.initial_states[0]) or d.deadlines_for(d.initial_states[0])


def test_a_valid_probe_definition_loads() -> None:
    """The probe used below is itself valid, so each failure below has the one cause it names."""
    assert definition().move("a", "go") == "b"


@pytest.mark.parametrize("changes, fragment", [
    ({"states": ("a", "b", "c")}, "'c' is unreachable"),
    ({"final_states": ()}, "dead end"),
    ({"transitions": (Transition("go", ("a",), "x", anyone, "anyone"),)}, "unknown state 'x'"),
    ({"transitions": (Transition("go", ("a",), "b", anyone, ""),)}, "does not say who"),
    ({"transitions": (Transition("go", ("a",), "b", anyone, "x", guards=(Guard("rule 7", anyone),)),)},
     "names no rule id"),
    ({"deadlines": (DeadlineSpec("late", "z", "R-1.1", lambda ctx: None, "trigger:go"),)}, "unknown state 'z'"),
    ({"deadlines": (DeadlineSpec("late", "a", "R-1.1", lambda ctx: None, "trigger:nope"),)}, "fires 'nope'"),
    ({"deadlines": (DeadlineSpec("late", "a", "R-1.1", lambda ctx: None, "shout"),)}, "unknown action"),
    ({"transitions": (Transition("go", ("a",), "b", anyone, "anyone"), Transition("go", ("a",), "b", anyone, "x"))},
     "defined twice"),
    ({"transitions": (Transition("go", ("a",), "b", anyone, "anyone"), Transition("back", ("b",), "a", anyone, "x"))},
     "final state 'b' has outgoing"),
    ({"name": "Bad Name"}, "lower_snake_case"),
    ({"periodic": True}, "needs `periods`"),
])
def test_inconsistent_definitions_are_refused_at_load(changes: dict[str, Any], fragment: str) -> None:
    """Unreachable states, dead ends, unknown states, triggers nobody may fire, guards without a rule id,
    deadlines on unknown states or firing unknown triggers: DefinitionError when the definition is built."""
    with pytest.raises(DefinitionError, match=fragment):
        definition(**changes)


def test_one_machine_per_definition_shared_by_every_case() -> None:
    """`transitions` is used the efficient way: the Machine is built once and has no model attached."""
    d = registry.latest("leave")
    assert d.machine is registry.latest("leave").machine
    before = len(d.machine.models)
    assert d.move("pending", "approve") == "approved"
    assert len(d.machine.models) == before
