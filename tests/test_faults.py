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


def test_database_busy_longer_than_the_timeout_exits_4_and_writes_nothing(
        make_app: object, sqlite_url: str, tmp_path: Path) -> None:
    """Another process holds the write lock past the busy timeout: the CLI says "database busy, nothing
    written" in one line, exits 4, and the database is unchanged; once the lock is gone the same command works."""
    app = make_app(sqlite_url)  # type: ignore[operator]
    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"})
    before = dump(sqlite_url)
    ready = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(tmp_path / "outpost.db", 6.0, ready))
    holder.start()
    ready.wait(10)
    env = {**os.environ, "OUTPOST_DATABASE_URL": sqlite_url, "OUTPOST_BUSY_TIMEOUT_MS": "500"}
    began = time.monotonic()
    proc = subprocess.run([*OUTPOST, "case", "advance", str(case.id), "approve", "--as", "wang"],
                          env=env, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - began
    holder.join()
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
