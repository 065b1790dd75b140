"""daemon_rss_mb: peak RSS of an `outpost daemon` process working through N due deadlines on SQLite.

Making N due deadlines through the case service takes N transactions, so they are bulk-inserted
instead, as real rows: N pending leave cases (the data and history row a real `case open` writes —
taken from a template case opened through the service — with the hash chain computed, so
`outpost audit verify` passes), each with its three deadlines: the approver reminder (due an hour
ago, so the daemon fires it: one `leave.reminder` mail per case) and the escalation and
undecided-at-start deadlines (far in the future: open, not due).

The daemon runs as `outpost daemon --tick-seconds 0.2 --deliver-seconds 86400`: the mail delivery
pass runs once at start and not again during the run (delivery is measured by mail_bench.py). Its
/proc/<pid>/status VmRSS is sampled every ~100 ms and paired with the number of deadlines fired so far
(counted from the daemon's own log lines), until nothing is due; then SIGTERM. Reported: the peak, the
RSS after the first 10% of the deadlines, at the start of the last 10%, after the last 10% (the growth
between the two "after" figures is the flatness), once idle again, the firing rate, and the checks:
every reminder fired once, exit code 0, `outpost status --json` lists no failed deadline, `outpost
audit verify` passes.

    python bench/daemon_bench.py [--deadlines 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
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
from workflow.hashing import GENESIS, history_hash  # noqa: E402
from workflow.settings import load_settings  # noqa: E402

ORG = ROOT / "examples" / "org.toml"
STAFF = ("zhao", "huang")


def outpost_command() -> list[str]:
    """The installed `outpost` console script next to this Python, else the same entry point via -c."""
    script = Path(sys.executable).parent / "outpost"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from outpost.cli import main; main()"]


def _ts(at: datetime) -> str:
    """How SQLAlchemy stores a UTC datetime in SQLite (store.types.UTCDateTime)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _app(folder: Path, at: datetime) -> App:
    settings = load_settings({"database_url": f"sqlite:///{folder / 'outpost.db'}",
                              "outbox_dir": folder / "outbox"}, env={}, cwd=folder)
    return App(settings, clock=FixedClock(at))


def _templates(folder: Path, opened: datetime, target: Path) -> dict[str, dict[str, Any]]:
    """Migrate a scratch database and load the organisation, copy it to `target` (the benchmark's
    database), then open one real leave request per staff member through the case service in the scratch."""
    folder.mkdir()
    app = _app(folder, opened)
    app.init()
    app.load_org(ORG)
    with sqlite3.connect(folder / "outpost.db") as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    out: dict[str, dict[str, Any]] = {}
    day = date(2027, 3, 1)
    for who in STAFF:
        case = app.service.open("leave", who, {"start": day.isoformat(), "end": day.isoformat()})
        with app.store.transaction(write=False) as tx:
            (entry,) = tx.history(case.id)
            deadlines = {d.kind: d for d in tx.deadlines(case.id)}
        out[who] = {"case": case, "history": entry, "deadlines": deadlines}
    app.close()
    return out


def build(folder: Path, n: int, now: datetime) -> Path:
    """An initialised database with the example organisation and `n` due approver reminders."""
    opened = now - timedelta(days=2)
    tpl = _templates(folder / "template", opened, folder / "outpost.db")
    db = sqlite3.connect(folder / "outpost.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("BEGIN")
    (first,) = db.execute("SELECT coalesce(max(id), 0) + 1 FROM cases").fetchone()
    cases, history, deadlines = [], [], []
    due0 = now - timedelta(hours=1)
    far = _ts(datetime(2030, 1, 1, tzinfo=UTC))  # escalation and undecided-at-start: open, not due
    at = _ts(opened)
    details = {who: json.dumps(t["history"].details) for who, t in tpl.items()}
    datas: dict[tuple[str, str], str] = {}
    for i in range(n):
        case_id = first + i
        who = STAFF[i % 2]
        t = tpl[who]
        case, entry = t["case"], t["history"]
        day = (date(2027, 1, 4) + timedelta(days=(i // 2) % 300)).isoformat()
        data = datas.get((who, day))
        if data is None:
            data = datas[who, day] = json.dumps({**case.data, "start": day, "end": day})
        h = history_hash(GENESIS, case_id, 1, entry.trigger, entry.from_state, entry.to_state, entry.actor, opened,
                         entry.comment, entry.override_reason, entry.definition_version, entry.details)
        cases.append((case_id, "leave", case.definition_version, case.office, who, case.state, data, at, who, at, h))
        history.append((case_id, entry.trigger, entry.from_state, entry.to_state, entry.actor, at,
                        entry.definition_version, details[who], GENESIS, h))
        for kind, d in t["deadlines"].items():
            due = _ts(due0 + timedelta(milliseconds=i)) if kind == "remind_approver" else far
            deadlines.append((case_id, d.kind, d.action, d.for_state, d.created_seq, d.occurrence, due,
                              d.rule_id, d.why, "{}" if not d.payload else json.dumps(d.payload), at))
    db.executemany("INSERT INTO cases (id, process, definition_version, office, subject, period, state, version, "
                   "data, opened_at, opened_by, updated_at, history_count, history_head) "
                   "VALUES (?, ?, ?, ?, ?, NULL, ?, 1, ?, ?, ?, ?, 1, ?)", cases)
    db.executemany("INSERT INTO history (case_id, seq, \"trigger\", from_state, to_state, actor, at, comment, "
                   "override_reason, definition_version, details, prev_hash, hash) "
                   "VALUES (?, 1, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?)", history)
    db.executemany("INSERT INTO deadline (case_id, kind, action, for_state, created_seq, occurrence, due_at, "
                   "rule_id, why, payload, status, created_at, attempts) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, 0)", deadlines)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    shutil.rmtree(folder / "template")
    return folder / "outpost.db"


def _rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in kB."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def _due_now(db_path: Path) -> int:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10) as db:
        (n,) = db.execute("SELECT count(*) FROM deadline WHERE status = 'pending' AND due_at <= ?",
                          (_ts(datetime.now(UTC)),)).fetchone()
    return int(n)


def measure(n: int, timeout: float = 900.0, interval: float = 0.1,
            progress: Any = lambda _m: None) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="outpost-daemon-bench-"))
    try:
        return _measure(tmp, n, timeout, interval, progress)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(folder: Path, n: int, timeout: float, interval: float, progress: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    began = time.perf_counter()
    db_path = build(folder, n, now)
    build_s = time.perf_counter() - began
    assert _due_now(db_path) == n, "the bulk load did not make exactly n deadlines due"
    progress(f"{n} due deadlines bulk-loaded in {build_s:.1f} s")
    env = {**os.environ, "OUTPOST_DATABASE_URL": f"sqlite:///{db_path}", "OUTPOST_OUTBOX_DIR": str(folder / "outbox"),
           "PYTHONUNBUFFERED": "1"}
    log_path = folder / "daemon.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([*outpost_command(), "daemon", "--tick-seconds", "0.2", "--deliver-seconds", "86400"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    samples: list[tuple[float, int, int]] = []  # (seconds since start, fired so far, VmRSS kB)
    fired = failed = 0
    hwm = 0
    tail = b""
    pos = 0
    started = time.perf_counter()
    last_db_check = started
    done = timed_out = False
    try:
        while True:
            time.sleep(interval)
            if proc.poll() is not None:
                break
            try:
                rss, hwm = _rss_kb(proc.pid)
            except (FileNotFoundError, ProcessLookupError):
                break
            with log_path.open("rb") as f:
                f.seek(pos)
                chunk = f.read()
            pos += len(chunk)
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            fired += sum(1 for ln in lines if b"fired deadline " in ln)
            failed += sum(1 for ln in lines if b" failed: " in ln and b"deadline " in ln)
            t = time.perf_counter() - started
            samples.append((t, fired, rss))
            if fired + failed >= n or (time.perf_counter() - last_db_check > 2.0):
                last_db_check = time.perf_counter()
                if _due_now(db_path) == 0:
                    done = True
                    break
            if t > timeout:
                timed_out = True
                break
        working_s = time.perf_counter() - started
        if proc.poll() is None:
            rss, hwm = _rss_kb(proc.pid)
            samples.append((time.perf_counter() - started, fired, rss))
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log_text = log_path.read_text(errors="replace")
    status = subprocess.run([*outpost_command(), "status", "--json"], env=env, cwd=folder, capture_output=True,
                            text=True, timeout=120)
    failed_deadlines: Any = None
    try:
        failed_deadlines = json.loads(status.stdout)["failed_deadlines"]
    except (ValueError, KeyError):
        failed_deadlines = f"status --json did not answer: {status.stderr.strip()[-300:]}"
    app = _app(folder, now)
    verified = app.verify().ok
    with app.store.transaction(write=False) as tx:
        from sqlalchemy import text

        fired_db = tx.conn.execute(text("SELECT count(*) FROM deadline WHERE kind = 'remind_approver' "
                                        "AND status = 'fired'")).scalar_one()
        mails = tx.conn.execute(text("SELECT count(*) FROM mail WHERE event = 'leave.reminder'")).scalar_one()
    app.close()

    tenth = max(1, n // 10)

    def rss_at(count: int) -> float | None:
        for _t, f, r in samples:
            if f >= count:
                return r / 1024
        return None

    peak = max([hwm] + [r for _t, _f, r in samples]) / 1024
    first = rss_at(tenth)
    last_start = rss_at(n - tenth)
    # "after the last 10%": the highest RSS while the last 10% were fired (the daemon still working;
    # the sample after the work may be lower, once the tick has returned and freed what it held)
    last = [r for _t, f, r in samples if n - tenth <= f]
    working_last = max(last) / 1024 if last else None
    end = samples[-1][2] / 1024 if samples else None
    checks = {
        "all_fired_once": fired_db == n and mails == n,
        "exit_code": code,
        "failed_deadlines": failed_deadlines,
        "verify_ok": verified,
        "traceback_in_log": "Traceback" in log_text,
        "timed_out": timed_out,
        "done": done,
    }
    ok = (checks["all_fired_once"] and code == 0 and failed_deadlines == [] and verified
          and not checks["traceback_in_log"] and done)
    firing = [t for t, f, _r in samples if f > 0]
    firing_s = (firing[-1] - firing[0]) if len(firing) > 1 else working_s
    return {
        "deadlines": n, "build_s": build_s, "working_s": working_s, "firing_s": firing_s,
        "fired_per_s": fired_db / firing_s if firing_s > 0 else None,
        "peak_mb": peak, "rss_first_tenth_mb": first, "rss_last_tenth_start_mb": last_start,
        "rss_last_tenth_mb": working_last, "rss_end_mb": end,
        "growth_mb": (working_last - first) if working_last is not None and first is not None else None,
        "tenth": tenth, "samples": len(samples), "checks": checks, "ok": ok,
        "series": [(round(t, 1), f, round(r / 1024, 1)) for t, f, r in samples[:: max(1, len(samples) // 40)]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadlines", type=int, default=100_000)
    parser.add_argument("--series", action="store_true", help="print the (seconds, fired, MB) series")
    args = parser.parse_args()
    r = measure(args.deadlines, progress=print)
    print(f"daemon_rss_mb peak {r['peak_mb']:.1f} MB over {r['deadlines']} deadlines "
          f"({r['fired_per_s']:.0f} fired/s, {r['working_s']:.0f} s)")
    print(f"RSS after the first {r['tenth']}: {r['rss_first_tenth_mb']:.1f} MB; at the start of the last "
          f"{r['tenth']}: {r['rss_last_tenth_start_mb']:.1f} MB; after the last {r['tenth']}: "
          f"{r['rss_last_tenth_mb']:.1f} MB (growth {r['growth_mb']:.1f} MB); once idle: {r['rss_end_mb']:.1f} MB")
    print(f"checks: {r['checks']}")
    if args.series:
        for row in r["series"]:
            print(*row)


if __name__ == "__main__":
    main()
