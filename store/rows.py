"""Row mapping: table rows (store/schema.py) to the engine's objects (workflow/model.py) and back.

A row is SQLAlchemy's `Row` or, from the prepared statements of store/fast.py, the dict the driver's values
were converted into; the functions here read either by column name (`by_name`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import bindparam, insert

from workflow.model import Case, Deadline, HistoryEntry, Item, Mail, OffSite

__all__ = ["by_name", "case_from", "deadline_from", "deadline_values", "history_from", "insert_all",
           "item_from", "mail_from", "offsite_from"]


def by_name(row: Any) -> Mapping[str, Any]:
    """The row's columns by name: a prepared statement's dict as it is, SQLAlchemy's Row by its mapping
    (reading 14 columns as attributes of a dict subclass cost ~3 µs a row: each falls back to __getattr__)."""
    return row if isinstance(row, dict) else row._mapping


def case_from(row: Any) -> Case:
    r = by_name(row)
    return Case(
        id=r["id"], process=r["process"], definition_version=r["definition_version"], office=r["office"],
        subject=r["subject"], period=r["period"], state=r["state"], version=r["version"],
        data=dict(r["data"] or {}), opened_at=r["opened_at"], opened_by=r["opened_by"],
        updated_at=r["updated_at"], history_count=r["history_count"], history_head=r["history_head"],
    )


def item_from(row: Any) -> Item:
    r = by_name(row)
    return Item(id=r["id"], case_id=r["case_id"], kind=r["kind"], status=r["status"], data=dict(r["data"] or {}),
                created_at=r["created_at"], created_by=r["created_by"], updated_at=r["updated_at"])


def history_from(row: Any) -> HistoryEntry:
    r = by_name(row)
    return HistoryEntry(
        id=r["id"], case_id=r["case_id"], seq=r["seq"], trigger=r["trigger"], from_state=r["from_state"],
        to_state=r["to_state"], actor=r["actor"], at=r["at"], comment=r["comment"],
        override_reason=r["override_reason"], definition_version=r["definition_version"],
        details=dict(r["details"] or {}), prev_hash=r["prev_hash"], hash=r["hash"],
    )


def deadline_from(row: Any) -> Deadline:
    r = by_name(row)
    return Deadline(
        id=r["id"], case_id=r["case_id"], kind=r["kind"], due_at=r["due_at"], rule_id=r["rule_id"],
        why=r["why"], action=r["action"], for_state=r["for_state"], created_at=r["created_at"],
        occurrence=r["occurrence"], created_seq=r["created_seq"], payload=dict(r["payload"] or {}),
        status=r["status"], fired_at=r["fired_at"], attempts=r["attempts"], last_error=r["last_error"],
    )


def mail_from(row: Any) -> Mail:
    r = by_name(row)
    return Mail(
        id=r["id"], case_id=r["case_id"], event=r["event"], dedupe_key=r["dedupe_key"],
        message_id=r["message_id"], recipients=list(r["recipients"] or []), params=dict(r["params"] or {}),
        lang=r["lang"], created_at=r["created_at"], next_attempt_at=r["next_attempt_at"],
        subject=r["subject"], status=r["status"], attempts=r["attempts"], last_error=r["last_error"],
        sent_at=r["sent_at"],
    )


def offsite_from(row: Any) -> OffSite:
    r = by_name(row)
    return OffSite(person=r["person"], start=r["start"], end=r["end"], case_id=r["case_id"], source=r["source"])


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
