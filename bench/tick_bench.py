"""Tick cost against the number of open deadlines: the tick must cost O(due), not O(open).

    python bench/tick_bench.py [--sizes 1000,10000,100000] [--due 100] [--json]

For each size N: a fresh SQLite file (WAL) with N open deadlines far in the future plus `due` real
leave cases whose approver reminder is due; one tick is timed (it fires exactly the `due` reminders).
Prints one line per size and the ratio of the largest to the smallest.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from store.sql import cases_t, deadline_t  # noqa: E402
from workflow.app import App  # noqa: E402
from workflow.clock import FixedClock  # noqa: E402
from workflow.settings import load_settings  # noqa: E402
from workflow.timeutil import LOCAL_TZ  # noqa: E402

OPENED = datetime(2026, 11, 2, 10, 0, tzinfo=LOCAL_TZ)
TICK_AT = datetime(2026, 11, 3, 10, 30, tzinfo=LOCAL_TZ)  # reminders due, escalations not yet


def build(folder: Path, open_deadlines: int, due: int) -> App:
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
    with app.store.transaction() as tx:
        filler = tx.conn.execute(insert(cases_t).values(
            process="leave", definition_version=1, office="BJ", subject="zhao", period=None, state="pending",
            version=1, data={"v": 1}, opened_at=now, opened_by="zhao", updated_at=now, history_count=0,
            history_head="").returning(cases_t.c.id)).scalar_one()
        chunk = 20000
        for lo in range(0, open_deadlines, chunk):
            tx.conn.execute(insert(deadline_t), [
                {"case_id": filler, "kind": "filler", "action": "remind_approver", "for_state": "pending",
                 "created_seq": 0, "occurrence": i, "due_at": far + timedelta(minutes=i), "rule_id": "R-2.8",
                 "why": "benchmark filler", "payload": {}, "status": "pending", "created_at": now, "attempts": 0}
                for i in range(lo, min(open_deadlines, lo + chunk))])
    with app.store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    with sqlite3.connect(folder / "bench.db") as raw:  # the bulk load's checkpoint is not the tick's
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return app


def measure(open_deadlines: int, due: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        app = build(Path(tmp), open_deadlines, due)
        app.clock.set(TICK_AT)  # type: ignore[attr-defined]
        app.ticker.tick(TICK_AT, dry_run=True)  # warm caches (org, definitions, statements)
        began = time.perf_counter()
        report = app.ticker.tick(TICK_AT)
        took = time.perf_counter() - began
        assert len(report.fired) == due, (len(report.fired), report.failed[:3])
        app.close()
        return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    for n in sizes:
        results[n] = statistics.median(measure(n, args.due) for _ in range(args.repeat))
        if not args.json:
            print(f"tick_ms open={n:>8} due={args.due}: {results[n] * 1000:8.1f} ms "
                  f"({results[n] / args.due * 1e6:.0f} µs per fired deadline)", flush=True)
    ratio = results[sizes[-1]] / results[sizes[0]]
    if args.json:
        print(json.dumps({"tick_ms": {str(n): round(v * 1000, 2) for n, v in results.items()},
                          "due": args.due, "ratio_largest_to_smallest": round(ratio, 3)}))
    else:
        print(f"tick_scaling ratio {sizes[-1]} ÷ {sizes[0]}: {ratio:.2f} (target ≤ 2)")


if __name__ == "__main__":
    main()
