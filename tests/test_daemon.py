"""The daemon as a real process: clean stop on SIGTERM, and two daemons never firing a deadline twice."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from outpost.app import App
from tests.conftest import OUTPOST, local, outpost, private_pg_schema, run_daemon_in_process, schema_url, wait_for

FIRED = re.compile(r"fired deadline (\d+) ")


def spawn(url: str, tmp_path: Path, name: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "OUTPOST_DATABASE_URL": url, "OUTPOST_OUTBOX_DIR": str(tmp_path / "outbox"),
           "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    with (tmp_path / f"{name}.log").open("w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([*OUTPOST, "daemon", "--tick-seconds", "0.2", "--deliver-seconds", "0.5"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)


# The daemons in these tests run on the real clock. The requests are made on 2 Nov 2026 (the app's fixed
# clock), so their reminder and escalation are due whatever today is; the leave itself is decades away, so
# its `undecided_at_start` flag (due on the first day) never joins them while these tests are in use.
LEAVE_FROM = date(2096, 12, 21)


def due_leave_deadlines(app: App, cases: int) -> None:
    """`cases` staff leave requests made on 2 Nov 2026 for days from LEAVE_FROM: reminder and escalation are
    long due today; nothing else of theirs is."""
    people = ["zhao", "huang"]
    start = LEAVE_FROM
    for i in range(cases):
        who = people[i % 2]
        day = start + timedelta(days=i // 2)
        app.service.open("leave", who, {"start": day.isoformat(), "end": day.isoformat()})


def pending_due(app: App) -> int:
    return int(app.ticker.queue.count_due(local(2026, 11, 20, 0, 0)))


def stop(proc: subprocess.Popen[str], within: float = 5.0, sig: int = signal.SIGTERM) -> tuple[int, float]:
    """Signal the daemon; its exit code and how long it took to exit."""
    began = time.monotonic()
    proc.send_signal(sig)
    code = proc.wait(timeout=within + 5)
    return code, time.monotonic() - began


@pytest.mark.slow
def test_daemon_stops_within_5s_of_sigterm_with_nothing_half_written(make_app: Callable[..., App],
                                                                     sqlite_url: str, tmp_path: Path) -> None:
    """SIGTERM while the daemon works through due deadlines: exit 0 within 5 s, claims released, the
    history chains, every deadline either fired completely or still pending."""
    app = make_app(sqlite_url, at=local(2026, 11, 2, 10, 0))
    due_leave_deadlines(app, 150)
    proc = spawn(sqlite_url, tmp_path, "d1")
    assert wait_for(lambda: pending_due(app) < 300, 30), (tmp_path / "d1.log").read_text()
    code, took = stop(proc)
    log = (tmp_path / "d1.log").read_text()
    assert code == 0, log
    assert took < 5.0
    assert "Traceback" not in log
    assert app.verify().ok
    with app.store.transaction(write=False) as tx:
        from sqlalchemy import text

        locked = tx.conn.execute(text("SELECT count(*) FROM deadline WHERE lock_owner IS NOT NULL")).scalar()
        half = tx.conn.execute(text(
            "SELECT count(*) FROM deadline d JOIN cases c ON c.id = d.case_id "
            "WHERE d.kind = 'escalate' AND d.status = 'fired' AND c.history_count < 2")).scalar()
    assert locked == 0 and half == 0


def test_a_second_signal_while_stopping_is_acknowledged_not_a_traceback(make_app: Callable[..., App],
                                                                      sqlite_url: str, tmp_path: Path) -> None:
    """SIGTERM, SIGINT and SIGTERM again in quick succession (a supervisor and its child both passing the signal
    on, a second Ctrl-C): the daemon stops once, exit 0, no traceback, each extra signal logged as such."""
    app = make_app(sqlite_url, at=local(2026, 11, 2, 10, 0))
    due_leave_deadlines(app, 20)
    proc = spawn(sqlite_url, tmp_path, "twice")
    assert wait_for(lambda: "started" in (tmp_path / "twice.log").read_text(), 30)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGTERM):
        proc.send_signal(sig)
    assert proc.wait(timeout=10) == 0
    log = (tmp_path / "twice.log").read_text()
    assert "Traceback" not in log and "Error" not in log, log
    assert log.count("already stopping") >= 1 and log.count(" stopped") == 1, log


@pytest.mark.slow
@pytest.mark.postgres
def test_two_daemons_on_postgresql_fire_500_deadlines_exactly_once(make_app: Callable[..., App],
                                                                   tmp_path: Path) -> None:
    """Two daemon processes on one PostgreSQL database share 500 due deadlines: each fires exactly once."""
    with private_pg_schema() as schema:
        url = schema_url(schema)
        app = make_app(url, at=local(2026, 11, 2, 10, 0))
        due_leave_deadlines(app, 250)
        assert pending_due(app) == 500
        procs = [spawn(url, tmp_path, "a"), spawn(url, tmp_path, "b")]
        done = wait_for(lambda: pending_due(app) == 0, 90)
        codes = [stop(p)[0] for p in procs]
        logs = {n: (tmp_path / f"{n}.log").read_text() for n in ("a", "b")}
        assert done, logs
        assert codes == [0, 0], logs
        fired = [int(i) for n in logs for i in FIRED.findall(logs[n])]
        with app.store.transaction(write=False) as tx:
            from sqlalchemy import text

            leave_ids = {r[0] for r in tx.conn.execute(text(
                "SELECT d.id FROM deadline d JOIN cases c ON c.id = d.case_id "
                "WHERE c.process = 'leave' AND d.status = 'fired' AND d.kind IN ('remind_approver', 'escalate')"))}
            others = tx.conn.execute(text(
                "SELECT count(*) FROM deadline d JOIN cases c ON c.id = d.case_id WHERE c.process = 'leave' "
                "AND d.status = 'fired' AND d.kind NOT IN ('remind_approver', 'escalate')")).scalar_one()
        leave_fired = [i for i in fired if i in leave_ids]
        assert others == 0  # the leave days are decades away: only reminders and escalations are due
        assert len(leave_fired) == 500
        assert len(set(leave_fired)) == 500  # nobody fired a deadline twice
        assert app.store.count("mail") >= 750  # 250 requests + 250 reminders + 250 escalations
        assert app.verify().ok


def test_two_tickers_interleaved_on_sqlite_never_fire_twice(make_app: Callable[..., App], sqlite_url: str) -> None:
    """Two tickers with different owners, ticking alternately at the same instant, fire each deadline once."""
    from store.deadlines import SqlDeadlineQueue
    from workflow.ticker import Ticker

    app = make_app(sqlite_url, at=local(2026, 11, 2, 10, 0))
    due_leave_deadlines(app, 20)
    a = Ticker(app.store, SqlDeadlineQueue(app.store), app.service, owner="a", batch=3)
    b = Ticker(app.store, SqlDeadlineQueue(app.store), app.service, owner="b", batch=3)
    now = local(2026, 11, 20, 0, 0)
    claimed_a = a.queue.claim("a", now, timedelta(minutes=5), 5)
    claimed_b = b.queue.claim("b", now, timedelta(minutes=5), 5)
    assert not {d.id for d in claimed_a} & {d.id for d in claimed_b}
    a.queue.release("a")
    b.queue.release("b")
    fired = [f["id"] for t in (a, b) for f in t.tick(now).fired if f["process"] == "leave"]
    assert len(fired) == 40 and len(set(fired)) == 40


def outpost_json(url: str, cwd: Path, *args: str) -> object:
    """`outpost ARGS --json` as a separate process on `url` (the real clock), parsed."""
    done = outpost([*args, "--json"], cwd, url=url)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_daemon_stopped_with_sigint_exits_0_within_5s_after_showing_a_fresh_heartbeat_in_status(
        make_app: Callable[..., App], sqlite_url: str, tmp_path: Path) -> None:
    """While a daemon process runs, `outpost status --json` lists it (its pid, alive, a heartbeat seconds old);
    SIGINT stops it like SIGTERM: exit 0 within 5 s, claims released, and status no longer lists it."""
    from outpost.status import gather

    app = make_app(sqlite_url, at=local(2026, 11, 2, 10, 0))
    due_leave_deadlines(app, 10)
    proc = spawn(sqlite_url, tmp_path, "d")
    log_path = tmp_path / "d.log"
    try:
        assert wait_for(lambda: pending_due(app) == 0 or proc.poll() is not None, 60), log_path.read_text()
        assert proc.poll() is None, log_path.read_text()
        owner = re.search(r"daemon (\S+) started: ", log_path.read_text())
        assert owner is not None, log_path.read_text()
        status = outpost_json(sqlite_url, tmp_path, "status")
    finally:
        code, took = stop(proc, sig=signal.SIGINT)
    log = log_path.read_text()
    assert isinstance(status, dict)
    [mine] = [d for d in status["daemons"] if d["pid"] == proc.pid]
    assert mine["owner"] == owner.group(1) and mine["alive"] is True
    # status reads its clock before it opens the database, so the heartbeat may be a little after its `now`
    age = datetime.fromisoformat(status["now"]) - datetime.fromisoformat(mine["heartbeat_at"])
    assert abs(age) < timedelta(seconds=30), (status["now"], mine["heartbeat_at"])
    assert code == 0 and took < 5.0, log
    assert "received SIGINT" in log and f"daemon {owner.group(1)} stopped" in log and "Traceback" not in log
    assert gather(app)["daemons"] == []  # its last heartbeat says it stopped
    with app.store.transaction(write=False) as tx:
        from sqlalchemy import text

        assert tx.conn.execute(text("SELECT count(*) FROM deadline WHERE lock_owner IS NOT NULL")).scalar() == 0


def test_the_daemons_scheduler_runs_exactly_two_interval_jobs_tick_and_deliver(make_app: Callable[..., App],
                                                                              sqlite_url: str) -> None:
    """A running Daemon's APScheduler holds exactly the jobs `tick` and `deliver`: interval jobs at the
    given periods calling Daemon.tick_job and Daemon.deliver_job, coalesced, one instance at a time;
    SIGINT (in-process) stops it and run() returns 0."""

    from apscheduler.triggers.interval import IntervalTrigger

    import scheduler

    app = make_app(sqlite_url)
    daemon = scheduler.Daemon(app, tick_seconds=0.2, deliver_seconds=0.5)
    seen: list[tuple[str, object, IntervalTrigger, bool, int]] = []

    def watch() -> None:
        # SIGINT only once run() is inside scheduler.start(), i.e. with the daemon's handler installed
        if wait_for(lambda: daemon.scheduler.running, 20):
            seen.extend((j.id, j.func, j.trigger, j.coalesce, j.max_instances) for j in daemon.scheduler.get_jobs())
            os.kill(os.getpid(), signal.SIGINT)

    assert run_daemon_in_process(daemon, watch) == 0
    assert sorted(j[0] for j in seen) == ["deliver", "tick"]
    jobs = {j[0]: j for j in seen}
    assert jobs["tick"][1] == daemon.tick_job and jobs["deliver"][1] == daemon.deliver_job
    intervals = {name: j[2].interval.total_seconds() for name, j in jobs.items() if isinstance(j[2], IntervalTrigger)}
    assert intervals == {"tick": 0.2, "deliver": 0.5}
    assert all(j[3] is True and j[4] == 1 for j in seen)
    [beat] = app.store.meta_like(scheduler.HEARTBEAT_PREFIX).values()
    assert daemon.stopping.is_set() and beat["stopped_at"]  # stopped the clean way, through the signal
