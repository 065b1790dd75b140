"""Row mapping: table rows (store/schema.py) to the engine's objects (workflow/model.py) and back.

A row is SQLAlchemy's `Row` or, from the prepared statements of store/fast.py, a `Row` made of the dict
the driver's values were converted into; both give the columns as attributes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, insert

from workflow.model import Case, Deadline, HistoryEntry, Item, Mail, OffSite

__all__ = ["Row", "case_from", "deadline_from", "deadline_values", "history_from", "insert_all", "item_from",
           "mail_from", "offsite_from"]


class Row(dict[str, Any]):
    """A fetched row with attribute access, like SQLAlchemy's Row."""

    __getattr__ = dict.__getitem__


def case_from(row: Any) -> Case:
    return Case(
        id=row.id, process=row.process, definition_version=row.definition_version, office=row.office,
        subject=row.subject, period=row.period, state=row.state, version=row.version,
        data=dict(row.data or {}), opened_at=row.opened_at, opened_by=row.opened_by,
        updated_at=row.updated_at, history_count=row.history_count, history_head=row.history_head,
    )


def item_from(row: Any) -> Item:
    return Item(id=row.id, case_id=row.case_id, kind=row.kind, status=row.status, data=dict(row.data or {}),
                created_at=row.created_at, created_by=row.created_by, updated_at=row.updated_at)


def history_from(row: Any) -> HistoryEntry:
    return HistoryEntry(
        id=row.id, case_id=row.case_id, seq=row.seq, trigger=row.trigger, from_state=row.from_state,
        to_state=row.to_state, actor=row.actor, at=row.at, comment=row.comment,
        override_reason=row.override_reason, definition_version=row.definition_version,
        details=dict(row.details or {}), prev_hash=row.prev_hash, hash=row.hash,
    )


def deadline_from(row: Any) -> Deadline:
    return Deadline(
        id=row.id, case_id=row.case_id, kind=row.kind, due_at=row.due_at, rule_id=row.rule_id,
        why=row.why, action=row.action, for_state=row.for_state, created_at=row.created_at,
        occurrence=row.occurrence, created_seq=row.created_seq, payload=dict(row.payload or {}), status=row.status,
        fired_at=row.fired_at, attempts=row.attempts, last_error=row.last_error,
    )


def mail_from(row: Any) -> Mail:
    return Mail(
        id=row.id, case_id=row.case_id, event=row.event, dedupe_key=row.dedupe_key,
        message_id=row.message_id, recipients=list(row.recipients or []), params=dict(row.params or {}),
        lang=row.lang, created_at=row.created_at, next_attempt_at=row.next_attempt_at,
        subject=row.subject, status=row.status, attempts=row.attempts, last_error=row.last_error,
        sent_at=row.sent_at,
    )


def offsite_from(row: Any) -> OffSite:
    return OffSite(person=row.person, start=row.start, end=row.end, case_id=row.case_id, source=row.source)


def deadline_values(d: Deadline) -> dict[str, Any]:
    """A new deadline row's columns (unclaimed)."""
    return {
        "case_id": d.case_id, "kind": d.kind, "action": d.action, "for_state": d.for_state,
        "created_seq": d.created_seq, "occurrence": d.occurrence, "due_at": d.due_at,
        "rule_id": d.rule_id, "why": d.why, "payload": d.payload, "status": d.status,
        "created_at": d.created_at, "fired_at": d.fired_at, "attempts": d.attempts,
        "last_error": d.last_error, "lock_owner": None, "lock_expires_at": None,
    }


def insert_all(table: Any, skip: tuple[str, ...] = ("id",)) -> Callable[[], Any]:
    """A builder (for store/fast.py) of an INSERT binding every column but `skip` by its own name."""
    return lambda: insert(table).values({c.key: bindparam(c.key) for c in table.c if c.key not in skip})
