"""Kill -9 the daemon at 20 seeded points of its work while it fires 1,000 due deadlines and sends their mail to
a real SMTP server on 127.0.0.1; restart it each time. Nothing is fired twice, nothing is lost, and a mail
is sent twice only when its delivery was interrupted — with the same Message-ID, byte for byte.

The kill points are counts of progress, not delays, so that they land where the seed says whatever the
machine's load: after the c-th deadline fired (the daemon logs `fired deadline N` after the commit), after
the n-th message the server received since the restart, or while the server holds the n-th message of the
run unanswered. A held message is either taken by the server before the kill (it has the data; its 250
never reaches the daemon, so the daemon must send it again: the duplicate at-least-once allows, forced) or
dropped (the server never took it: it must still arrive later, once)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from sqlalchemy import text

from notifications.message import message_id_header
from outpost.app import App
from tests.conftest import local
from tests.notifications.conftest import _free_port as free_port
from workflow import registry
from workflow.timeutil import LOCAL_TZ

DAEMON = "daemon --tick-seconds 0.3 --deliver-seconds 0.3"
# Each daemon is forked from one process that has imported Outpost and checked its mail templates, then runs
# `outpost daemon` from its command line on (settings, schema check, claims of killed processes given back,
# scheduler): a fresh interpreter would spend ~2.5 s of CPU per restart on imports, most of this test's time
# on a loaded 2-core machine. The fork server has no thread, no logging set up and no database connection.
FORK_SERVER = """
import os, sys
import notifications.delivery, scheduler, store.sql
from notifications.render import validate_templates
from workflow import registry
from outpost.cli import run
registry.load_machines()
validate_templates()
while line := sys.stdin.readline():
    command, *args = line.split()
    if command == "start":
        pid = os.fork()
        if pid == 0:
            os.dup2(2, 1)  # the log; stdout is the pipe to the test
            code = 1
            try:
                code = run(args)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        print(pid, flush=True)
    elif command == "reap":
        pid, status = os.waitpid(int(args[0]), os.WNOHANG)
        print(os.waitstatus_to_exitcode(status) if pid else "running", flush=True)
"""
SEED = 20261128
CASES = 500  # two due deadlines each (a reminder and an escalation): 1,000
FIRING_KILLS = 8  # after the c-th deadline fired, c seeded in 1..FIRING_SPAN, spread over the firing
FIRING_SPAN = 800  # leaves at least 200 deadlines, so at least 200 messages, for the delivery kills
RECEIVED_KILLS = 4  # after the n-th message received since the restart
ACCEPT_KILLS = 5  # the server takes the n-th message of the run, then holds its answer: the daemon dies first
DROP_KILLS = 3  # the server holds the n-th message of the run, the daemon dies, the server drops it
PER_RUN = 12  # n seeded in 1..PER_RUN: the delivery kills need at most 12 * 12 messages, fewer than 200
KILLS = FIRING_KILLS + RECEIVED_KILLS + ACCEPT_KILLS + DROP_KILLS
STALL = 60.0  # seconds without any progress (log lines, messages) before a wait is a failure
FIRED_LINE = re.compile(rb"outpost\.tick: fired deadline (\d+) ")
LEAVE_DEADLINES = ("kind IN ('remind_approver', 'escalate') "
                   "AND case_id IN (SELECT id FROM cases WHERE process = 'leave')")


def kill_plan(rng: random.Random) -> list[tuple[str, int]]:
    """(kind, count) per kill: `fired` c-th deadline overall, first; then, shuffled, `received` n-th message
    of the run, `accept` / `drop` the n-th message of the run held by the server."""
    plan = [("fired", c) for c in sorted(rng.sample(range(1, FIRING_SPAN + 1), FIRING_KILLS))]
    later = ["received"] * RECEIVED_KILLS + ["accept"] * ACCEPT_KILLS + ["drop"] * DROP_KILLS
    rng.shuffle(later)
    return plan + [(kind, rng.randint(1, PER_RUN)) for kind in later]


def message_id(data: bytes) -> str:
    return str(email.message_from_bytes(data, policy=email.policy.compat32)["Message-ID"]).strip()


class Recorder:
    """The server's side: every message it took, with the daemon run whose connection brought it; on the armed
    message of a run it holds its answer until the connection is gone (the daemon killed)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.run = -1  # the daemon run that new connections belong to (only one daemon is alive at a time)
        self.connections = 0
        self.seen: Counter[int] = Counter()  # messages whose data arrived, per run
        self.received: list[tuple[int, str, bytes]] = []  # (run, Message-ID, bytes) of every message taken
        self.armed: tuple[int, int, bool] | None = None  # (run, n-th message, take it before holding)
        self.held: str | None = None
        self.holding = threading.Event()
        self.release = threading.Event()

    def settled(self) -> bool:
        """Wait until no connection is open (the killed daemon's, or the controller's own check at start)."""
        return wait_while_progressing(lambda: self.connections, 0, quiet=10)

    def start_run(self, run: int, armed: tuple[int, bool] | None) -> None:
        with self.lock:
            assert self.connections == 0  # the previous daemon's connections are all gone
            self.run = run
            self.armed = (run, *armed) if armed else None
            self.held = None
            self.holding.clear()
            self.release.clear()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = bytes(envelope.content)
        mid = message_id(data)
        with self.lock:
            run = server.run
            self.seen[run] += 1
            hold = self.armed is not None and self.armed[:2] == (run, self.seen[run])
            take = not hold or (self.armed is not None and self.armed[2])
            if take:
                self.received.append((run, mid, data))
            if hold:
                self.held = mid
        if not hold:
            return "250 OK"
        self.holding.set()
        while not self.release.is_set():  # cancelled by aiosmtpd when the killed daemon's connection ends
            await asyncio.sleep(0.005)
        return "250 OK" if take else "451 4.3.0 not taken"

    def count(self, run: int) -> int:
        with self.lock:
            return self.seen[run]


class TaggedSMTP(SMTP):
    """Tags each connection with the daemon run that opened it (a killed daemon's last message can be read
    by the server after the kill; it still belongs to the killed run)."""

    def connection_made(self, transport: Any) -> None:
        handler: Recorder = self.event_handler
        with handler.lock:
            self.run = handler.run
            handler.connections += 1
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        try:
            super().connection_lost(error)
        finally:
            handler: Recorder = self.event_handler
            with handler.lock:
                handler.connections -= 1


class Server(Controller):
    def factory(self) -> SMTP:
        return TaggedSMTP(self.handler, **self.SMTP_kwargs)


class Daemons:
    """Starts daemons (forks of the fork server) and collects their exit status."""

    def __init__(self, env: dict[str, str], cwd: Path, log_path: Path) -> None:
        with log_path.open("ab") as out:
            self.server = subprocess.Popen([sys.executable, "-c", FORK_SERVER], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=out, env=env, cwd=cwd)
        self.pid: int | None = None  # the daemon alive now, if any

    def ask(self, line: str) -> str:
        assert self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write(line.encode() + b"\n")
        self.server.stdin.flush()
        reply = self.server.stdout.readline().decode().strip()
        assert reply, f"the fork server ended ({self.server.poll()})"
        return reply

    def start(self) -> int:
        self.pid = int(self.ask(f"start {DAEMON}"))
        return self.pid

    def alive(self) -> bool:
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state not in ("Z", "X")

    def stop(self, sig: signal.Signals, timeout: float = 30) -> int:
        """Send `sig` to the daemon; its exit status once it is gone (and reaped: its pid is free)."""
        assert self.pid is not None
        os.kill(self.pid, sig)
        end = time.monotonic() + timeout
        while (reply := self.ask(f"reap {self.pid}")) == "running":
            assert time.monotonic() < end, f"daemon {self.pid} still running {timeout} s after {sig.name}"
            time.sleep(0.01)
        self.pid = None
        return int(reply)

    def close(self) -> None:
        if self.pid is not None:
            self.stop(signal.SIGKILL)
        if self.server.stdin is not None:
            self.server.stdin.close()
        self.server.wait(timeout=30)
        if self.server.stdout is not None:
            self.server.stdout.close()


class DaemonLog:
    """The daemons' shared log, read as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.rest = b""
        self.fired: list[int] = []  # deadline ids, in log order, over all runs
        self.started = 0

    def poll(self) -> bool:
        """Read what was added; True when something was."""
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
        self.offset += len(chunk)
        lines = (self.rest + chunk).split(b"\n")
        self.rest = lines.pop()
        for line in lines:
            found = FIRED_LINE.search(line)
            if found:
                self.fired.append(int(found[1]))
            elif b" started: " in line:
                self.started += 1
        return bool(chunk)

    def tail(self) -> str:
        return self.path.read_text(errors="replace")[-3000:]


@dataclass
class Kill:
    kind: str
    count: int
    fired_in_run: int = 0
    fired_before: int = 0  # `fired deadline` lines logged by all runs up to this kill
    received_in_run: int = 0
    held: str | None = None
    due_left: int = 0
    queued_left: int = 0
    sent: frozenset[str] = frozenset()  # Message-IDs marked sent when this daemon was dead

    @property
    def fell(self) -> str:
        during = []
        if self.fired_in_run and self.due_left:
            during.append("firing")
        if (self.received_in_run or self.held) and self.queued_left:
            during.append("delivery")
        return "+".join(during) or "idle"


def wait_until(done: Callable[[], bool], what: str, log: DaemonLog, recorder: Recorder, daemons: Daemons) -> None:
    """Poll closely (a kill point is a count; overshooting it by much would move it) while the daemon makes
    progress; a load that slows it down only makes this longer."""
    last, since = (log.offset, len(recorder.received)), time.monotonic()
    while True:
        log.poll()
        if done():
            return
        assert daemons.alive(), f"the daemon ended before {what}: {log.tail()}"
        now = (log.offset, len(recorder.received))
        if now != last:
            last, since = now, time.monotonic()
        assert time.monotonic() - since < STALL, f"no progress towards {what}: {log.tail()}"
        time.sleep(0.002)


def wait_while_progressing(probe: Callable[[], Any], goal: Any, quiet: float) -> bool:
    """Wait until probe() == goal, as long as it keeps changing (a slow machine is not a failure)."""
    last, since = probe(), time.monotonic()
    while last != goal:
        time.sleep(0.05)
        now = probe()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > quiet:
            return False
    return True


@pytest.mark.slow
def test_kill_9_at_20_seeded_points_fires_each_deadline_once_and_loses_no_mail(
        make_app: Callable[..., App], sqlite_url: str, tmp_path: Path) -> None:
    """20 SIGKILLs at seeded counts of progress (8 while firing, 12 while delivering, 8 of them with the SMTP
    server holding a message), then a clean run: each of the 1,000 deadlines fired once (log and database),
    every mail received, each extra copy an interrupted delivery (one per kill at most, same Message-ID,
    same bytes), every case in a state of its definition, audit verify passes."""
    started = time.monotonic()
    rng = random.Random(SEED)
    plan = kill_plan(rng)
    # the daemons run on the real clock: the requests are made 26 days ago, for leave from 23 days on, so
    # that exactly their reminders and escalations are due (none of the leave has started)
    today = datetime.now(LOCAL_TZ).date()
    opened = today - timedelta(days=26)
    app = make_app(sqlite_url, at=local(opened.year, opened.month, opened.day, 10, 0))
    for i in range(CASES):
        day: date = today + timedelta(days=23 + i // 2)
        app.service.open("leave", ("zhao", "huang")[i % 2], {"start": day.isoformat(), "end": day.isoformat()})
    with app.store.transaction() as tx:  # the requests' own mail is not what this test is about
        tx.conn.execute(text("UPDATE mail SET status = 'sent'"))
        before = {r[0] for r in tx.conn.execute(text("SELECT id FROM mail"))}
        assert tx.conn.execute(text(f"SELECT count(*) FROM deadline WHERE {LEAVE_DEADLINES}")).scalar_one() == 1000
    recorder = Recorder()
    port = free_port()
    server = Server(recorder, hostname="127.0.0.1", port=port)
    server.start()
    assert recorder.settled()
    policy = tmp_path / "policy.toml"  # a restart gives a killed daemon's claims back at once; 3 s is a fallback
    # the daemons run on the real clock: mail goes at once, whatever the hour (not at the next 09:00)
    policy.write_text("[scheduler]\nclaim_seconds = 3\n[mail]\nclaim_seconds = 3\nworking_hours_only = false\n",
                      encoding="utf-8")
    env = {**os.environ, "OUTPOST_DATABASE_URL": sqlite_url, "OUTPOST_SMTP_HOST": "127.0.0.1",
           "OUTPOST_POLICY": str(policy),
           "OUTPOST_SMTP_PORT": str(port), "OUTPOST_SMTP_FROM": "outpost@gov.example.org"}
    log_path = tmp_path / "daemon.log"
    log_path.touch()
    log = DaemonLog(log_path)

    daemons = Daemons(env, tmp_path, log_path)

    def start(run: int) -> None:
        daemons.start()
        wait_until(lambda: log.started > run, f"run {run} started", log, recorder, daemons)

    def kill_point(kind: str, count: int, run: int, fired_at_start: int) -> tuple[Callable[[], bool], str]:
        if kind == "fired":  # the count-th fired line overall, and at least one of this run
            goal = max(count, fired_at_start + 1)
            return (lambda: len(log.fired) >= goal), f"fired line {goal}"
        if kind == "received":
            return (lambda: recorder.count(run) >= count), f"message {count} of run {run}"
        return recorder.holding.is_set, f"message {count} of run {run} held"  # accept, drop

    def left() -> tuple[int, int]:
        with app.store.transaction(write=False) as tx:
            due = tx.conn.execute(text(
                f"SELECT count(*) FROM deadline WHERE status = 'pending' AND {LEAVE_DEADLINES}")).scalar_one()
        return int(due), app.store.mail_counts().get("queued", 0)

    def sent_ids() -> frozenset[str]:
        return frozenset(message_id_header(m.message_id) for m in app.store.mails(status="sent")
                         if m.id not in before)

    kills: list[Kill] = []
    try:
        for run, (kind, count) in enumerate(plan):
            recorder.start_run(run, (count, kind == "accept") if kind in ("accept", "drop") else None)
            start(run)
            fired_at_start = len(log.fired)
            kill = Kill(kind, count)
            wait_until(*kill_point(kind, count, run, fired_at_start), log, recorder, daemons)
            assert daemons.stop(signal.SIGKILL) == -signal.SIGKILL
            recorder.release.set()
            assert recorder.settled(), "a connection stayed open"
            log.poll()
            kill.fired_in_run = len(log.fired) - fired_at_start
            kill.fired_before = len(log.fired)
            kill.received_in_run = recorder.count(run)
            kill.held = recorder.held
            kill.due_left, kill.queued_left = left()
            kill.sent = sent_ids()
            kills.append(kill)
        recorder.start_run(KILLS, None)
        start(KILLS)  # up (signal handlers installed) before it is asked to stop
        finished = wait_while_progressing(left, (0, 0), quiet=STALL)
        assert daemons.stop(signal.SIGTERM) == 0
        assert finished, (left(), log.tail())
        log.poll()
    finally:
        try:
            daemons.close()
        finally:
            recorder.release.set()
            server.stop()
    final_sent = sent_ids()

    # -- every deadline fired exactly once ------------------------------------------------------------------
    with app.store.transaction(write=False) as tx:
        deadlines = tx.conn.execute(text(
            f"SELECT id, status, attempts, fired_at FROM deadline WHERE {LEAVE_DEADLINES}")).all()
        fired_ids = {r[0] for r in tx.conn.execute(text("SELECT id FROM deadline WHERE status = 'fired'"))}
        cases = tx.conn.execute(text(
            "SELECT id, version, history_count FROM cases WHERE process = 'leave'")).all()
        history = tx.conn.execute(text(
            "SELECT h.case_id, h.trigger, h.actor FROM history h JOIN cases c ON c.id = h.case_id "
            "WHERE c.process = 'leave' ORDER BY h.case_id, h.seq")).all()
        keys = [r[0] for r in tx.conn.execute(text(
            "SELECT dedupe_key FROM mail WHERE event IN ('leave.reminder', 'leave.escalated')"))]
        states = {(r[0], r[1]) for r in tx.conn.execute(text("SELECT DISTINCT process, state FROM cases"))}
    assert len(deadlines) == 1000
    assert all(status == "fired" and attempts == 1 and at is not None for _, status, attempts, at in deadlines)
    # the log lines are written after each commit: no deadline (of any process) in them twice, none that the
    # database does not have as fired, and at most one per kill committed but not yet logged
    logged = Counter(log.fired)
    twice = {d: n for d, n in logged.items() if n > 1}
    assert not twice, twice
    assert set(logged) <= fired_ids
    unlogged = {d for d, _s, _a, _t in deadlines} - set(logged)
    assert len(unlogged) <= KILLS, unlogged
    # each fire is one version of its case (a second fire of a reminder would add one, though its mail would be
    # kept out by the outbox's unique key); the history has the request and one escalation by the system
    assert {(version, count) for _id, version, count in cases} == {(3, 2)}, Counter((v, c) for _i, v, c in cases)
    per_case: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
    for case_id, trigger, actor in history:
        per_case[case_id].append((trigger, actor))
    assert len(per_case) == CASES
    assert all(rows[0][0] == "open" and rows[0][1] and rows[1:] == [("escalate", None)] for rows in per_case.values())
    # every fired deadline queued its mail under its own key (case:event:d<deadline>:person), once per person.
    # A reminder whose claim died with a killed daemon can fire after the same case's escalation, and then
    # reminds both levels: the one place where a crash changes the order (docs/RELIABILITY.md).
    per_deadline = Counter(key.split(":")[2] for key in keys)
    assert len(per_deadline) == 1000 and max(per_deadline.values()) <= 2
    assert len(keys) == len(set(keys))
    for process, state in states:
        assert state in registry.latest(process).states, (process, state)
    assert app.verify().ok

    # -- every mail received; each extra copy an interrupted delivery -------------------------------------
    mails = [m for m in app.store.mails() if m.id not in before]
    assert {m.status for m in mails} == {"sent"}
    copies: dict[str, list[bytes]] = defaultdict(list)
    for _run, mid, data in recorder.received:
        copies[mid].append(data)
    assert {message_id_header(m.message_id) for m in mails} <= set(copies)  # at least once
    assert set(copies) <= final_sent  # and nothing the outbox does not have
    # a message was in flight at kill k if the server took it from run k and it was not marked sent when
    # daemon k was dead (the pass marks one message before it sends the next: one per kill at most)
    in_flight: Counter[str] = Counter()
    for run, kill in enumerate(kills):
        interrupted = {mid for r, mid, _data in recorder.received if r == run and mid not in kill.sent}
        assert len(interrupted) <= 1, (run, interrupted)
        if kill.kind == "accept":
            assert interrupted == {kill.held}, (run, kill, interrupted)
        if kill.kind == "drop":
            assert kill.held and not interrupted, (run, kill, interrupted)
            assert kill.held not in {mid for r, mid, _data in recorder.received if r == run}
        in_flight.update(interrupted)
    assert all(mid in final_sent for r, mid, _data in recorder.received if r == KILLS)  # a clean run: no resend
    duplicates = {mid: len(c) for mid, c in copies.items() if len(c) > 1}
    # each message arrived once plus once per kill that interrupted it after the server took it, no more
    assert {mid: len(c) - 1 for mid, c in copies.items() if len(c) > 1} == dict(in_flight)
    assert all(len(set(c)) == 1 for c in copies.values())  # a resend is the same message, byte for byte
    held_taken = [k.held for k in kills if k.kind == "accept" and k.held]
    assert len(held_taken) == ACCEPT_KILLS
    assert all(duplicates.get(mid, 0) >= 2 for mid in held_taken)  # forced: the server had it, the daemon did not know
    assert all(k.held in copies for k in kills if k.kind == "drop")  # the server never took it: sent again, arrived

    # -- the kills fell where the plan put them, whatever the load ------------------------------------------
    assert all("firing" in k.fell for k in kills if k.kind == "fired"), [(k.kind, k.fell) for k in kills]
    assert all("delivery" in k.fell for k in kills if k.kind != "fired"), [(k.kind, k.fell) for k in kills]
    points = ", ".join(f"{k.kind}{'@' if k.kind == 'fired' else '#'}{k.count}→{k.fell}" for k in kills)
    extra = sum(in_flight.values())
    print(f"\nkill -9 (seed {SEED}, {time.monotonic() - started:.0f} s): {KILLS} kill points [{points}]; "
          f"fell during firing {sum('firing' in k.fell for k in kills)}, during delivery "
          f"{sum('delivery' in k.fell for k in kills)}; firing kills after fired line "
          f"{[k.fired_before for k in kills if k.kind == 'fired']}; deadlines fired {len(deadlines)}/1000, once each "
          f"(log: none twice, {len(unlogged)} committed but not logged at a kill); mail: {len(mails)} rows "
          f"({len(keys)} for the deadlines), {len(recorder.received)} received ({len(copies)} distinct); "
          f"duplicates: {len(duplicates)} messages, {extra} extra copies, each in flight at a kill "
          f"({len(held_taken)} held and taken by the server, {extra - len(held_taken)} at other kills); "
          f"{DROP_KILLS} held and dropped, delivered later", flush=True)
