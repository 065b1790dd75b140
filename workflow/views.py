"""The JSON shapes of PRODUCT.md ("JSON shapes"), built from plain model objects."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from workflow.model import Case, Deadline, HistoryEntry, Mail, Org
from workflow.timeutil import local_iso

# an instant as case data keeps it (`ctx.now.isoformat()`, UTC): date, time and an offset
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([+-]\d{2}:\d{2}|Z)")


def local_instants(value: Any) -> Any:
    """`value` with every instant written in it shown in Asia/Shanghai (R-0.4): case data and history
    details keep instants in UTC (`2027-06-25T15:59:00+00:00`); a person reads `2027-06-25T23:59:00+08:00`,
    the same instant. Dates, numbers and other text are left as they are."""
    if isinstance(value, str):
        if _INSTANT.fullmatch(value):
            try:
                return local_iso(datetime.fromisoformat(value))
            except ValueError:
                return value
        return value
    if isinstance(value, dict):
        return {k: local_instants(v) for k, v in value.items()}
    if isinstance(value, list):
        return [local_instants(v) for v in value]
    return value


def case_json(case: Case, deadlines: list[Deadline] | None = None,
              history: list[HistoryEntry] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": case.id,
        "process": case.process,
        "office": case.office,
        "state": case.state,
        "subject": case.subject,
        "period": case.period,
        "opened_at": local_iso(case.opened_at),
        "opened_by": case.opened_by,
        "version": case.version,
        "definition_version": case.definition_version,
        "data": local_instants(case.data),
    }
    if deadlines is not None:
        out["deadlines"] = [deadline_json(d) for d in deadlines]
    if history is not None:
        out["history"] = [history_json(h) for h in history]
    return out


def deadline_json(d: Deadline) -> dict[str, Any]:
    return {"id": d.id, "kind": d.kind, "due_at": local_iso(d.due_at), "why": d.why, "rule": d.rule_id,
            "status": d.status, "fired_at": local_iso(d.fired_at)}


def history_json(h: HistoryEntry) -> dict[str, Any]:
    return {"seq": h.seq, "trigger": h.trigger, "from": h.from_state, "to": h.to_state, "actor": h.actor,
            "at": local_iso(h.at), "comment": h.comment, "override": h.override_reason,
            "details": local_instants(h.details)}


def mail_json(m: Mail) -> dict[str, Any]:
    return {"id": m.id, "case": m.case_id, "event": m.event, "to": m.to, "subject": m.subject,
            "status": m.status, "attempts": m.attempts, "created_at": local_iso(m.created_at),
            "message_id": m.message_id, "last_error": m.last_error}


def org_json(org: Org) -> dict[str, Any]:
    return {
        "offices": [{"code": o.code, "name": o.name, "city": o.city, "covers": list(o.covers)}
                    for o in sorted(org.offices.values(), key=lambda o: o.code)],
        "people": [{"id": p.id, "name": p.name, "email": p.email, "office": p.office,
                    "roles": sorted(p.roles), "active": p.active}
                   for p in sorted(org.people.values(), key=lambda p: p.id)],
    }
