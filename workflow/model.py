"""Plain data the engine works with. The store maps its rows to these; nothing here knows SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

OFFICE_ROLES = frozenset({"director", "deputy_director", "staff", "petition_deputy"})
GENERAL_OFFICE_ROLES = frozenset({"clerk", "supervising_leader", "finance", "auditor", "org_dept"})
ROLES = OFFICE_ROLES | GENERAL_OFFICE_ROLES
LEADING_CADRE_ROLES = frozenset({"director", "deputy_director"})


@dataclass(frozen=True)
class Office:
    code: str
    name: str
    city: str = ""
    covers: tuple[str, ...] = ()
    # Lifetime (R-1.1, the set of offices is data): added after the first organisation was loaded, its
    # duties start then; left out of a later organisation file, it gets no new duties (its cases stay).
    since: date | None = None
    active: bool = True


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    email: str | None
    office: str | None
    roles: frozenset[str]
    active: bool = True

    def has(self, role: str) -> bool:
        return self.active and role in self.roles


@dataclass(frozen=True)
class Org:
    """A snapshot of the organisation, as loaded by `org load`."""

    offices: dict[str, Office]
    people: dict[str, Person]

    def person(self, person_id: str) -> Person | None:
        return self.people.get(person_id)

    def __post_init__(self) -> None:
        index: dict[str, list[Person]] = {}
        for p in sorted(self.people.values(), key=lambda p: p.id):
            if p.active:
                for role in p.roles:
                    index.setdefault(role, []).append(p)
        object.__setattr__(self, "_by_role", index)

    def holders(self, role: str, office: str | None = None) -> list[Person]:
        """Active people holding `role` (in `office`, when one is given), in id order."""
        found: list[Person] = self._by_role.get(role, [])  # type: ignore[attr-defined]
        return [p for p in found if office is None or p.office == office]

    def director_of(self, office: str) -> Person | None:
        found = self.holders("director", office)
        return found[0] if found else None


@dataclass
class Case:
    id: int
    process: str
    definition_version: int
    office: str | None
    subject: str | None
    period: str | None
    state: str
    version: int
    data: dict[str, Any]
    opened_at: datetime
    opened_by: str | None
    updated_at: datetime
    history_count: int = 0
    history_head: str = ""


@dataclass(frozen=True)
class HistoryEntry:
    case_id: int
    seq: int
    trigger: str
    from_state: str | None
    to_state: str
    actor: str | None
    at: datetime
    comment: str | None
    override_reason: str | None
    definition_version: int
    details: dict[str, Any]
    prev_hash: str
    hash: str
    id: int | None = None


@dataclass
class Deadline:
    case_id: int
    kind: str
    due_at: datetime
    rule_id: str
    why: str
    action: str
    for_state: str
    created_at: datetime
    occurrence: int = 1
    created_seq: int = 0  # the history seq of the state entry that set it
    payload: dict[str, Any] = field(default_factory=dict)
    status: str = "pending"  # pending | fired | cancelled | failed | skipped
    fired_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    id: int | None = None


class Due(NamedTuple):
    """A pending deadline as a person is shown it: when, of what kind, by which rule, and why then."""

    due_at: datetime
    kind: str
    rule_id: str
    why: str


@dataclass
class Mail:
    case_id: int | None
    event: str
    dedupe_key: str
    message_id: str
    recipients: list[dict[str, Any]]
    params: dict[str, Any]
    lang: str
    created_at: datetime
    next_attempt_at: datetime
    subject: str | None = None
    status: str = "queued"  # queued | sent | failed
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    id: int | None = None

    @property
    def to(self) -> list[str]:
        return [r["email"] for r in self.recipients if r.get("email")]


@dataclass
class Item:
    """Something logged against a case: an information item, an investment, an audit finding, a handover."""

    case_id: int
    kind: str
    status: str
    data: dict[str, Any]
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    id: int | None = None


@dataclass(frozen=True)
class OffSite:
    person: str
    start: date
    end: date
    case_id: int | None
    source: str


@dataclass(frozen=True)
class Record:
    """A fact a process keeps that belongs to no case: an office's budget for a year (R-7.2).

    Records are appended, never changed: the newest of a (process, kind, key) is the one in force, the
    older ones are its history (who set what, when and why). A key that belongs to a year begins with it
    (`2027/BJ/travel`), so that a year's report reads its records by prefix."""

    process: str
    kind: str
    key: str
    data: dict[str, Any]
    actor: str | None
    at: datetime
    id: int | None = None


@dataclass(frozen=True)
class Delegation:
    """A dated delegation (issue 15.4): `acting` acts for `absent` from `start` to `end`, both local days
    inclusive (R-0.4). Ended early by `delegate end`, it is in force no more from `ended_at` on."""

    absent: str
    acting: str
    start: date
    end: date
    reason: str | None
    set_by: str
    set_at: datetime
    ended_at: datetime | None = None
    ended_by: str | None = None
    id: int | None = None

    def covers(self, day: date) -> bool:
        """In force on this local day (not ended early)."""
        return self.ended_at is None and self.start <= day <= self.end
