"""What guards, permissions, effects and deadline handlers see: one context per step."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from workflow.calendar import WorkCalendar
from workflow.definition import ProcessDefinition
from workflow.errors import DefinitionError
from workflow.model import Case, Deadline, Org, Person
from workflow.policy import Policy
from workflow.ports import Tx
from workflow.timeutil import local_date
from workflow.tracking import tracking_from


@dataclass
class PendingMail:
    event: str
    people: list[Person]
    rule_id: str
    key: str
    extra: dict[str, Any]


@dataclass
class PendingRecord:
    trigger: str
    details: dict[str, Any]
    comment: str | None = None


@dataclass
class FollowUp:
    """A step of another case that this step entails (a leave's extensions withdrawn with it, R-2.6): run
    by the engine in the same transaction, after this step, with this step's actor, its permission not
    asked again (the rules are)."""

    case_id: int
    trigger: str
    params: dict[str, Any]
    details: dict[str, Any]


@dataclass
class Ctx:
    tx: Tx
    org: Org
    definition: ProcessDefinition
    case: Case | None
    actor: Person | None  # None: the daemon
    now: datetime
    policy: Policy
    calendar: WorkCalendar
    trigger: str
    params: dict[str, Any] = field(default_factory=dict)
    comment: str | None = None
    override: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # recorded in the history row
    overridden: list[str] = field(default_factory=list)  # rule ids passed by `--override`
    deadline: Deadline | None = None  # the deadline being fired, for handlers
    mail: list[PendingMail] = field(default_factory=list)
    records: list[PendingRecord] = field(default_factory=list)
    scheduled: list[Deadline] = field(default_factory=list)
    follow_ups: list[FollowUp] = field(default_factory=list)
    queued: int = 0  # mail rows written by this step
    next_due: datetime | None = None  # the earliest deadline this step set (the tick fires one already due)
    tracking_override: date | None = None  # outpost.toml's `tracking_from`, over the stored one
    # Acting for `actor` under a dated delegation (workflow/delegation.py): the person who fires the step
    # with the actor's authority. The history row records them, with `acting_for` the actor.
    delegate: Person | None = None

    def pass_rule(self, rule_id: str, was: str) -> None:
        """A rule passed on purpose with --override: said in the history row with what it had refused."""
        self.overridden.append(rule_id)
        self.details.setdefault("overridden", []).append({"rule": rule_id, "was": was})

    def tracking_from(self) -> date | None:
        """The day from which Outpost follows the periodic duties (workflow/tracking.py); read when asked."""
        return tracking_from(self.tx, self.tracking_override)

    @property
    def acted_by(self) -> Person | None:
        """Who fires the step: the delegate acting for the actor, else the actor (None: the daemon)."""
        return self.delegate or self.actor

    @property
    def actors(self) -> frozenset[str]:
        """Everyone whose hand is in the step: the actor and the delegate acting for them. A rule that keeps
        a person off their own case (R-2.4, R-4.3) asks about each, so it holds through a delegation."""
        return frozenset(p.id for p in (self.actor, self.delegate) if p is not None)

    @property
    def today(self) -> date:
        return local_date(self.now)

    @property
    def data(self) -> dict[str, Any]:
        assert self.case is not None
        return self.case.data

    def require_case(self) -> Case:
        assert self.case is not None, "no case in this context"
        return self.case

    def notify(self, event: str, people: list[Person], rule_id: str, key: str | None = None,
               **extra: Any) -> None:
        """Queue one mail per person (de-duplicated) in this transaction.

        `extra` goes to the template: `due_at` (an aware datetime: what is due, when), `actions`
        (triggers the recipient is invited to fire), anything else the event's template names.
        """
        if event not in self.definition.all_events:
            raise DefinitionError(f"process {self.definition.name!r} sends undeclared mail event {event!r}")
        unique = list({p.id: p for p in people}.values())
        if unique:
            self.mail.append(PendingMail(event, unique, rule_id, key or "", dict(extra)))

    def record(self, trigger: str, details: dict[str, Any], comment: str | None = None) -> None:
        """Add a history row that changes no state (an escalation, a flag, a finding)."""
        self.records.append(PendingRecord(trigger, details, comment))

    def follow(self, case_id: int, trigger: str, params: dict[str, Any] | None = None,
               **details: Any) -> None:
        """After this step, fire `trigger` on case `case_id` too, in the same transaction (`FollowUp`);
        `details` go to that case's history row. Skipped if that case cannot take the trigger by then."""
        self.follow_ups.append(FollowUp(case_id, trigger, dict(params or {}), details))

    def schedule(self, deadline: Deadline) -> None:
        self.scheduled.append(deadline)
