"""Kill -9 the daemon at seeded random moments while it fires 1,000 due deadlines and sends their mail to
a real SMTP server on 127.0.0.1; restart it each time. Nothing is fired twice, nothing is lost, and a mail
is sent twice only when its delivery was interrupted — with the same Message-ID."""

from __future__ import annotations

import email
import email.policy
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import local
from tests.notifications.conftest import _free_port as free_port
from tests.test_daemon import wait_for
from workflow import registry
from workflow.app import App

OUTPOST = [sys.executable, "-c", "from workflow.cli import main; main()"]
SEED = 20261128
KILLS = 20
CASES = 500  # two due deadlines each: 1,000


class Recorder:
    """Remembers the Message-ID of every message the server accepted."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.ids.append(str(msg["Message-ID"]))
        return "250 OK"


def wait_while_progressing(probe: Callable[[], Any], goal: Any, quiet: float) -> bool:
    """Wait until probe() == goal, as long as it keeps changing (a slow machine is not a failure)."""
    last, since = probe(), time.monotonic()
    while last != goal:
        time.sleep(0.5)
        now = probe()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > quiet:
            return False
    return True


@pytest.mark.slow
def test_kill_9_at_20_seeded_moments_fires_each_deadline_once_and_loses_no_mail(
        make_app: Callable[..., App], sqlite_url: str, tmp_path: Path) -> None:
    """20 SIGKILLs at seeded moments, then a clean run: 1,000 deadlines fired exactly once, every mail row
    sent and received, duplicates only for interrupted deliveries (same Message-ID), audit verify passes."""
    app = make_app(sqlite_url, at=local(2026, 11, 2, 10, 0))
    for i in range(CASES):
        day = date(2026, 12, 21) + timedelta(days=i // 2)
        app.service.open("leave", ("zhao", "huang")[i % 2], {"start": day.isoformat(), "end": day.isoformat()})
    with app.store.transaction() as tx:  # the requests' own mail is not what this test is about
        from sqlalchemy import text

        tx.conn.execute(text("UPDATE mail SET status = 'sent'"))
    recorder = Recorder()
    port = free_port()
    server = Controller(recorder, hostname="127.0.0.1", port=port)
    server.start()
    policy = tmp_path / "policy.toml"  # claims of a killed daemon expire after 3 s instead of 5 / 15 min
    policy.write_text("[scheduler]\nclaim_seconds = 3\n[mail]\nclaim_seconds = 3\n", encoding="utf-8")
    env = {**os.environ, "OUTPOST_DATABASE_URL": sqlite_url, "OUTPOST_SMTP_HOST": "127.0.0.1",
           "OUTPOST_POLICY": str(policy),
           "OUTPOST_SMTP_PORT": str(port), "OUTPOST_SMTP_FROM": "outpost@gov.example.org"}
    rng = random.Random(SEED)
    log_path = tmp_path / "daemon.log"

    def start() -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            return subprocess.Popen([*OUTPOST, "daemon", "--tick-seconds", "0.3", "--deliver-seconds", "0.3"],
                                    env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)

    def pending() -> tuple[int, int]:
        queue = app.ticker.queue
        due = queue.count_due(local(2026, 11, 29, 0, 0))
        queued = app.store.mail_counts().get("queued", 0)
        return due, queued

    proc: subprocess.Popen[bytes] | None = None
    try:
        kill_moments, progress = [], []
        for run in range(KILLS):
            proc = start()
            # once this run is up (its start line is in the log), pull the plug at a seeded moment of its work
            up = wait_for(lambda n=run, p=proc: log_path.read_text().count(" started: ") > n or p.poll() is not None,
                          60)
            assert up and proc.poll() is None, log_path.read_text()[-2000:]
            moment = rng.uniform(0.0, 0.25)  # after the run's start line
            kill_moments.append(round(moment, 2))
            time.sleep(moment)  # not waiting for a deadline: choosing when to pull the plug
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            progress.append(pending())
        proc = start()
        # the last run must be up (signal handlers installed) before it is asked to stop: the killed runs
        # may already have done all the work, and a SIGTERM before start-up would end it like a kill
        up = wait_for(lambda p=proc: log_path.read_text().count(" started: ") > KILLS or p.poll() is not None, 60)
        assert up and proc.poll() is None, log_path.read_text()[-2000:]
        finished = wait_while_progressing(pending, (0, 0), quiet=60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert finished, (pending(), log_path.read_text()[-3000:])
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        server.stop()

    with app.store.transaction(write=False) as tx:
        from sqlalchemy import text

        statuses = Counter(dict(tx.conn.execute(text(
            "SELECT d.status, count(*) FROM deadline d JOIN cases c ON c.id = d.case_id "
            "WHERE c.process = 'leave' AND d.kind IN ('remind_approver', 'escalate') GROUP BY d.status")).all()))
        escalations = tx.conn.execute(text(
            "SELECT count(*) FROM history WHERE \"trigger\" = 'escalate'")).scalar_one()
        keys = [r[0] for r in tx.conn.execute(text(
            "SELECT dedupe_key FROM mail WHERE event IN ('leave.reminder', 'leave.escalated')"))]
        bad_states = tx.conn.execute(text(
            "SELECT count(*) FROM cases WHERE process = 'leave' AND state NOT IN ('pending')")).scalar_one()
        states = {r[0] for r in tx.conn.execute(text("SELECT DISTINCT process || ':' || state FROM cases"))}
    assert statuses == {"fired": 1000}, statuses  # every deadline fired, none twice (a row fires once)
    assert escalations == CASES  # one escalation per case: no fire ran twice
    # every fired deadline queued its mail, under its own key (case:event:d<deadline>:person), once per person.
    # A reminder whose claim died with a killed daemon can fire after the same case's escalation, and then
    # reminds both levels: the one place where a crash changes the order (docs/RELIABILITY.md).
    per_deadline = Counter(key.split(":")[2] for key in keys)
    assert len(per_deadline) == 1000 and max(per_deadline.values()) <= 2
    assert len(keys) == len(set(keys))
    assert bad_states == 0
    for item in states:
        process, state = item.split(":")
        assert state in registry.latest(process).states
    mails = [m for m in app.store.mails() if m.event in ("leave.reminder", "leave.escalated")]
    assert {m.status for m in app.store.mails()} == {"sent"}
    received = Counter(recorder.ids)
    assert {m.message_id for m in mails} <= set(received)  # every message arrived
    duplicates = {mid: n for mid, n in received.items() if n > 1}
    # an extra copy only for an interrupted delivery: each kill interrupts at most one send, so there are
    # at most as many extra copies as kills (the same message can be the one in flight at two kills)
    assert sum(n - 1 for n in duplicates.values()) <= KILLS
    assert app.verify().ok
    # the kills did land in the middle of real work: in firing (deadlines still due after the first kill)
    # and in delivery (mail still queued after most of them; a restarted daemon gives a killed one's
    # claims back at start, so work resumes at once and the kill moments are kept short)
    assert progress[0][0] > 0, progress
    assert sum(1 for _due, queued in progress if queued) >= KILLS // 2, progress
    print(f"kill moments (s): {kill_moments}; (due, queued) after each kill: {progress}; "
          f"mail rows {len(mails)}, received {sum(received.values())}, messages received more than once "
          f"{len(duplicates)}, extra copies {sum(n - 1 for n in duplicates.values())}")
