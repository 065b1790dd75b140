"""Declarative process definitions, checked when they are loaded.

A definition is data: states, transitions (who may fire each trigger, guards naming their rule id),
deadlines set on entering a state, and the mail each step sends. Each definition builds ONE
`transitions.Machine`, shared by every case of that process, and it is the one transition table: which
triggers leave a state, whether a trigger is possible from a state and where it goes all come from it.
Each of the Machine's transitions carries its `Transition` spec (who may fire it, its guards and effects
with their rule ids), so the engine keeps its own permissions and guards without a second index. A case
is attached for a trigger through a tiny token object and never registered with the machine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transitions import Machine
from transitions import Transition as MachineTransition

from workflow.errors import DefinitionError

if TYPE_CHECKING:
    from workflow.compliance import Section
    from workflow.context import Ctx
    from workflow.model import Person

Refusal = tuple[str, str]  # (rule id, reason)
Permission = Callable[["Ctx"], "Refusal | None"]
Check = Callable[["Ctx"], "str | None"]
Effect = Callable[["Ctx"], None]
Recipients = Callable[["Ctx"], "list[Person]"]
Due = tuple[datetime, str]  # (due_at, why)
DueFn = Callable[["Ctx"], "Due | list[Due] | None"]
Handler = Callable[["Ctx"], None]

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_RULE = re.compile(r"R-\d+(\.\d+)?")


@dataclass(frozen=True)
class Guard:
    """A rule a trigger must satisfy. `check` returns None when satisfied, else the reason."""

    rule_id: str
    check: Check
    overridable: bool = False  # may be passed with `--override REASON` (recorded)
    # Run after a refusal, in a transaction of their own (the refused step itself writes nothing): e.g. a
    # compliance incident. They see `ctx.details["refused"]` and may record history rows and send mail.
    on_refusal: tuple[Effect, ...] = ()


@dataclass(frozen=True)
class Notice:
    """Mail sent when a trigger (or `open`) lands in one of `states` (all states when empty)."""

    event: str
    to: Recipients
    rule_id: str
    states: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()  # triggers the mail invites its recipients to fire
    due: Callable[[Ctx], datetime | None] | None = None  # what the mail is about is due then (.ics)
    params: Callable[[Ctx], dict[str, Any]] | None = None  # the facts the mail tells (its template's `params`)


@dataclass(frozen=True)
class Transition:
    """`dest=None` is an internal transition: recorded in the history, the state (and its deadlines) kept."""

    trigger: str
    source: tuple[str, ...]
    dest: str | None
    who: Permission | None  # None: only the daemon fires it (system trigger)
    who_doc: str
    guards: tuple[Guard, ...] = ()
    options: frozenset[str] = frozenset()
    effects: tuple[Effect, ...] = ()
    notices: tuple[Notice, ...] = ()

    @property
    def system(self) -> bool:
        return self.who is None


@dataclass(frozen=True)
class DeadlineSpec:
    """Deadlines set on entering `state`. `due` gives (due_at, why), a list of them (occurrences 1, 2, …),
    or None when it does not apply. `action` is `trigger:<system trigger>` or a handler's name.

    Catch-up after downtime: a deadline with `skip_superseded` is recorded `skipped` (no action) when a
    later one of the same kind (or of a kind in `superseded_by`) on the same case is due too, so a week
    of silence sends one reminder, not one per missed interval, and no "due soon" after "overdue".
    """

    kind: str
    state: str
    rule_id: str
    due: DueFn
    action: str
    skip_superseded: bool = False
    superseded_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Period:
    """One period of a periodic process: `2027-H1` opens at `opens_at` and is due on `due`."""

    key: str
    opens_at: datetime
    due: date


@dataclass(frozen=True)
class OpenPlan:
    """What `open` decided: where the case starts and what it carries."""

    state: str
    office: str | None
    subject: str | None
    data: dict[str, Any]
    period: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


Opener = Callable[["Ctx"], OpenPlan]

OPTION_KINDS = ("text", "date", "amount", "number", "id", "person", "multi")


@dataclass(frozen=True)
class Option:
    """An option a person gives (`case open`, `case advance`, a process's own command), with the help the
    CLI and the web show. `name` is the key the definition reads (`event_date` is `--event-date`)."""

    name: str
    help: str
    kind: str = "text"  # how the front doors ask for it; the definition still checks the value itself
    required: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class CommandResult:
    """What a process's own command returns: its JSON (`--json`) and the line a person reads."""

    json: Any
    text: str


@dataclass(frozen=True)
class Command:
    """A command of a process's own, beside `case open|advance` (`outpost info add`, `outpost budget set`).

    `run(service, options)` gets the case service and the options by name (`as_` is the acting person);
    it changes things only through the service, in one transaction, and returns a `CommandResult`."""

    group: str
    name: str
    help: str
    run: Callable[[Any, dict[str, Any]], CommandResult]
    options: tuple[Option, ...] = ()
    arguments: tuple[Option, ...] = ()  # positional, in order
    group_help: str = ""
    acts: bool = True  # needs `--as PERSON`


class _Token:
    """The object a shared Machine moves: it only has a state."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class _Step(MachineTransition):
    """One (trigger, source) transition of the shared Machine, carrying the engine's spec of it."""

    def __init__(self, source: str, dest: str | None, *args: Any, spec: Transition, **kwargs: Any) -> None:
        super().__init__(source, dest, *args, **kwargs)  # type: ignore[arg-type]  # dest=None: internal
        self.spec = spec


class _Table(Machine):
    transition_cls = _Step


@dataclass
class ProcessDefinition:
    name: str
    version: int
    title: str
    states: tuple[str, ...]
    initial_states: tuple[str, ...]
    final_states: tuple[str, ...]
    transitions: tuple[Transition, ...]
    opener: Opener
    open_options: frozenset[str]
    open_notices: tuple[Notice, ...] = ()
    open_effects: tuple[Effect, ...] = ()  # run once the new case has its id
    deadlines: tuple[DeadlineSpec, ...] = ()
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    periodic: bool = False  # cases created by the daemon, not by a person
    periods: Callable[[int, Any], list[Period]] | None = None  # (year, policy) → that year's periods
    events: tuple[str, ...] = ()  # mail events sent by deadline handlers (notices declare their own)
    # The process's folder (`machines/<process>/`): its mail templates (`templates/<lang>/`) and its policy
    # defaults (`policy.toml`) are found there through the registry; nothing outside the folder lists them.
    home: Path | None = None
    names: Mapping[str, str] = field(default_factory=dict)  # what people call the process, by language
    # (earlier, later, why): policy keys of this process whose order the regulation implies (a reminder
    # after the escalation it should precede is a typo the daemon would silently act on)
    policy_order: tuple[tuple[str, str, str], ...] = ()
    # What people type: every option of `case open` and of this process's triggers, with its help. A name in
    # `open_options` or a transition's `options` that is not here is internal (the daemon's, a command's).
    options: tuple[Option, ...] = ()
    commands: tuple[Command, ...] = ()  # the process's own commands (`info add`, `budget set`, …)
    # Its section of `report compliance` (workflow/compliance.py): keys it adds to an office's year, and the
    # lines it adds to the readable report. `compliance_cases`: whether the section reads the year's cases
    # (the presence section reads only the off-site ledger).
    compliance: Callable[[Section], dict[str, Any]] | None = None
    compliance_text: Callable[[dict[str, Any]], list[str]] | None = None
    compliance_cases: bool = True
    machine: Machine = field(init=False, repr=False)  # the one transition table (module docstring)

    def __post_init__(self) -> None:
        self.validate()
        self.machine = _Table(model=None, states=list(self.states), initial=self.initial_states[0],
                              auto_transitions=False, ignore_invalid_triggers=False)
        for t in self.transitions:
            self.machine.add_transition(t.trigger, list(t.source), t.dest, spec=t)

    # -- queries (all answered by the Machine) -----------------------------------------------------
    @property
    def triggers(self) -> list[str]:
        """Every trigger of the process, in the order the definition declares them."""
        return list(self.machine.events)

    def transition(self, trigger: str, state: str) -> Transition | None:
        """The spec of `trigger` from `state`, or None when the Machine has no such transition."""
        event = self.machine.events.get(trigger)
        if event is None:
            return None
        steps = event.transitions.get(state)  # .get: the Machine's defaultdict must not grow on a miss
        if not steps:
            return None
        step = steps[0]
        assert isinstance(step, _Step)
        return step.spec

    def knows_trigger(self, trigger: str) -> bool:
        return trigger in self.machine.events

    def leaving(self, state: str) -> list[Transition]:
        """The transitions that leave `state` (internal ones included), in declaration order."""
        found = (self.transition(t, state) for t in self.machine.get_triggers(state))
        return [t for t in found if t is not None]

    @property
    def open_states(self) -> tuple[str, ...]:
        """The states a case is still open in (not final)."""
        return tuple(s for s in self.states if s not in self.final_states)

    @property
    def all_events(self) -> list[str]:
        """Every mail event this process can send: each needs its templates (notifications/)."""
        found = [n.event for n in self.open_notices]
        found += [n.event for t in self.transitions for n in t.notices]
        return list(dict.fromkeys([*found, *self.events]))

    def deadlines_for(self, state: str) -> list[DeadlineSpec]:
        return [d for d in self.deadlines if d.state == state]

    def deadline_spec(self, kind: str, state: str) -> DeadlineSpec | None:
        return next((d for d in self.deadlines if d.kind == kind and d.state == state), None)

    def move(self, state: str, trigger: str) -> str:
        """Run the trigger through the shared Machine; return the new state."""
        token = _Token(state)
        self.machine.events[trigger].trigger(token)
        return token.state

    # -- validation --------------------------------------------------------------------------------
    def validate(self) -> None:
        errors: list[str] = []
        where = f"process {self.name!r}"
        if not _NAME.fullmatch(self.name):
            errors.append("name must be lower_snake_case")
        states = set(self.states)
        if len(states) != len(self.states):
            errors.append("duplicate state")
        for s in self.states:
            if not _NAME.fullmatch(s):
                errors.append(f"state {s!r} is not lower_snake_case")
        if not self.initial_states:
            errors.append("no initial state")
        for s in (*self.initial_states, *self.final_states):
            if s not in states:
                errors.append(f"initial/final state {s!r} is not a state")
        outgoing: dict[str, set[str]] = {s: set() for s in self.states}
        seen_pairs: set[tuple[str, str]] = set()
        for t in self.transitions:
            if not _NAME.fullmatch(t.trigger) or t.trigger in {"open", "escalate"}:
                errors.append(f"trigger {t.trigger!r} is not a valid trigger name")
            if t.dest is not None and t.dest not in states:
                errors.append(f"trigger {t.trigger!r} goes to unknown state {t.dest!r}")
            if not t.source:
                errors.append(f"trigger {t.trigger!r} has no source state")
            for s in t.source:
                if s not in states:
                    errors.append(f"trigger {t.trigger!r} leaves unknown state {s!r}")
                    continue
                if (t.trigger, s) in seen_pairs:
                    errors.append(f"trigger {t.trigger!r} is defined twice from {s!r}")
                seen_pairs.add((t.trigger, s))
                if t.dest is not None:
                    outgoing[s].add(t.dest)
                if s in self.final_states:
                    errors.append(f"final state {s!r} has outgoing trigger {t.trigger!r}")
            if t.who is not None and not t.who_doc:
                errors.append(f"trigger {t.trigger!r} does not say who may fire it")
            for g in t.guards:
                if not _RULE.fullmatch(g.rule_id):
                    errors.append(f"guard of {t.trigger!r} names no rule id ({g.rule_id!r})")
            for n in t.notices:
                for s in n.states:
                    if s not in states:
                        errors.append(f"notice {n.event!r} names unknown state {s!r}")
        # Every state reachable from an initial state; no dead end short of a final state.
        reached = set(self.initial_states) & states
        frontier = list(reached)
        while frontier:
            for nxt in outgoing.get(frontier.pop(), ()):
                if nxt not in reached:
                    reached.add(nxt)
                    frontier.append(nxt)
        for s in self.states:
            if s not in reached:
                errors.append(f"state {s!r} is unreachable")
            if s not in self.final_states and not outgoing[s] and not any(
                d.state == s for d in self.deadlines
            ):
                errors.append(f"state {s!r} is a dead end (no trigger leaves it and it is not final)")
        for d in self.deadlines:
            if d.state not in states:
                errors.append(f"deadline {d.kind!r} is set on unknown state {d.state!r}")
            if not _RULE.fullmatch(d.rule_id):
                errors.append(f"deadline {d.kind!r} names no rule id")
            if d.action.startswith("trigger:"):
                trig = d.action.split(":", 1)[1]
                tr = next((t for t in self.transitions if t.trigger == trig and d.state in t.source), None)
                if tr is None:
                    errors.append(f"deadline {d.kind!r} fires {trig!r}, which does not leave {d.state!r}")
            elif d.action not in self.handlers:
                errors.append(f"deadline {d.kind!r} has unknown action {d.action!r}")
        if self.home is not None:
            for lang in ("zh", "en"):
                if not self.names.get(lang):
                    errors.append(f"no {lang} name (names={{'zh': …, 'en': …}}): mail would show {self.name!r}")
        catalogue = [o.name for o in self.options]
        if len(set(catalogue)) != len(catalogue):
            errors.append("an option is declared twice")
        for o in self.options:
            if not _NAME.fullmatch(o.name) or o.kind not in OPTION_KINDS or not o.help:
                errors.append(f"option {o.name!r}: lower_snake_case name, a kind of {OPTION_KINDS}, and help")
        for c in self.commands:
            if not _NAME.fullmatch(c.group) or not _NAME.fullmatch(c.name) or not c.help:
                errors.append(f"command {c.group} {c.name}: lower_snake_case names and help")
        if self.periodic and self.periods is None:
            errors.append("a periodic process needs `periods`")
        if errors:
            raise DefinitionError(f"{where}: " + "; ".join(errors))
