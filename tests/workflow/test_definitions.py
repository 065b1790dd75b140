"""Process definitions are checked when they are loaded (GUIDE.md: definitions apart from instances)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
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


def every_definition() -> list[ProcessDefinition]:
    """The latest version of every process, and the older versions still registered (fin_statement 1)."""
    return [registry.latest(name) for name in registry.names()] + [registry.get("fin_statement", 1)]


def test_the_machine_is_the_only_transition_table_of_a_definition() -> None:
    """A definition keeps no index of its transitions beside the shared Machine: its attributes are its
    declared fields, and the only mappings among them are the deadline handlers and the process's names."""
    for d in every_definition():
        assert set(vars(d)) == {f.name for f in fields(ProcessDefinition)}, d.name
        mappings = [f.name for f in fields(ProcessDefinition) if isinstance(getattr(d, f.name), Mapping)]
        assert mappings == ["handlers", "names"], d.name


def test_every_trigger_and_source_of_the_spec_is_answered_by_the_machine() -> None:
    """For each (trigger, source) a definition declares, the Machine has the transition, carries that very
    spec, lists the trigger among those leaving the source and moves to the spec's dest (the source itself
    for an internal one); and the Machine knows no transition the spec does not declare."""
    for d in every_definition():
        declared = {(t.trigger, s): t for t in d.transitions for s in t.source}
        for (trigger, source), spec in declared.items():
            steps = d.machine.events[trigger].transitions[source]
            assert len(steps) == 1 and steps[0].dest == spec.dest, (d.name, trigger, source)
            assert d.transition(trigger, source) is spec
            assert trigger in d.machine.get_triggers(source)
            assert d.move(source, trigger) == (spec.dest or source)
        in_machine = {(trigger, source) for trigger, event in d.machine.events.items()
                      for source, steps in event.transitions.items() if steps}
        assert in_machine == set(declared), d.name
        assert d.triggers == list(dict.fromkeys(t.trigger for t in d.transitions))
        for state in d.states:
            assert d.leaving(state) == [t for t in d.transitions if state in t.source], (d.name, state)


def test_an_impossible_trigger_is_answered_none_and_leaves_the_machine_unchanged() -> None:
    """Asking for a trigger that does not leave a state (or does not exist) answers None and adds nothing
    to the Machine's table (its per-trigger table is a defaultdict)."""
    d = definition(transitions=(Transition("go", ("a",), "b", anyone, "anyone"),))
    assert d.transition("go", "b") is None
    assert d.transition("fly", "a") is None and not d.knows_trigger("fly")
    assert dict(d.machine.events["go"].transitions).keys() == {"a"}
    assert d.leaving("b") == []


def test_an_internal_transition_keeps_the_state_through_the_machine() -> None:
    """`dest=None` is an internal transition of the Machine: the trigger is possible and the state stays."""
    note = Transition("note", ("a",), None, anyone, "anyone")
    d = definition(transitions=(note, Transition("go", ("a",), "b", anyone, "anyone")))
    assert d.transition("note", "a") is note
    assert d.machine.get_triggers("a") == ["note", "go"]
    assert d.move("a", "note") == "a"
    assert d.move("a", "go") == "b"


@pytest.mark.parametrize("process", ["report", "fin_statement", "annual_audit"])
def test_periodic_duties_share_one_submission_cycle(process: str) -> None:
    """report, fin_statement and annual_audit take their reminder/overdue deadlines, handlers and events from
    one `PeriodicSubmission` (machines/_periodic.py), not from a cycle of their own."""
    from machines._periodic import PeriodicSubmission

    d = registry.latest(process)
    cycles = {id(h.__self__): h.__self__ for h in d.handlers.values()}  # type: ignore[attr-defined]
    assert len(cycles) == 1
    cycle = next(iter(cycles.values()))
    assert isinstance(cycle, PeriodicSubmission)
    assert d.deadlines == cycle.deadlines
    assert set(cycle.events) <= set(d.all_events)
