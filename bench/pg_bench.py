"""pg_tx_per_s: the leave scenario through the real case service on PostgreSQL, 1 and 4 worker processes.

Each worker is its own process with its own `App` on one private schema (created and dropped here).
Per case: open (staff) → approve (director) → start (the daemon's path: lock the case's start deadline
for this worker, then take + fire it in one transaction) → return: 4 counted transactions. Workers use
disjoint staff, so they never wait on each other's rows — what is measured is how the engine scales
with processes. Afterwards the lost-update check: every case `returned`, exactly 4 history rows per
case and `history_count` equal to them, and `app.verify().ok` (the hash chains).

    python bench/pg_bench.py [--cases 200] [--workers 1,4] [--rounds 1]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import engine_tx  # noqa: E402

PG_URL = os.environ.get("OUTPOST_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PEOPLE = 48  # staff per office; divisible by every worker count used
STEPS_PER_CASE = 4


def _dsn() -> str:
    return PG_URL.replace("postgresql+psycopg://", "postgresql://")


def available() -> str | None:
    """None when the local PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg

        with psycopg.connect(_dsn(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:
        return f"no PostgreSQL at {PG_URL}: {type(exc).__name__}: {exc}".splitlines()[0]


def _pg_exec(sql: str) -> None:
    import psycopg

    with psycopg.connect(_dsn(), autocommit=True) as conn:
        conn.execute(sql)


def _settings(url: str, folder: Path) -> Any:
    from workflow.settings import load_settings

    # the signing key beside the run, not in the data folder of whoever runs the bench (PostgreSQL has no file)
    return load_settings({"database_url": url, "outbox_dir": folder / "outbox", "web_key_file": folder / "secret.key"},
                         env={}, cwd=folder)


def _staff(worker: int, workers: int, k: int) -> tuple[str, str]:
    office = "BJ" if k % 2 == 0 else "SZ"
    per = PEOPLE // workers
    return f"s{office}{worker + workers * ((k // 2) % per)}", office


def _one_case(app: Any, clock: Any, owner: str, who: str, office: str, k: int) -> None:
    from sqlalchemy import update

    from store.rows import deadline_from
    from store.schema import deadline_t
    from workflow.timeutil import LOCAL_TZ

    service, store, queue = app.service, app.store, app.ticker.queue
    approver = "wang" if office == "BJ" else "chen"
    day = engine_tx.leave_day(k)
    clock.set(engine_tx.T0)
    case = service.open("leave", who, {"start": day.isoformat(), "end": day.isoformat()})
    service.advance(case.id, "approve", approver)
    start_at = datetime.combine(day, datetime.min.time(), tzinfo=LOCAL_TZ).astimezone(UTC)
    # The daemon's claim, for this case's deadline only (a claim of "anything due" would take other
    # workers' deadlines): lock owner + expiry, committed at once; then take + fire in one transaction.
    with store.transaction() as tx:
        row = tx.conn.execute(update(deadline_t).where(
            deadline_t.c.case_id == case.id, deadline_t.c.kind == "start", deadline_t.c.status == "pending")
            .values(lock_owner=owner, lock_expires_at=start_at + timedelta(minutes=5))
            .returning(*deadline_t.c)).one()
        d = deadline_from(row)
    with store.transaction() as tx:
        assert queue.take(tx, d.id, owner, start_at)
        service.fire(tx, d, start_at)
    clock.set(start_at + timedelta(hours=9))
    service.advance(case.id, "return", who)


def _worker(url: str, worker: int, workers: int, cases: int, barrier: Any, out: Any) -> None:
    from outpost.app import App
    from workflow.clock import FixedClock

    try:
        with tempfile.TemporaryDirectory() as tmp:
            clock = FixedClock(engine_tx.T0)
            app = App(_settings(url, Path(tmp)), clock=clock)
            owner = f"bench-{worker}"
            # warm-up case (statements compiled, org cached): not timed, but checked like the others
            who, office = _staff(worker, workers, 0)
            _one_case(app, clock, owner, who, office, 0)
            barrier.wait(timeout=120)
            cpu = time.process_time()
            began = time.monotonic()
            for k in range(1, cases + 1):
                who, office = _staff(worker, workers, k)
                _one_case(app, clock, owner, who, office, k)
            ended = time.monotonic()
            cpu = time.process_time() - cpu
            app.close()
        out.put({"worker": worker, "began": began, "ended": ended, "tx": cases * STEPS_PER_CASE, "cpu": cpu})
    except Exception as exc:  # reported by the parent: a worker that failed is a failed measurement
        out.put({"worker": worker, "error": f"{type(exc).__name__}: {exc}"[:400]})
        with contextlib.suppress(Exception):
            barrier.abort()


def run_once(workers: int, cases: int) -> dict[str, Any]:
    """One fresh schema, `workers` processes × `cases` cases each. Transactions per second + checks."""
    from sqlalchemy import text

    from outpost.app import App
    from workflow.clock import FixedClock

    schema = f"outpost_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    _pg_exec(f"CREATE SCHEMA {schema}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            app = App(_settings(url, folder), clock=FixedClock(engine_tx.T0))
            app.init()
            app.load_org(engine_tx.org_file(folder, PEOPLE))
            app.close()
            # fork: the workers start from this process's imports (spawn would import everything again);
            # this process holds no database connection at this point.
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            barrier = ctx.Barrier(workers)
            out = ctx.Queue()
            procs = [ctx.Process(target=_worker, args=(url, w, workers, cases, barrier, out))
                     for w in range(workers)]
            for p in procs:
                p.start()
            results = [out.get(timeout=900) for _ in procs]
            for p in procs:
                p.join(timeout=60)
            errors = [r["error"] for r in results if "error" in r]
            if errors:
                raise RuntimeError(f"{len(errors)} worker(s) failed: {errors[0]}")
            wall = max(r["ended"] for r in results) - min(r["began"] for r in results)
            total = sum(r["tx"] for r in results)
            # -- lost-update check ------------------------------------------------------------------
            app = App(_settings(url, folder), clock=FixedClock(engine_tx.T0))
            expected = workers * (cases + 1)
            with app.store.transaction(write=False) as tx:
                states = dict(tx.conn.execute(text(
                    "SELECT state, count(*) FROM cases WHERE process = 'leave' GROUP BY state")).all())
                bad_count = tx.conn.execute(text(
                    "SELECT count(*) FROM cases c WHERE c.process = 'leave' AND (c.history_count <> 4 OR "
                    "(SELECT count(*) FROM history h WHERE h.case_id = c.id) <> 4)")).scalar_one()
                history = tx.conn.execute(text(
                    "SELECT count(*) FROM history h JOIN cases c ON c.id = h.case_id "
                    "WHERE c.process = 'leave'")).scalar_one()
            verified = app.verify().ok
            app.close()
            ok = (states == {"returned": expected} and bad_count == 0 and history == 4 * expected and verified)
            client_cpu = sum(r["cpu"] for r in results)
            return {"workers": workers, "tx": total, "seconds": wall, "tx_per_s": total / wall,
                    "client_cpu_us_per_tx": client_cpu / total * 1e6, "client_cpu_share": client_cpu / wall,
                    "cases": expected, "states": states, "history_rows": history, "bad_history": bad_count,
                    "verify_ok": verified, "no_lost_update": ok}
    finally:
        _pg_exec(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def measure(cases: int, worker_counts: tuple[int, ...] = (1, 4), rounds: int = 1) -> dict[str, Any]:
    """Interleaved rounds; median transactions per second per worker count, and every check."""
    runs: dict[int, list[dict[str, Any]]] = {w: [] for w in worker_counts}
    for _ in range(rounds):
        for w in worker_counts:
            runs[w].append(run_once(w, cases))
    return {
        "tx_per_s": {w: statistics.median(r["tx_per_s"] for r in rs) for w, rs in runs.items()},
        "client_cpu_us_per_tx": {w: statistics.median(r["client_cpu_us_per_tx"] for r in rs)
                                 for w, rs in runs.items()},
        "client_cpu_share": {w: statistics.median(r["client_cpu_share"] for r in rs) for w, rs in runs.items()},
        "no_lost_update": all(r["no_lost_update"] for rs in runs.values() for r in rs),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200, help="cases per worker")
    parser.add_argument("--workers", default="1,4")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    reason = available()
    if reason:
        raise SystemExit(f"pg_tx_per_s skipped: {reason}")
    counts = tuple(int(w) for w in args.workers.split(","))
    result = measure(args.cases, counts, args.rounds)
    for w, v in result["tx_per_s"].items():
        print(f"pg_tx_per_s workers={w}: {v:.0f} tx/s (client CPU {result['client_cpu_us_per_tx'][w]:.0f} µs/tx, "
              f"{result['client_cpu_share'][w]:.2f} cores busy in the workers)")
    if len(counts) > 1:
        print(f"pg ratio {counts[-1]} ÷ {counts[0]} workers: "
              f"{result['tx_per_s'][counts[-1]] / result['tx_per_s'][counts[0]]:.2f} (target ≥ 1.5)")
    print(f"no lost update: {result['no_lost_update']}")


if __name__ == "__main__":
    main()
