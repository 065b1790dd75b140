"""`outpost daemon`: APScheduler drives two interval jobs — the tick and the mail delivery pass.

Deadlines are rows in Outpost's own table, never APScheduler jobs (LIBRARIES.md: APScheduler 3 job
stores must not be shared between schedulers). The scheduler runs in memory only; several daemons
may run against one database, because every deadline is claimed and fired in a transaction.
SIGTERM/SIGINT stop it cleanly: the current transaction finishes, unfired claims are released.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from datetime import UTC, datetime, timedelta
from threading import TIMEOUT_MAX
from types import FrameType
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.schedulers.blocking import BlockingScheduler

from workflow.errors import BadInput, WorkflowError
from workflow.settings import check_configuration
from workflow.timeutil import LOCAL_TZ

if TYPE_CHECKING:
    from outpost.app import App

log = logging.getLogger("outpost.daemon")
HEARTBEAT_PREFIX = "daemon:"


class _Scheduler(BlockingScheduler):  # type: ignore[misc]  # apscheduler 3 ships no types
    """APScheduler 3's BlockingScheduler whose loop also ends when `stopping` is set.

    A signal handler runs in the main thread, which may be inside the scheduler's `_process_jobs`: calling
    `shutdown()` there pulls the executor and the job store from under it ("cannot schedule new futures after
    shutdown", then JobLookupError out of `start()`). So the handler only sets the flag and wakes the loop,
    which returns between two passes; the daemon then shuts the scheduler down."""

    def __init__(self, stopping: threading.Event, **options: Any) -> None:
        super().__init__(**options)
        self.stopping = stopping

    def _main_loop(self) -> None:
        wait_seconds: float | None = TIMEOUT_MAX
        while self.state != STATE_STOPPED and not self.stopping.is_set():
            self._event.wait(wait_seconds)
            self._event.clear()
            if self.stopping.is_set():
                break
            wait_seconds = self._process_jobs()

    def wakeup(self) -> None:
        if self._event is not None:  # None before start(): the loop then sees `stopping` when it begins
            self._event.set()


class Daemon:
    def __init__(self, app: App, tick_seconds: float, deliver_seconds: float) -> None:
        self.app = app
        self.tick_seconds = tick_seconds
        self.deliver_seconds = deliver_seconds
        self.stopping = threading.Event()
        # held while a job works; shutdown waits for both. Two locks: a long mail pass never delays a tick.
        self.tick_busy = threading.Lock()
        self.mail_busy = threading.Lock()
        self.owner = app.ticker.owner
        self.started_at = app.clock.now()
        self.scheduler = _Scheduler(self.stopping, timezone=UTC)

    # -- jobs -------------------------------------------------------------------------------------------
    def tick_job(self) -> None:
        if self.stopping.is_set():
            return
        with self.tick_busy:
            now = self.app.clock.now()
            try:
                report = self.app.ticker.tick(now, should_stop=self.stopping.is_set, keep_rows=False)
            except Exception as exc:  # e.g. database busy: logged in one line, the next tick retries
                log.warning("tick at %s did not finish: %s: %s", now.isoformat(), type(exc).__name__, exc)
                return
            c = report.counts
            if any(c.values()):
                log.info("tick: %d fired, %d skipped, %d failed, %d opened, %d mail queued",
                         c["fired"], c["skipped"], c["failed"], c["opened"], report.mail_queued)
            self.heartbeat(now)

    def deliver_job(self) -> None:
        if self.stopping.is_set():
            return
        with self.mail_busy:
            try:
                self.app.deliver_mail(self.app.clock.now(), should_stop=self.stopping.is_set)
            except Exception as exc:  # the next pass retries; nothing is lost (rows stay queued)
                log.warning("mail delivery pass did not finish: %s: %s", type(exc).__name__, exc)

    def heartbeat(self, now: datetime, stopped: bool = False) -> None:
        value: dict[str, Any] = {"pid": os.getpid(), "host": socket.gethostname(),
                                 "started_at": self.started_at.isoformat(), "heartbeat_at": now.isoformat()}
        if stopped:
            value["stopped_at"] = now.isoformat()
        try:
            with self.app.store.transaction() as tx:
                tx.set_meta(HEARTBEAT_PREFIX + self.owner, value)
        except WorkflowError as exc:
            log.warning("heartbeat not recorded: %s", exc)

    # -- life cycle ---------------------------------------------------------------------------------------
    def recover_claims(self) -> None:
        """Claims of killed processes on this host go back at start, not after their lease (workflow/orphans.py)."""
        try:
            freed = self.app.release_orphaned_claims()
        except WorkflowError as exc:  # e.g. database busy: the leases still expire on their own
            log.warning("claims of stopped processes not released: %s", exc)
            return
        for owner in freed.owners:
            log.info("released the claims of %s (its process is gone from this host)", owner)
        if freed.owners:
            log.info("released %d deadline and %d mail claims of %d stopped process(es)", freed.deadlines,
                     freed.mails, len(freed.owners))

    def watch_clock(self, every: float) -> None:
        """APScheduler 3 schedules on the wall clock: after the clock steps back (an NTP correction), an interval
        job waits until the clock passes its old next run time again, an hour without ticks for an hour's step.
        A job whose next run is further away than its own interval can only be that: it is made due now.
        (Nothing fires twice for it: deadlines are rows, fired once whatever the clock says.)"""
        while not self.stopping.wait(every):
            now = datetime.now(UTC)
            for job in self.scheduler.get_jobs():
                ahead = job.next_run_time - now if job.next_run_time is not None else None
                if ahead is not None and ahead > job.trigger.interval + timedelta(seconds=1):
                    log.warning("the wall clock stepped back (%s's next run was %.0f s away): running it now",
                                job.id, ahead.total_seconds())
                    job.modify(next_run_time=now)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stopping.is_set():  # a second Ctrl-C, or a supervisor and its child both passing SIGTERM on
            log.info("received %s again: already stopping", name)
            return
        log.info("received %s: finishing the current transaction, then stopping", name)
        self.stopping.set()  # the scheduler's loop ends between two passes (_Scheduler); run() shuts it down
        self.scheduler.wakeup()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.recover_claims()
        now = datetime.now(UTC)
        self.scheduler.add_job(self.tick_job, "interval", seconds=self.tick_seconds, id="tick",
                               next_run_time=now, coalesce=True, max_instances=1, misfire_grace_time=None)
        self.scheduler.add_job(self.deliver_job, "interval", seconds=self.deliver_seconds, id="deliver",
                               next_run_time=now, coalesce=True, max_instances=1, misfire_grace_time=None)
        log.info("daemon %s started: tick every %ss, mail every %ss, database %s", self.owner,
                 self.tick_seconds, self.deliver_seconds, self.app.store.dialect)
        self.heartbeat(self.app.clock.now())
        watch = min(5.0, self.tick_seconds, self.deliver_seconds)
        threading.Thread(target=self.watch_clock, args=(watch,), name="clock-watch", daemon=True).start()
        self.scheduler.start()  # blocks until a signal sets `stopping` (at once if one already has)
        with contextlib.suppress(SchedulerNotRunningError):
            self.scheduler.shutdown(wait=False)  # here, in the main thread between passes
        with self.tick_busy, self.mail_busy:  # wait for running jobs to finish their transaction
            self.app.ticker.queue.release(self.owner)
            self.heartbeat(self.app.clock.now(), stopped=True)
        log.info("daemon %s stopped", self.owner)
        return 0


class _LogFormatter(logging.Formatter):
    """Log times in Asia/Shanghai with their offset (2026-11-28T21:02:25.123+08:00), as every due date in
    the lines is (R-0.4), whatever zone the server runs in."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, LOCAL_TZ).isoformat(timespec="milliseconds")


def setup_logging() -> None:
    # force: the CLI's terminal handler (outpost/cli/__init__.py) gives way to the daemon's log lines
    handler = logging.StreamHandler()
    handler.setFormatter(_LogFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # "skipped: maximum number of running instances" is the coalescing we asked for, not news
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def run(app: App, tick_seconds: float | None = None, deliver_seconds: float | None = None) -> int:
    check_configuration(app.settings)  # the configuration as a whole, as at init and org load: one line
    app.settings.smtp.require_sender()  # one line, exit 2, before anything starts (issue 17)
    setup_logging()
    app.check_schema()
    app.policy  # noqa: B018 - validate the policy file before starting
    from notifications.render import validate_templates

    validate_templates()  # a missing mail template is found at start, not at the first delivery
    tick = tick_seconds if tick_seconds is not None else app.policy.int("scheduler.tick_every_seconds")
    deliver = deliver_seconds if deliver_seconds is not None else app.policy.int("scheduler.deliver_every_seconds")
    if tick <= 0 or deliver <= 0:
        raise BadInput("--tick-seconds and --deliver-seconds must be positive")
    return Daemon(app, float(tick), float(deliver)).run()
