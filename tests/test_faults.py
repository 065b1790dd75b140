"""Faults injected for real: a competing writer holding the lock, a clock that goes backwards."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from outpost.app import App
from tests.conftest import (
    OUTPOST,
    cli_env,
    dump,
    local,
    outpost,
    private_pg_schema,
    run_daemon_in_process,
    schema_url,
    set_time,
    wait_for,
)


def hold_write_lock(path: Path, seconds: float, ready: threading.Event,
                    release: threading.Event | None = None) -> None:
    """Another process's long write transaction, as seen by SQLite: held `seconds`, or until `release`."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE meta SET value = value WHERE key = 'org'")
    ready.set()
    (release or threading.Event()).wait(seconds)
    conn.execute("ROLLBACK")
    conn.close()


def run_while_locked(url: str, db_file: Path, args: list[str],
                     seconds: float = 6.0) -> tuple[subprocess.CompletedProcess[str], float]:
    """`outpost ARGS` (busy timeout 0.5 s) while another process holds the write lock for `seconds`."""
    ready = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(db_file, seconds, ready))
    holder.start()
    ready.wait(10)
    env = {**os.environ, "OUTPOST_DATABASE_URL": url, "OUTPOST_BUSY_TIMEOUT_MS": "500"}
    began = time.monotonic()
    proc = subprocess.run([*OUTPOST, *args], env=env, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - began
    holder.join()
    return proc, took


def test_database_busy_longer_than_the_timeout_exits_4_and_writes_nothing(
        make_app: object, sqlite_url: str, tmp_path: Path) -> None:
    """Another process holds the write lock past the busy timeout: the CLI says "database busy, nothing
    written" in one line, exits 4, and the database is unchanged; once the lock is gone the same command works."""
    app = make_app(sqlite_url)  # type: ignore[operator]
    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"})
    before = dump(sqlite_url)
    proc, took = run_while_locked(sqlite_url, tmp_path / "outpost.db",
                                  ["case", "advance", str(case.id), "approve", "--as", "wang"])
    env = {**os.environ, "OUTPOST_DATABASE_URL": sqlite_url, "OUTPOST_BUSY_TIMEOUT_MS": "500"}
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.strip().splitlines() == ["outpost: database busy, nothing written; retry"]
    assert took < 5.5  # gave up after its 0.5 s busy timeout, not when the 6 s lock ended
    assert dump(sqlite_url) == before
    again = subprocess.run([*OUTPOST, "case", "advance", str(case.id), "approve", "--as", "wang"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr


def test_the_daemons_tick_survives_a_busy_database_and_retries_next_time(
        make_app: object, sqlite_url: str, tmp_path: Path) -> None:
    """A tick that meets a locked database fails as a whole (nothing fired, nothing lost); the next one fires."""
    from workflow.errors import Busy
    from workflow.settings import load_settings

    app = make_app(sqlite_url)  # type: ignore[operator]
    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"})
    impatient = App(load_settings({"database_url": sqlite_url, "busy_timeout_ms": 200}, env={}, cwd=tmp_path),
                    clock=app.clock)
    ready = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(tmp_path / "outpost.db", 1.5, ready))
    holder.start()
    ready.wait(10)
    with pytest.raises(Busy):
        impatient.ticker.tick(local(2027, 1, 6, 9, 0))  # the reminder is due when 5 Jan ends (issue 17)
    holder.join()
    report = impatient.ticker.tick(local(2027, 1, 6, 9, 0))
    assert [f["kind"] for f in report.fired if f["case"] == case.id] == ["remind_approver"]
    impatient.close()


def test_clock_going_backwards_between_ticks_fires_nothing_twice(app: App) -> None:
    """An NTP correction moves the clock back an hour between two ticks: nothing fires again, no mail is
    queued twice; when time catches up, what is newly due fires once."""
    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"})
    # reminder (end of 5 Jan) and escalation (end of 6 Jan) due: a working day ends at its end (issue 17)
    first = app.ticker.tick(local(2027, 1, 7, 10, 0))
    mail = app.store.count("mail")
    assert sorted(f["kind"] for f in first.fired if f["case"] == case.id) == ["escalate", "remind_approver"]
    set_time(app, local(2027, 1, 7, 9, 0))
    back = app.ticker.tick(local(2027, 1, 7, 9, 0))
    assert [f for f in back.fired if f["case"] == case.id] == [] and app.store.count("mail") == mail
    later = app.ticker.tick(local(2027, 1, 7, 10, 0))
    assert [f for f in later.fired if f["case"] == case.id] == [] and app.store.count("mail") == mail
    view = app.case_view(case.id)
    assert [h["trigger"] for h in view["history"]].count("escalate") == 1
    assert app.verify().ok


def test_init_on_a_locked_database_is_busy_within_its_own_timeout(make_app: object, sqlite_url: str,
                                                                    tmp_path: Path) -> None:
    """`outpost init` meets a held write lock: exit 4 "database busy" after OUTPOST_BUSY_TIMEOUT_MS, like
    every other writer (not an internal error after the default 5 s)."""
    make_app(sqlite_url)  # type: ignore[operator]
    before = dump(sqlite_url)
    proc, took = run_while_locked(sqlite_url, tmp_path / "outpost.db", ["init"])
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.strip().splitlines() == ["outpost: database busy, nothing written; retry"]
    assert took < 5.5
    assert dump(sqlite_url) == before


def test_a_command_on_a_path_with_no_database_creates_nothing(tmp_path: Path) -> None:
    """A mistyped database path: exit 2 "run outpost init", and no folder or empty file left behind;
    `outpost init` on the same path creates it."""
    target = tmp_path / "typo" / "sub" / "outpsot.db"
    for args in (["case", "list"], ["status"], ["org", "show"], ["audit", "verify"], ["tick"]):
        proc = outpost(args, tmp_path, url=f"sqlite:///{target}")
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "outpost init" in proc.stderr and "Traceback" not in proc.stderr
        assert not (tmp_path / "typo").exists(), args
    assert outpost(["init"], tmp_path, url=f"sqlite:///{target}").returncode == 0
    assert target.is_file()


@pytest.mark.parametrize("make, words", [
    (lambda p: p.mkdir(), "is a folder"),
    (lambda p: p.write_text("hello, not a database\n" * 100), "not an SQLite database"),
    (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\x10\x00\x02\x02" + b"\x00" * 200), "database"),
], ids=["folder", "text-file", "damaged"])
def test_a_database_path_that_is_not_a_database_is_one_line_and_exit_2(tmp_path: Path, make: object,
                                                                       words: str) -> None:
    target = tmp_path / "outpost.db"
    make(target)  # type: ignore[operator]
    for args in (["case", "list"], ["init"]):
        proc = outpost(args, tmp_path, url=f"sqlite:///{target}")
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and words in proc.stderr and "internal error" not in proc.stderr


def test_a_postgresql_server_that_does_not_answer_is_one_line_and_exit_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = outpost(["case", "list"], tmp_path, url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/test")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "does not answer" in proc.stderr


def test_the_daemons_tick_job_on_a_locked_database_logs_a_warning_and_the_next_tick_fires_everything(
        make_app: object, sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Daemon.tick_job (the job APScheduler runs) while another process holds the write lock past the busy
    timeout: one warning line, no exception, nothing fired, no heartbeat; the tick after the lock is gone
    fires every due deadline once."""
    import logging

    import scheduler
    from workflow.clock import FixedClock
    from workflow.settings import load_settings

    app = make_app(sqlite_url)  # type: ignore[operator]
    cases = [app.service.open("leave", who, {"start": "2027-03-01", "end": "2027-03-02"}).id
             for who in ("zhao", "huang", "li")]
    impatient = App(load_settings({"database_url": sqlite_url, "busy_timeout_ms": 200}, env={}, cwd=tmp_path),
                    clock=FixedClock(local(2027, 1, 7, 10, 0)))  # reminders and escalations due (ends of 5, 6 Jan)
    daemon = scheduler.Daemon(impatient, tick_seconds=60, deliver_seconds=30)

    def leave_deadlines() -> dict[tuple[int, str], str]:
        return {(c, d["kind"]): d["status"] for c in cases for d in app.case_view(c)["deadlines"]
                if d["kind"] in ("remind_approver", "escalate")}

    ready = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(tmp_path / "outpost.db", 2.0, ready))
    holder.start()
    ready.wait(10)
    try:
        with caplog.at_level(logging.WARNING, logger="outpost.daemon"):
            began = time.monotonic()
            daemon.tick_job()  # raises nothing
            took = time.monotonic() - began
    finally:
        holder.join()
    warnings = [r.getMessage() for r in caplog.records if r.name == "outpost.daemon"]
    assert warnings == ["tick at 2027-01-07T02:00:00+00:00 did not finish: Busy: database busy, nothing written; "
                        "retry"], warnings
    assert took < 1.9  # gave up after its busy timeout, not when the lock ended
    assert set(leave_deadlines().values()) == {"pending"} and len(leave_deadlines()) == 6
    assert impatient.store.meta_like(scheduler.HEARTBEAT_PREFIX) == {}  # a failed tick is no sign of life
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="outpost.daemon"):
        daemon.tick_job()
    assert [r for r in caplog.records if r.name == "outpost.daemon"] == []
    assert set(leave_deadlines().values()) == {"fired"} and len(leave_deadlines()) == 6
    assert [h["trigger"] for c in cases for h in app.case_view(c)["history"]].count("escalate") == 3
    assert list(impatient.store.meta_like(scheduler.HEARTBEAT_PREFIX)) == [scheduler.HEARTBEAT_PREFIX + daemon.owner]
    assert app.verify().ok
    impatient.close()


@pytest.mark.slow
def test_a_daemon_process_on_a_locked_database_keeps_running_and_fires_once_the_lock_is_gone(
        make_app: object, sqlite_url: str, tmp_path: Path) -> None:
    """A daemon process started while another process holds the write lock (busy timeout 0.3 s): its ticks
    log "database busy" and it keeps running; once the lock is released it fires every due deadline once."""
    from tests.test_daemon import FIRED, due_leave_deadlines, pending_due, spawn, stop

    app = make_app(sqlite_url, at=local(2026, 11, 2, 10, 0))  # type: ignore[operator]
    due_leave_deadlines(app, 10)
    release, ready = threading.Event(), threading.Event()

    holder = threading.Thread(target=hold_write_lock, args=(tmp_path / "outpost.db", 60, ready, release))
    holder.start()
    ready.wait(10)
    proc = spawn(sqlite_url, tmp_path, "busy", {"OUTPOST_BUSY_TIMEOUT_MS": "300"})
    log_path = tmp_path / "busy.log"
    try:
        busy_ticks = wait_for(lambda: log_path.read_text().count("did not finish: Busy") >= 3
                              or proc.poll() is not None, 60)
        still_due = pending_due(app)
    finally:
        release.set()
        holder.join()
    try:
        assert busy_ticks and proc.poll() is None, log_path.read_text()
        assert still_due == 20
        assert wait_for(lambda: pending_due(app) == 0, 30), log_path.read_text()
        assert proc.poll() is None
    finally:
        code, _took = stop(proc)
    log = log_path.read_text()
    assert code == 0 and "Traceback" not in log, log
    with app.store.transaction(write=False) as tx:
        from sqlalchemy import text

        leave = {r[0] for r in tx.conn.execute(text(
            "SELECT d.id FROM deadline d JOIN cases c ON c.id = d.case_id "
            "WHERE c.process = 'leave' AND d.status = 'fired'"))}
    fired = [int(i) for i in FIRED.findall(log) if int(i) in leave]  # not the periodic duties it also opened
    assert len(leave) == 20 and sorted(fired) == sorted(leave), log
    assert app.verify().ok


@pytest.mark.postgres
def test_postgresql_row_lock_held_past_the_lock_timeout_exits_4_and_writes_nothing(
        make_app: object, tmp_path: Path) -> None:
    """On PostgreSQL the busy timeout is `lock_timeout` (store/engine.py): another connection holding the case
    row FOR UPDATE makes `case advance` exit 4 "database busy" within it, writing nothing; then it works."""
    import psycopg

    from tests.conftest import PG_URL

    with private_pg_schema() as schema:
        url = schema_url(schema)
        app = make_app(url)  # type: ignore[operator]
        case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"})
        before = dump(url)
        env = cli_env(url, OUTPOST_BUSY_TIMEOUT_MS="500")
        argv = [*OUTPOST, "case", "advance", str(case.id), "approve", "--as", "wang"]
        with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://"),
                             options=f"-csearch_path={schema}") as holder:
            holder.execute("SELECT id FROM cases WHERE id = %s FOR UPDATE", (case.id,))  # a transaction, held
            began = time.monotonic()
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
            took = time.monotonic() - began
            holder.rollback()
        assert proc.returncode == 4, proc.stderr
        assert proc.stderr.strip().splitlines() == ["outpost: database busy, nothing written; retry"]
        assert took < 5.0  # gave up after its 0.5 s lock timeout (plus start-up), not when the lock ended
        assert dump(url) == before
        again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stderr
        assert app.case_view(case.id)["state"] == "approved"


def test_after_the_wall_clock_steps_back_the_daemon_keeps_ticking(make_app: object, sqlite_url: str) -> None:
    """The daemon's own scheduler (scheduler.Daemon.run) on a wall clock from freezegun: after the clock steps
    back an hour (NTP), the tick job keeps running every tick_seconds, not an hour later."""
    from freezegun import freeze_time

    import scheduler

    app = make_app(sqlite_url)  # type: ignore[operator]
    daemon = scheduler.Daemon(app, tick_seconds=0.2, deliver_seconds=0.2)
    ticks: list[int] = []
    tick_job = daemon.tick_job

    def counted() -> None:
        ticks.append(1)
        tick_job()

    daemon.tick_job = counted  # type: ignore[method-assign]  # run() hands self.tick_job to APScheduler
    seen: dict[str, object] = {}

    def step_back(frozen: object) -> None:
        try:
            seen["ticks_after_step"], seen["next_run_in"] = 0, "the daemon never ticked 3 times"
            if not wait_for(lambda: len(ticks) >= 3, 20):
                return
            before = len(ticks)
            frozen.move_to(datetime.now(UTC) - timedelta(hours=1))  # type: ignore[attr-defined]
            # 3 more ticks at 0.2 s are due within a second; stalled, the next one would be an hour away
            wait_for(lambda: len(ticks) >= before + 3, 10)
            seen["ticks_after_step"] = len(ticks) - before
            seen["next_run_in"] = (daemon.scheduler.get_job("tick").next_run_time - datetime.now(UTC))
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # the daemon's own handler stops it

    with freeze_time("2027-01-06 02:00:00", tick=True) as frozen:
        assert run_daemon_in_process(daemon, lambda: step_back(frozen)) == 0
    assert seen["ticks_after_step"] >= 3, f"fewer than 3 ticks in 10 s after the step; next: {seen['next_run_in']}"
