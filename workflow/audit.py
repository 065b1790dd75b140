"""`outpost audit verify`: recompute every history chain and name the first row that does not fit."""

from __future__ import annotations

from dataclasses import dataclass

from workflow.hashing import GENESIS, history_hash
from workflow.ports import CaseStore


@dataclass(frozen=True)
class AuditResult:
    cases: int
    rows: int
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(store: CaseStore) -> AuditResult:
    cases = rows = 0
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
    return AuditResult(cases, rows, None)
