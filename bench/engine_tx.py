"""engine_tx_ratio: Outpost's real case service against hand-written sqlite3 doing the same rows.

The leave scenario per case: open (staff request) → approve (director) → start (the daemon, on the
first day) → return. Each step is one transaction. Outpost runs everything it really runs —
permissions, guards (presence limit), hash-chained history, deadlines, outbox rows. The raw variant
writes the same rows into the same schema (created by Outpost's migrations) with prepared sqlite3
statements and the same SHA-256 chaining, and nothing else: it is the floor. Every variant (the SpiffWorkflow
peer too) runs one untimed case first, so that the figure is the steady cost of a transaction, not the
one-off cost of preparing statements and filling caches, which weighs on a short `--quick` run.

    python bench/engine_tx.py [--cases 500] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from outpost.app import App  # noqa: E402
from workflow.clock import FixedClock  # noqa: E402
from workflow.settings import load_settings  # noqa: E402
from workflow.ticker import TickReport  # noqa: E402
from workflow.timeutil import LOCAL_TZ  # noqa: E402

STEPS_PER_CASE = 4
# CPU seconds of the timed loop of the last run of each variant (time.process_time: robust to other
# processes competing for the cores, where wall time is not).
LAST_CPU: dict[str, float] = {}
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=LOCAL_TZ)
STAFF = ["zhao", "huang"]
APPROVER = {"zhao": "wang", "huang": "chen"}
OFFICE = {"zhao": "BJ", "huang": "SZ"}


WARM_UP = -1  # every variant runs one untimed case first: statements prepared, caches filled


def leave_day(i: int) -> date:
    if i == WARM_UP:
        return date(2028, 6, 1)  # a day no timed case asks for
    return date(2027, 2, 1) + timedelta(days=i % 330)


def cases_to_run(cases: int) -> list[int]:
    """The warm-up case, then the timed ones (the clock starts at case 0)."""
    return [WARM_UP, *range(cases)]


def org_file(folder: Path, people: int) -> Path:
    """Two offices, `people` staff each (presence checks stay per person, as in real use)."""
    lines = ['[[office]]\ncode = "BJ"\nname = "北京"\n', '[[office]]\ncode = "SZ"\nname = "深圳"\n',
             '[[person]]\nid = "wang"\nname = "王"\nemail = "wang@x.org"\noffice = "BJ"\nroles = ["director"]\n',
             '[[person]]\nid = "chen"\nname = "陈"\nemail = "chen@x.org"\noffice = "SZ"\nroles = ["director"]\n',
             '[[person]]\nid = "liu"\nname = "刘"\nemail = "liu@x.org"\nroles = ["supervising_leader"]\n']
    for i in range(people):
        for office in ("BJ", "SZ"):
            lines.append(f'[[person]]\nid = "s{office}{i}"\nname = "员工{i}"\nemail = "s{office}{i}@x.org"\n'
                         f'office = "{office}"\nroles = ["staff"]\n')
    path = folder / "org.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def staff(i: int, people: int) -> tuple[str, str]:
    office = "BJ" if i % 2 == 0 else "SZ"
    return f"s{office}{(i // 2) % people}", office


def outpost_run(folder: Path, cases: int, people: int) -> float:
    """Seconds for `cases` × 4 transactions through the real case service."""
    settings = load_settings({"database_url": f"sqlite:///{folder / 'outpost.db'}",
                              "outbox_dir": folder / "outbox"}, env={}, cwd=folder)
    clock = FixedClock(T0)
    app = App(settings, clock=clock)
    app.init()
    app.load_org(org_file(folder, people))
    service, ticker = app.service, app.ticker
    cpu = began = 0.0
    for i in cases_to_run(cases):
        if i == 0:
            cpu, began = time.process_time(), time.perf_counter()
        who, office = staff(i, people)
        approver = "wang" if office == "BJ" else "chen"
        day = leave_day(i)
        clock.set(T0)
        case = service.open("leave", who, {"start": day.isoformat(), "end": day.isoformat()})
        service.advance(case.id, "approve", approver)
        start_at = datetime.combine(day, datetime.min.time(), tzinfo=LOCAL_TZ).astimezone(UTC)
        report = TickReport(at=start_at, keep_rows=False)
        ticker.fire_due(start_at, report)  # the daemon's own path: claim the due rows, fire each once
        assert report.counts["fired"] == 1 and not report.failed, report.as_json()
        clock.set(start_at + timedelta(hours=9))
        service.advance(case.id, "return", who)
    took = time.perf_counter() - began
    LAST_CPU["outpost"] = time.process_time() - cpu
    assert app.verify().ok
    app.close()
    return took


class Raw:
    """The same rows, with prepared statements on one sqlite3 connection."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")

    @staticmethod
    def ts(at: datetime) -> str:
        return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def history(self, case_id: int, seq: int, prev: str, trigger: str, frm: str | None, to: str, actor: str | None,
                at: datetime, details: dict[str, Any]) -> str:
        body = json.dumps([case_id, seq, trigger, frm, to, actor, at.isoformat(), None, None, 1, details],
                          sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        h = hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()
        self.db.execute("INSERT INTO history (case_id, seq, \"trigger\", from_state, to_state, actor, at, comment, "
                        "override_reason, definition_version, details, prev_hash, hash) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, 1, ?, ?, ?)",
                        (case_id, seq, trigger, frm, to, actor, self.ts(at), json.dumps(details), prev, h))
        return h

    def deadline(self, case_id: int, kind: str, due: datetime, state: str, seq: int, at: datetime) -> None:
        self.db.execute("INSERT INTO deadline (case_id, kind, action, for_state, created_seq, occurrence, due_at, "
                        "rule_id, why, payload, status, created_at, attempts) "
                        "VALUES (?, ?, ?, ?, ?, 1, ?, 'R-2.8', 'why', '{}', 'pending', ?, 0)",
                        (case_id, kind, kind, state, seq, self.ts(due), self.ts(at)))

    def mail(self, case_id: int, event: str, key: str, to: str, at: datetime) -> None:
        self.db.execute("INSERT INTO mail (case_id, event, dedupe_key, message_id, recipients, params, lang, status, "
                        "attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'zh', 'queued', 0, ?, ?)",
                        (case_id, event, key, f"<{key}@x>", json.dumps([{"person": to}]),
                         json.dumps({"case": case_id}), self.ts(at), self.ts(at)))

    def case(self, case_id: int) -> tuple[Any, ...]:
        row = self.db.execute("SELECT state, version, data, history_count, history_head FROM cases WHERE id = ?",
                              (case_id,)).fetchone()
        assert row is not None
        return tuple(row)

    def save(self, case_id: int, state: str, version: int, data: dict[str, Any], count: int, head: str,
             at: datetime) -> None:
        cur = self.db.execute("UPDATE cases SET state = ?, version = ?, data = ?, history_count = ?, "
                              "history_head = ?, updated_at = ? WHERE id = ? AND version = ?",
                              (state, version + 1, json.dumps(data), count, head, self.ts(at), case_id, version))
        assert cur.rowcount == 1


def raw_run(folder: Path, cases: int, people: int) -> float:
    settings = load_settings({"database_url": f"sqlite:///{folder / 'raw.db'}", "outbox_dir": folder / "o"},
                             env={}, cwd=folder)
    app = App(settings, clock=FixedClock(T0))
    app.init()
    app.load_org(org_file(folder, people))
    app.close()
    raw = Raw(folder / "raw.db")
    db = raw.db
    cpu = began = 0.0
    for i in cases_to_run(cases):
        if i == 0:
            cpu, began = time.process_time(), time.perf_counter()
        who, office = staff(i, people)
        approver = "wang" if office == "BJ" else "chen"
        day = leave_day(i)
        now = T0.astimezone(UTC)
        data = {"v": 1, "start": day.isoformat(), "end": day.isoformat(), "days": 1}
        db.execute("BEGIN IMMEDIATE")
        # the reads the rules need, by hand as well: days already off site or asked for, and a leave this one
        # continues (R-2.5, R-2.1/2.6); is the approver away today
        db.execute("SELECT start, \"end\", case_id FROM off_site WHERE person = ? AND start <= ? AND \"end\" >= ?",
                   (who, "2027-12-31", "2027-01-01")).fetchall()
        db.execute("SELECT id, state, data FROM cases WHERE process = 'leave' AND subject = ? "
                   "AND state IN ('approved', 'on_leave', 'pending') ORDER BY id", (who,)).fetchall()
        db.execute("SELECT id FROM off_site WHERE person = ? AND start <= ? AND \"end\" >= ? LIMIT 1",
                   (approver, now.date().isoformat(), now.date().isoformat())).fetchall()
        case_id = db.execute("INSERT INTO cases (process, definition_version, office, subject, state, version, data, "
                             "opened_at, opened_by, updated_at, history_count, history_head) VALUES ('leave', 1, ?, ?, "
                             "'pending', 1, ?, ?, ?, ?, 0, '') RETURNING id",
                             (office, who, json.dumps(data), raw.ts(now), who, raw.ts(now))).fetchone()[0]
        head = raw.history(case_id, 1, "0" * 64, "open", None, "pending", who, now, {"route": "director"})
        for kind, hours in (("remind_approver", 24), ("escalate", 48), ("undecided_at_start", 700)):
            raw.deadline(case_id, kind, now + timedelta(hours=hours), "pending", 1, now)
        raw.mail(case_id, "leave.requested", f"c{case_id}:req", approver, now)
        db.execute("UPDATE cases SET history_count = 1, history_head = ? WHERE id = ?", (head, case_id))
        db.execute("COMMIT")
        # approve
        db.execute("BEGIN IMMEDIATE")
        state, version, blob, count, head = raw.case(case_id)
        data = json.loads(blob)
        db.execute("SELECT id FROM off_site WHERE person = ? AND start <= ? AND \"end\" >= ? LIMIT 1",
                   (approver, now.date().isoformat(), now.date().isoformat())).fetchall()  # approver away?
        db.execute("SELECT start, \"end\" FROM off_site WHERE person = ? AND start <= ? AND \"end\" >= ?",
                   (who, "2027-12-31", "2027-01-01")).fetchall()
        db.execute("INSERT INTO off_site (person, case_id, start, \"end\", source) VALUES (?, ?, ?, ?, 'leave')",
                   (who, case_id, day.isoformat(), day.isoformat()))
        head = raw.history(case_id, count + 1, head, "approve", state, "approved", approver, now, {})
        db.execute("UPDATE deadline SET status = 'cancelled', fired_at = ? WHERE case_id = ? AND status = 'pending'",
                   (raw.ts(now), case_id))
        start_at = datetime.combine(day, datetime.min.time(), tzinfo=LOCAL_TZ).astimezone(UTC)
        raw.deadline(case_id, "start", start_at, "approved", count + 1, now)
        raw.mail(case_id, "leave.approved", f"c{case_id}:ok", who, now)
        raw.save(case_id, "approved", version, data, count + 1, head, now)
        db.execute("COMMIT")
        # start (the daemon)
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE deadline SET status = 'fired', fired_at = ? WHERE case_id = ? AND kind = 'start' "
                   "AND status = 'pending'", (raw.ts(start_at), case_id))
        state, version, blob, count, head = raw.case(case_id)
        head = raw.history(case_id, count + 1, head, "start", state, "on_leave", None, start_at, {})
        raw.deadline(case_id, "return_overdue", start_at + timedelta(days=3), "on_leave", count + 1, start_at)
        raw.save(case_id, "on_leave", version, json.loads(blob), count + 1, head, start_at)
        db.execute("COMMIT")
        # return
        back = start_at + timedelta(hours=9)
        db.execute("BEGIN IMMEDIATE")
        state, version, blob, count, head = raw.case(case_id)
        data = json.loads(blob)
        data["returned_on"] = day.isoformat()
        db.execute("DELETE FROM off_site WHERE case_id = ? AND start > ?", (case_id, day.isoformat()))
        head = raw.history(case_id, count + 1, head, "return", state, "returned", who, back, {"returned_on": 1})
        db.execute("UPDATE deadline SET status = 'cancelled', fired_at = ? WHERE case_id = ? AND status = 'pending'",
                   (raw.ts(back), case_id))
        raw.save(case_id, "returned", version, data, count + 1, head, back)
        db.execute("COMMIT")
    took = time.perf_counter() - began
    LAST_CPU["raw"] = time.process_time() - cpu
    db.close()
    return took


def measure(cases: int, rounds: int, people: int) -> dict[str, float]:
    """Medians of interleaved rounds, µs per transaction."""
    outpost: list[float] = []
    raw: list[float] = []
    for _ in range(rounds):
        for fn, sink in ((raw_run, raw), (outpost_run, outpost)):
            with tempfile.TemporaryDirectory() as tmp:
                sink.append(fn(Path(tmp), cases, people) / (cases * STEPS_PER_CASE) * 1e6)
    o, r = statistics.median(outpost), statistics.median(raw)
    return {"outpost_us_per_tx": o, "raw_sqlite_us_per_tx": r, "engine_tx_ratio": o / r}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.cases, args.rounds, args.people)
    if args.json:
        print(json.dumps({k: round(v, 2) for k, v in result.items()}))
        return
    print(f"raw_sqlite_us_per_tx {result['raw_sqlite_us_per_tx']:.0f} µs")
    print(f"outpost_us_per_tx {result['outpost_us_per_tx']:.0f} µs")
    print(f"engine_tx_ratio {result['engine_tx_ratio']:.2f} × raw sqlite3 (target ≤ 3.0)")


if __name__ == "__main__":
    main()
