"""The history hash chain (PRODUCT.md, engine guarantee 2)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
# the canonical JSON of a history row: built once (json.dumps with these options builds one per call)
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def history_hash(
    prev_hash: str,
    case_id: int,
    seq: int,
    trigger: str,
    from_state: str | None,
    to_state: str,
    actor: str | None,
    at: datetime,
    comment: str | None,
    override_reason: str | None,
    definition_version: int,
    details: dict[str, Any],
) -> str:
    """SHA-256 over the previous hash and a canonical JSON of every recorded field."""
    body = _canonical(
        [case_id, seq, trigger, from_state, to_state, actor,
         at.astimezone(UTC).isoformat(timespec="microseconds"), comment, override_reason,
         definition_version, details],
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()
