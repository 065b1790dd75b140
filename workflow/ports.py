"""The doors to the outside: what the engine needs from persistence, as small interfaces.

`store/` implements them with SQLAlchemy; nothing in `workflow/` imports a database library.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from workflow.model import (
    Case,
    Deadline,
    Delegation,
    Due,
    HistoryEntry,
    Item,
    Mail,
    Office,
    OffSite,
    Org,
    Person,
    Record,
)


@dataclass(frozen=True)
class CaseFilter:
    process: str | None = None
    office: str | None = None
    state: str | None = None
    overdue_at: datetime | None = None  # only cases with a pending deadline due before this instant
    limit: int | None = None


@dataclass(frozen=True)
class OrgChange:
    offices_added: tuple[str, ...]
    offices_changed: tuple[str, ...]
    people_added: tuple[str, ...]
    people_changed: tuple[str, ...]
    people_removed: tuple[str, ...]
    # (person id, office, old roles, new roles) for each leading cadre whose role changed or who left
    cadre_changes: tuple[tuple[str, str | None, frozenset[str], frozenset[str]], ...]

    @property
    def changed(self) -> bool:
        return bool(
            self.offices_added or self.offices_changed or self.people_added or self.people_changed
            or self.people_removed
        )


class CaseTx(Protocol):
    """Cases, their history, their deadlines and the mail their steps queue."""

    def get_case(self, case_id: int) -> Case | None: ...

    def find_case(self, process: str, office: str | None, period: str) -> Case | None: ...

    def cases_of(self, process: str, subject: str, states: Sequence[str] | None = None) -> list[Case]:
        """The subject's cases of `process`, oldest first; only those in `states` when given."""
        ...

    def insert_case(self, case: Case) -> int: ...

    def update_case(self, case: Case, expected_version: int) -> None:
        """Write the case back; raise `Conflict` when its version is no longer `expected_version`."""
        ...

    def offices_with_case(self, process: str, period: str) -> set[str]: ...

    def append_history(self, entry: HistoryEntry) -> None: ...

    def history(self, case_id: int) -> list[HistoryEntry]: ...

    def deadlines(self, case_id: int, pending_only: bool = False) -> list[Deadline]: ...

    def next_due(self, case_id: int, limit: int | None = None) -> list[Due]:
        """The case's pending deadlines as a page shows them, the one falling due first on top (up to `limit`)."""
        ...

    def add_deadlines(self, rows: Sequence[Deadline]) -> None: ...

    def cancel_deadlines(self, case_id: int, at: datetime, keep: int | None = None) -> int: ...

    def set_deadline_status(self, deadline: Deadline, status: str, at: datetime) -> None: ...

    def superseded(self, deadline: Deadline, now: datetime, other_kinds: Sequence[str] = ()) -> bool:
        """Is a later pending deadline of the same kind (or one of `other_kinds`) on the case due too?"""
        ...

    def queue_mail(self, rows: Sequence[Mail]) -> int:
        """Insert mail rows; a row whose dedupe key is already queued is skipped. Returns rows added."""
        ...


class ItemTx(Protocol):
    """Items logged against a case (information reports, investment projects, ...)."""

    def add_item(self, item: Item) -> int: ...

    def get_item(self, item_id: int) -> Item | None: ...

    def items(self, case_id: int, kind: str | None = None) -> list[Item]: ...

    def update_item(self, item: Item) -> None: ...


class PresenceTx(Protocol):
    """R-2.5: the ledger of days each person is away from their post, added up across cases."""

    def hold_person(self, person: str) -> None:
        """Serialise, until commit, the writers that add up this person's days across cases (R-2.5)."""
        ...

    def off_site(self, person: str, year: int) -> list[OffSite]: ...

    def off_site_on(self, person: str, day: date) -> bool: ...

    def add_off_site(self, row: OffSite) -> None: ...

    def remove_off_site(self, case_id: int) -> None: ...

    def trim_off_site(self, case_id: int, last_day: date) -> None: ...


class OrgTx(Protocol):
    """The organisation: offices, people and their roles."""

    def org(self) -> Org: ...

    def replace_org(self, offices: Sequence[Office], people: Sequence[Person], today: date) -> OrgChange: ...


class MetaTx(Protocol):
    """Small JSON values kept by key (heartbeats, office lifetimes, seals)."""

    def get_meta(self, key: str) -> dict[str, Any] | None: ...

    def set_meta(self, key: str, value: dict[str, Any]) -> None: ...


class RecordTx(Protocol):
    """A process's own records (an office's budget, R-7.2) and what adds up across cases."""

    def add_record(self, record: Record) -> int:
        """Append a record (records are never changed: the newest of a key is the one in force)."""
        ...

    def records(self, process: str, kind: str | None = None, key_prefix: str = "") -> list[Record]:
        """A process's records, oldest first; of one kind, and whose key begins with `key_prefix`."""
        ...

    def cases_in(self, process: str, office: str | None, states: Sequence[str]) -> list[Case]:
        """An office's cases of `process` in one of `states`, oldest first (a budget adds up claims)."""
        ...

    def hold(self, name: str) -> None:
        """Serialise, until commit, the writers that add up one thing across cases (an office's budget)."""
        ...


class DelegationTx(Protocol):
    """Dated delegations (issue 15.4): who acts for whom, from which day to which (workflow/delegation.py)."""

    def delegations(self, person: str | None = None, on: date | None = None,
                    ended: bool = False) -> list[Delegation]:
        """Delegations in id order: only those where `person` is the absent or the acting one, when given;
        only those in force on local day `on`, when given; those ended early only when `ended`."""
        ...

    def get_delegation(self, delegation_id: int) -> Delegation | None: ...

    def add_delegation(self, row: Delegation) -> int: ...

    def end_delegation(self, delegation_id: int, at: datetime, by: str) -> None: ...



@dataclass(frozen=True)
class Link:
    """A mailed link's server-side half: its nonce, what it is for, and when it was used (single use).
    The signed token in the mail names the nonce; the row is what makes the token work once."""

    nonce: str
    purpose: str  # action | login
    person: str
    created_at: datetime
    expires_at: datetime
    case_id: int | None = None
    case_version: int | None = None
    case_seq: int | None = None  # the case's history length when the link was made
    actions: tuple[str, ...] = ()
    used_at: datetime | None = None
    source: str | None = None  # the mail it was made for (a resend of that mail carries the same link)


class LinkTx(Protocol):
    """Mailed links (the web front door's action and sign-in links)."""

    def add_link(self, link: Link) -> None: ...

    def link_for_source(self, source: str) -> Link | None:
        """The newest link made for this mail (Message-ID and recipient), if any."""
        ...

    def get_link(self, nonce: str) -> Link | None: ...

    def use_link(self, nonce: str, purpose: str, now: datetime) -> bool:
        """Mark the link used, if it is unused and unexpired: True for exactly one caller (the row is
        locked until commit, so a concurrent second use waits and then finds it used)."""
        ...


class Tx(CaseTx, ItemTx, PresenceTx, OrgTx, MetaTx, RecordTx, DelegationTx, LinkTx, Protocol):
    """One database transaction, as the engine uses it: every group above, committed together or not at all."""

    def savepoint(self, name: str = "outpost_step") -> AbstractContextManager[None]:
        """Undo the block's writes, and only them, when it raises (the transaction stays usable)."""
        ...


class DeadlineQueue(Protocol):
    """What is due now, claimed so that two daemons never fire the same row."""

    def due(self, now: datetime, limit: int = 1000) -> list[Deadline]: ...

    def count_due(self, now: datetime) -> int: ...

    def claim(self, owner: str, now: datetime, lease: timedelta, limit: int) -> list[Deadline]: ...

    def claim_in(self, tx: CaseTx, owner: str, now: datetime, lease: timedelta, limit: int) -> list[Deadline]:
        """`claim` inside the caller's transaction (a transaction of the same store)."""
        ...

    def take(self, tx: CaseTx, deadline_id: int, owner: str, now: datetime, status: str = "fired") -> bool:
        """Inside the firing transaction: pending → fired, only if still claimed by `owner`."""
        ...

    def failed_attempt(self, deadline_id: int, owner: str, now: datetime, error: str, retry_at: datetime,
                       max_attempts: int) -> str: ...

    def release(self, *owners: str) -> int: ...

    def claim_owners(self) -> set[str]: ...

    def pending_marked(self, fragment: str) -> list[Deadline]:
        """Pending deadlines whose `why` contains `fragment`, in case and due order."""
        ...

    def failed(self) -> list[Deadline]: ...


class CaseStore(Protocol):
    """The persistence of cases, history, deadlines and mail."""

    dialect: str

    def transaction(self, write: bool = True) -> AbstractContextManager[Tx]: ...

    def rehearsal(self) -> AbstractContextManager[Tx]:
        """A writing transaction that is always rolled back: steps played in it show what they would do."""
        ...

    def list_cases(self, flt: CaseFilter) -> list[Case]: ...

    def iter_history_chains(self) -> Iterator[tuple[Case, list[HistoryEntry]]]: ...

    def holidays(self) -> dict[date, tuple[bool, str]]: ...

    def replace_holidays(self, year: int, days: dict[date, tuple[bool, str]]) -> int:
        """A year's official notice replaces what was loaded for that year; returns rows changed."""
        ...

    def mail_counts(self) -> dict[str, int]: ...

    def meta_like(self, prefix: str) -> dict[str, dict[str, Any]]: ...

    def close(self) -> None: ...
