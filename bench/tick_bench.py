"""Tick cost against the number of open deadlines: the tick must cost O(due), not O(open).

    python bench/tick_bench.py [--sizes 1000,10000,100000] [--due 100] [--json]

For each size N: a fresh SQLite file (WAL) with N open deadlines far in the future plus `due` real
leave cases whose approver reminder is due; one tick is timed (it fires exactly the `due` reminders).
A first, untimed tick before the reminders are due opens the periodic cases of the day. The sizes are
built once and ticked in interleaved rounds (`--repeat`), the reminders re-armed between rounds.
Prints one line per size (the median) and the ratio of the largest to the smallest.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from outpost.app import App  # noqa: E402
from store.schema import cases_t  # noqa: E402
from workflow.clock import FixedClock  # noqa: E402
from workflow.settings import load_settings  # noqa: E402
from workflow.timeutil import LOCAL_TZ  # noqa: E402

OPENED = datetime(2026, 11, 2, 10, 0, tzinfo=LOCAL_TZ)
TICK_AT = datetime(2026, 11, 4, 10, 30, tzinfo=LOCAL_TZ)  # reminders due (their working day ended), not escalations


def build(folder: Path, open_deadlines: int, due: int, filler: str = "deadlines") -> App:
    """`filler="deadlines"`: N open deadlines on one filler case; `"cases"`: N open leave cases, each with
    one pending deadline (issue 3 counts open cases, issue 6 open deadlines)."""
    settings = load_settings({"database_url": f"sqlite:///{folder / 'bench.db'}", "outbox_dir": folder / "outbox"},
                             env={}, cwd=folder)
    app = App(settings, clock=FixedClock(OPENED))
    app.init()
    app.load_org(ROOT / "examples" / "org.toml")
    for i in range(due):
        who = ("zhao", "huang")[i % 2]
        day = (datetime(2026, 12, 21) + timedelta(days=i // 2)).date().isoformat()
        app.service.open("leave", who, {"start": day, "end": day})
    far = datetime(2030, 1, 1, tzinfo=UTC)
    now = OPENED.astimezone(UTC)
    if filler == "cases":
        _fill_cases(app, open_deadlines, far, now)
    else:
        _fill_deadlines(app, open_deadlines, far, now)
    with app.store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    with sqlite3.connect(folder / "bench.db") as raw:  # the bulk load's checkpoint is not the tick's
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return app


def _fill_cases(app: App, n: int, far: datetime, now: datetime) -> None:
    """N pending leave cases (half per office), each with one far deadline, generated inside SQLite."""
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    with app.store.transaction() as tx:
        base = tx.conn.exec_driver_sql("SELECT max(id) FROM cases").scalar_one()
        tx.conn.exec_driver_sql(
            "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?) "
            "INSERT INTO cases (id, process, definition_version, office, subject, period, state, version, data, "
            "opened_at, opened_by, updated_at, history_count, history_head) "
            "SELECT ? + i, 'leave', 1, CASE i % 2 WHEN 0 THEN 'BJ' ELSE 'SZ' END, NULL, NULL, 'pending', 1, "
            "'{\"v\": 1}', ?, NULL, ?, 0, '' FROM seq", (n, base, stamp, stamp))
        _fill_deadline_rows(tx, n, base, 1, far, stamp)  # case base + i gets deadline i


def _fill_deadlines(app: App, open_deadlines: int, far: datetime, now: datetime) -> None:
    """N far deadlines, all on one filler case."""
    with app.store.transaction() as tx:
        filler = tx.conn.execute(insert(cases_t).values(
            process="leave", definition_version=1, office="BJ", subject="zhao", period=None, state="pending",
            version=1, data={"v": 1}, opened_at=now, opened_by="zhao", updated_at=now, history_count=0,
            history_head="").returning(cases_t.c.id)).scalar_one()
        _fill_deadline_rows(tx, open_deadlines, filler, 0, far, now.strftime("%Y-%m-%d %H:%M:%S.%f"))


def _fill_deadline_rows(tx: Any, n: int, first_case: int, case_step: int, far: datetime, stamp: str) -> None:
    """N pending deadlines, the i-th (1…N) on case `first_case + i * case_step`, due `far` + i minutes.
    Generated inside SQLite (1M rows in seconds, not minutes), in the format SQLAlchemy stores: the same
    rows as inserting {"due_at": far + i minutes, "payload": {}, ...} through Core."""
    tx.conn.exec_driver_sql(
        "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?) "
        "INSERT INTO deadline (case_id, kind, action, for_state, created_seq, occurrence, due_at, rule_id, "
        "why, payload, status, created_at, attempts) "
        "SELECT ? + i * ?, 'filler', 'remind_approver', 'pending', 0, i, "
        "strftime('%Y-%m-%d %H:%M:%S', ?, '+' || i || ' minutes') || '.000000', 'R-2.8', "
        "'benchmark filler', '{}', 'pending', ?, 0 FROM seq",
        (n, first_case, case_step, far.strftime("%Y-%m-%d %H:%M:%S"), stamp))


def prime(app: App) -> None:
    """A first real tick, before the reminders are due: it opens the periodic cases that are due to exist
    (and fires what they make due at once), so that the timed tick fires the leave reminders only."""
    app.clock.set(OPENED)  # type: ignore[attr-defined]
    app.ticker.tick(OPENED)
    app.clock.set(TICK_AT)  # type: ignore[attr-defined]
    app.ticker.tick(TICK_AT, dry_run=True)  # warm caches (org, definitions, statements)


def timed_tick(app: App, due: int) -> float:
    """Seconds for one tick at TICK_AT, which must fire exactly the `due` leave reminders."""
    began = time.perf_counter()
    report = app.ticker.tick(TICK_AT)
    took = time.perf_counter() - began
    leave = [f for f in report.fired if f.get("process") == "leave" and f["kind"] == "remind_approver"]
    assert len(leave) == due, (len(leave), len(report.fired), report.failed[:3])
    return took


def rearm(app: App, folder: Path) -> None:
    """Make the same `due` reminders due again (and drop the mail they queued), for another timed tick."""
    with sqlite3.connect(folder / "bench.db") as raw:
        raw.execute("UPDATE deadline SET status = 'pending', fired_at = NULL, attempts = 0 "
                    "WHERE kind = 'remind_approver' AND status = 'fired'")
        raw.execute("DELETE FROM mail WHERE event = 'leave.reminder'")
    with sqlite3.connect(folder / "bench.db") as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def measure(open_deadlines: int, due: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        app = build(Path(tmp), open_deadlines, due)
        prime(app)
        took = timed_tick(app, due)
        app.close()
        return took


def measure_sizes(sizes: list[int], due: int, repeat: int,
                  progress: Callable[[str], None] = lambda _m: None,
                  filler: str = "deadlines") -> dict[int, list[float]]:
    """One database per size, built once; then `repeat` rounds of one timed tick per size, interleaved
    (the reminders are re-armed between rounds). Seconds per tick, per size."""
    results: dict[int, list[float]] = {n: [] for n in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        apps: dict[int, tuple[App, Path]] = {}
        try:
            for n in sizes:
                folder = Path(tmp) / str(n)
                folder.mkdir()
                began = time.perf_counter()
                apps[n] = (build(folder, n, due, filler), folder)
                prime(apps[n][0])
                progress(f"built {n} open {filler} in {time.perf_counter() - began:.1f} s")
            for r in range(repeat):
                for n in sizes:
                    app, folder = apps[n]
                    if r:
                        rearm(app, folder)
                    results[n].append(timed_tick(app, due))
        finally:
            for app, _folder in apps.values():
                app.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--filler", choices=("deadlines", "cases"), default="deadlines",
                        help="what there are N of: open deadlines on one case, or open cases")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = measure_sizes(sizes, args.due, args.repeat, filler=args.filler)
    results = {n: statistics.median(v) for n, v in runs.items()}
    for n in sizes:
        if not args.json:
            print(f"tick_ms open {args.filler}={n:>8} due={args.due}: {results[n] * 1000:8.1f} ms "
                  f"({results[n] / args.due * 1e6:.0f} µs per fired deadline)", flush=True)
    ratio = results[sizes[-1]] / results[sizes[0]]
    if args.json:
        print(json.dumps({"tick_ms": {str(n): round(v * 1000, 2) for n, v in results.items()},
                          "due": args.due, "ratio_largest_to_smallest": round(ratio, 3)}))
    else:
        print(f"tick_scaling ratio {sizes[-1]} ÷ {sizes[0]}: {ratio:.2f} (target ≤ 2)")


if __name__ == "__main__":
    main()
