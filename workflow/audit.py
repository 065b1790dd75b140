"""`outpost audit verify`: recompute every history chain and name the first row that does not fit.

Each case keeps the head of its chain (row count and newest hash) on its own row, so deleting or editing
any history row, the newest included, is noticed (PRODUCT.md guarantee 2). Someone who may write to the
database can still remove a case's newest rows *and* rewind its head, or remove a whole case: nothing kept
in the same database can show that. A seal (`outpost audit seal`) is a copy of every chain's head kept
outside it, like a transparency log's checkpoint; `audit verify --seal FILE` then proves that every row
the seal counted is still there, unchanged, and that the history only grew since.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflow.errors import BadInput
from workflow.hashing import GENESIS, history_hash
from workflow.ports import CaseStore
from workflow.timeutil import LOCAL_TZ

SEAL_VERSION = 1


@dataclass(frozen=True)
class AuditResult:
    cases: int
    rows: int
    problem: str | None
    heads: dict[str, list[Any]] = field(default_factory=dict)  # case id → [rows, newest hash], as verified

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(store: CaseStore, seal: dict[str, Any] | None = None, keep_heads: bool = False) -> AuditResult:
    """Every chain recomputed; with a seal, also every sealed row found where the seal counted it. With
    `keep_heads` the result lists every chain's head (for a new seal; a plain verify keeps none in memory)."""
    sealed: dict[int, tuple[int, str]] = dict(_sealed_heads(seal)) if seal is not None else {}
    cases = rows = 0
    heads: dict[str, list[Any]] = {}
    for case, chain in store.iter_history_chains():
        if case is None:
            first = chain[0]
            return AuditResult(cases, rows, f"history row id={first.id} (case {first.case_id}, seq {first.seq}): "
                                            "belongs to no case")
        cases += 1
        prev = GENESIS
        for expected_seq, row in enumerate(chain, start=1):
            where = f"history row id={row.id} (case {case.id}, seq {row.seq})"
            if row.seq != expected_seq:
                missing = "deleted or inserted" if row.seq > expected_seq else "duplicated"
                return AuditResult(cases, rows, f"{where}: expected seq {expected_seq}; a row was {missing}")
            if row.prev_hash != prev:
                return AuditResult(cases, rows, f"{where}: does not chain to the row before it")
            recomputed = history_hash(prev, row.case_id, row.seq, row.trigger, row.from_state, row.to_state,
                                      row.actor, row.at, row.comment, row.override_reason,
                                      row.definition_version, row.details)
            if recomputed != row.hash:
                return AuditResult(cases, rows, f"{where}: contents were edited (hash mismatch)")
            if expected_seq > 1 and chain[expected_seq - 2].to_state != row.from_state and \
                    row.from_state is not None:
                return AuditResult(cases, rows, f"{where}: starts from {row.from_state}, but the row before "
                                                f"ended in {chain[expected_seq - 2].to_state}")
            prev = row.hash
            rows += 1
        if len(chain) != case.history_count or prev != (case.history_head or GENESIS):
            last = chain[-1] if chain else None
            where = (f"history row id={last.id} (case {case.id}, seq {last.seq})" if last
                     else f"case {case.id}")
            return AuditResult(cases, rows, f"{where}: the chain ends here but case {case.id} records "
                                            f"{case.history_count} rows; its newest row(s) were removed or edited")
        if chain and chain[-1].to_state != case.state:
            return AuditResult(cases, rows, f"case {case.id}: state {case.state} does not match its history "
                                            f"({chain[-1].to_state})")
        if chain and keep_heads:
            heads[str(case.id)] = [len(chain), prev]
        if case.id in sealed:
            count, head = sealed.pop(case.id)
            if len(chain) < count:
                return AuditResult(cases, rows, f"case {case.id}: the seal of {seal_at(seal)} counted {count} "
                                                f"history rows, now {len(chain)}: rows were removed")
            if chain[count - 1].hash != head:
                row = chain[count - 1]
                return AuditResult(cases, rows, f"history row id={row.id} (case {case.id}, seq {row.seq}): "
                                                f"differs from the seal of {seal_at(seal)}; the history was rewritten")
    if sealed:
        gone = min(sealed)
        return AuditResult(cases, rows, f"case {gone}: in the seal of {seal_at(seal)} with {sealed[gone][0]} "
                                        f"history rows, now missing from the database ({len(sealed)} sealed "
                                        "case(s) missing)")
    return AuditResult(cases, rows, None, heads)


# -- seals ---------------------------------------------------------------------------------------------------
def _digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def make_seal(store: CaseStore, at: datetime) -> dict[str, Any]:
    """The head of every chain, as verified in the same pass (a broken history is not sealed)."""
    result = verify(store, keep_heads=True)
    if not result.ok:
        raise BadInput(f"not sealed: the history is already broken: {result.problem}")
    heads = result.heads
    body: dict[str, Any] = {"v": SEAL_VERSION, "at": at.astimezone(LOCAL_TZ).isoformat(),
                            "rows": sum(c for c, _h in heads.values()), "cases": heads}
    return {**body, "digest": _digest(body)}


def seal_at(seal: dict[str, Any] | None) -> str:
    return str((seal or {}).get("at", "?"))


def parse_seal(text: str, source: str) -> dict[str, Any]:
    """A seal file, checked for shape and against its own digest (a damaged seal proves nothing)."""
    try:
        seal = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"seal {source}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(seal, dict) or seal.get("v") != SEAL_VERSION:
        raise BadInput(f"seal {source}: not an Outpost seal of version {SEAL_VERSION} "
                       "(`outpost audit seal` writes one)")
    body = {k: v for k, v in seal.items() if k != "digest"}
    if set(body) != {"v", "at", "rows", "cases"} or not isinstance(seal.get("cases"), dict):
        raise BadInput(f"seal {source}: expected the keys v, at, rows, cases, digest")
    try:
        heads = list(_sealed_heads(seal))
    except (TypeError, ValueError):
        raise BadInput(f"seal {source}: cases must map a case id to [rows, head hash]") from None
    if seal.get("digest") != _digest(body) or sum(c for _id, (c, _h) in heads) != seal.get("rows"):
        raise BadInput(f"seal {source}: its digest does not match its contents; the seal itself was altered")
    return seal


def _sealed_heads(seal: dict[str, Any]) -> list[tuple[int, tuple[int, str]]]:
    out = []
    for key, value in seal["cases"].items():
        count, head = value
        if not isinstance(count, int) or isinstance(count, bool) or count < 1 or not isinstance(head, str):
            raise ValueError(key)
        out.append((int(key), (count, head)))
    return out
