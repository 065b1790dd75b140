"""Faults injected for real: a competing writer holding the lock, a clock that goes backwards."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import dump, local, set_time
from workflow.app import App

OUTPOST = [sys.executable, "-c", "from workflow.cli import main; main()"]


def hold_write_lock(path: Path, seconds: float, ready: threading.Event) -> None:
    """Another process's long write transaction, as seen by SQLite."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE meta SET value = value WHERE key = 'org'")
    ready.set()
    time.sleep(seconds)
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
        impatient.ticker.tick(local(2027, 1, 5, 9, 0))
    holder.join()
    report = impatient.ticker.tick(local(2027, 1, 5, 9, 0))
    assert [f["kind"] for f in report.fired if f["case"] == case.id] == ["remind_approver"]
    impatient.close()


def test_clock_going_backwards_between_ticks_fires_nothing_twice(app: App) -> None:
    """An NTP correction moves the clock back an hour between two ticks: nothing fires again, no mail is
    queued twice; when time catches up, what is newly due fires once."""
    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"})
    first = app.ticker.tick(local(2027, 1, 6, 10, 0))  # reminder (5 Jan) and escalation (6 Jan 09:00) due
    mail = app.store.count("mail")
    assert sorted(f["kind"] for f in first.fired if f["case"] == case.id) == ["escalate", "remind_approver"]
    set_time(app, local(2027, 1, 6, 9, 0))
    back = app.ticker.tick(local(2027, 1, 6, 9, 0))
    assert [f for f in back.fired if f["case"] == case.id] == [] and app.store.count("mail") == mail
    later = app.ticker.tick(local(2027, 1, 6, 10, 0))
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


def _cli(args: list[str], url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTPOST_")}
    env["OUTPOST_DATABASE_URL"] = url
    return subprocess.run([*OUTPOST, *args], env=env, capture_output=True, text=True, timeout=60, cwd=cwd)


def test_a_command_on_a_path_with_no_database_creates_nothing(tmp_path: Path) -> None:
    """A mistyped database path: exit 2 "run outpost init", and no folder or empty file left behind;
    `outpost init` on the same path creates it."""
    target = tmp_path / "typo" / "sub" / "outpsot.db"
    for args in (["case", "list"], ["status"], ["org", "show"], ["audit", "verify"], ["tick"]):
        proc = _cli(args, f"sqlite:///{target}", tmp_path)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "outpost init" in proc.stderr and "Traceback" not in proc.stderr
        assert not (tmp_path / "typo").exists(), args
    assert _cli(["init"], f"sqlite:///{target}", tmp_path).returncode == 0
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
        proc = _cli(args, f"sqlite:///{target}", tmp_path)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and words in proc.stderr and "internal error" not in proc.stderr


def test_a_postgresql_server_that_does_not_answer_is_one_line_and_exit_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _cli(["case", "list"], f"postgresql+psycopg://postgres@127.0.0.1:{port}/test", tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "does not answer" in proc.stderr
