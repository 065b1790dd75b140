"""peer_spiff_ratio: SpiffWorkflow 3 running the same leave approval as bench/engine_tx.py.

bench/leave.bpmn: request → approve (user task) → start (timer on the first day) → return (user task).
Each step is one SQLite transaction (WAL, synchronous=NORMAL): read the case's JSON blob, restore the
workflow with Spiff's BpmnWorkflowSerializer, complete the step, serialize, write the blob back — one
row per case. Like Outpost's benchmark, Spiff runs on a benchmark clock: Spiff's timer reads
`datetime.now()` in its timer module, which is pointed at a settable clock (the "daemon" step sets it
to the first day of the leave and refreshes the timers, as a Spiff application's scheduler would).

    python bench/spiff_bench.py [--cases 500] [--rounds 3]

Needs the `bench` extra (pip install -e '.[bench]'); `available()` says why not when it is missing.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import engine_tx  # noqa: E402

BPMN = HERE / "leave.bpmn"
STEPS_PER_CASE = 4
LAST_RUN: dict[str, Any] = {}  # facts about the last spiff_run (blob_bytes: the largest case's JSON)


def available() -> str | None:
    """None when SpiffWorkflow 3 imports, else the reason it does not."""
    try:
        import SpiffWorkflow  # noqa: F401
        from SpiffWorkflow.bpmn.parser import BpmnParser  # noqa: F401
        from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install
        return f"SpiffWorkflow not importable ({type(exc).__name__}: {exc}); pip install -e '.[bench]'"
    try:
        from importlib.metadata import version

        v = version("SpiffWorkflow")
    except Exception:
        v = "?"
    if not v.startswith("3."):
        return f"SpiffWorkflow {v} installed; the benchmark is written for 3.x"
    return None


def spiff_version() -> str:
    from importlib.metadata import version

    return version("SpiffWorkflow")


class _Clock:
    now_utc = datetime(2027, 1, 4, 1, 0, tzinfo=UTC)


def _install_clock() -> None:
    """Point Spiff's timer module at the benchmark clock (it does `from datetime import datetime`)."""
    from SpiffWorkflow.bpmn.specs.event_definitions import timer

    class BenchDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return _Clock.now_utc if tz is None else _Clock.now_utc.astimezone(tz)

    timer.datetime = BenchDatetime  # type: ignore[misc]


def _spec() -> Any:
    from SpiffWorkflow.bpmn.parser import BpmnParser

    parser = BpmnParser()
    parser.add_bpmn_file(str(BPMN))
    return parser.get_spec("leave")


def _state(wf: Any) -> str:
    from SpiffWorkflow.util.task import TaskState

    if wf.completed:
        return "returned"
    names = sorted(t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.READY | TaskState.WAITING)
                   if t.task_spec.bpmn_id)
    return ",".join(names)


def _user_task(wf: Any, name: str) -> Any:
    from SpiffWorkflow.util.task import TaskState

    ready = [t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == name]
    if len(ready) != 1:
        raise AssertionError(f"expected one ready {name!r} task, found {_state(wf)!r}")
    return ready[0]


def spiff_run(folder: Path, cases: int, people: int = 50) -> float:
    """Seconds for `cases` × 4 transactions through SpiffWorkflow + its JSON serializer + SQLite."""
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    _install_clock()
    spec = _spec()  # parsed once, like Outpost's registry
    serializer = BpmnWorkflowSerializer()
    db = sqlite3.connect(folder / "spiff.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE spiff_case (id INTEGER PRIMARY KEY, process TEXT NOT NULL, state TEXT NOT NULL, "
               "version INTEGER NOT NULL, updated_at TEXT NOT NULL, data TEXT NOT NULL)")
    t0 = engine_tx.T0.astimezone(UTC)

    def load(case_id: int) -> tuple[Any, int]:
        blob, version = db.execute("SELECT data, version FROM spiff_case WHERE id = ?", (case_id,)).fetchone()
        return serializer.deserialize_json(blob), version

    def save(case_id: int, wf: Any, version: int, at: datetime) -> None:
        cur = db.execute("UPDATE spiff_case SET state = ?, version = ?, updated_at = ?, data = ? "
                         "WHERE id = ? AND version = ?",
                         (_state(wf), version + 1, at.isoformat(), serializer.serialize_json(wf), case_id, version))
        assert cur.rowcount == 1

    cpu = began = 0.0
    for i in engine_tx.cases_to_run(cases):
        if i == 0:
            cpu, began = time.process_time(), time.perf_counter()
        who, office = engine_tx.staff(i, people)
        approver = engine_tx.APPROVER["zhao" if office == "BJ" else "huang"]
        day = engine_tx.leave_day(i)
        start_at = datetime.combine(day, datetime.min.time(), tzinfo=engine_tx.LOCAL_TZ).astimezone(UTC)
        # open
        _Clock.now_utc = t0
        db.execute("BEGIN IMMEDIATE")
        wf = BpmnWorkflow(spec)
        (first,) = wf.get_tasks(state=TaskState.READY)  # the start event: its data flows down the path
        first.data.update(requester=who, office=office, approver=approver, start=day.isoformat(),
                          end=day.isoformat(), days=1, start_at=start_at.isoformat())
        wf.do_engine_steps()
        case_id = db.execute("INSERT INTO spiff_case (process, state, version, updated_at, data) "
                             "VALUES ('leave', ?, 1, ?, ?) RETURNING id",
                             (_state(wf), t0.isoformat(), serializer.serialize_json(wf))).fetchone()[0]
        db.execute("COMMIT")
        # approve
        db.execute("BEGIN IMMEDIATE")
        wf, version = load(case_id)
        task = _user_task(wf, "approve")
        task.data.update(approved_by=approver, decision="approve")
        task.run()
        wf.do_engine_steps()
        save(case_id, wf, version, t0)
        db.execute("COMMIT")
        # start: the scheduler on the first day
        _Clock.now_utc = start_at + timedelta(seconds=1)  # Spiff fires when due < now (strictly)
        db.execute("BEGIN IMMEDIATE")
        wf, version = load(case_id)
        wf.refresh_timers()
        wf.do_engine_steps()
        _user_task(wf, "return")  # the timer fired
        save(case_id, wf, version, start_at)
        db.execute("COMMIT")
        # return
        back = start_at + timedelta(hours=9)
        _Clock.now_utc = back
        db.execute("BEGIN IMMEDIATE")
        wf, version = load(case_id)
        task = _user_task(wf, "return")
        task.data.update(returned_on=day.isoformat())
        task.run()
        wf.do_engine_steps()
        assert wf.completed
        save(case_id, wf, version, back)
        db.execute("COMMIT")
    took = time.perf_counter() - began
    engine_tx.LAST_CPU["spiff"] = time.process_time() - cpu
    (done,) = db.execute("SELECT count(*) FROM spiff_case WHERE state = 'returned'").fetchone()
    assert done == cases + 1, (done, cases)  # the warm-up case too
    (LAST_RUN["blob_bytes"],) = db.execute("SELECT max(length(data)) FROM spiff_case").fetchone()
    db.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    reason = available()
    if reason:
        raise SystemExit(f"peer_spiff unavailable: {reason}")
    runs = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(spiff_run(Path(tmp), args.cases) / (args.cases * STEPS_PER_CASE) * 1e6)
    print(f"spiff_us_per_tx {statistics.median(runs):.0f} µs (SpiffWorkflow {spiff_version()}, "
          f"JSON blob {LAST_RUN['blob_bytes']} bytes per finished case)")


if __name__ == "__main__":
    main()
