"""The tick: open the periodic cases that are due to exist, then fire every due deadline, once.

Each deadline fires in its own transaction, in due order. Work is claimed first (lock owner + expiry),
then the row turns `pending → fired` inside the very transaction that does the work, so a crash rolls
both back and a second daemon finds nothing left to do.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from workflow import registry
from workflow.clock import require_aware
from workflow.errors import BadInput, Busy, Conflict, TransactionLost, WorkflowError
from workflow.ports import CaseStore, DeadlineQueue
from workflow.service import CaseService
from workflow.timeutil import local_date, local_iso
from workflow.tracking import EPOCH_KEY, tracking_from

log = logging.getLogger("outpost.tick")

LAST_TICK_KEY = "last_tick"


DRY_RUN_LIMIT = 1000  # deadlines a --dry-run plays at most


def make_owner() -> str:
    from workflow.orphans import owner_scope

    return f"{owner_scope()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class TickReport:
    at: datetime
    dry_run: bool = False
    fired: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    opened: list[dict[str, Any]] = field(default_factory=list)
    mail_queued: int = 0
    interrupted: bool = False
    keep_rows: bool = True  # the daemon keeps counts only: a tick over 1M due rows must not hold 1M dicts
    counts: dict[str, int] = field(default_factory=lambda: {"fired": 0, "skipped": 0, "failed": 0, "opened": 0})

    def add(self, what: str, row: dict[str, Any]) -> None:
        self.counts[what] += 1
        if self.keep_rows or what == "failed":
            getattr(self, what).append(row)

    def as_json(self) -> dict[str, Any]:
        return {"at": local_iso(self.at), "dry_run": self.dry_run, "counts": self.counts, "fired": self.fired,
                "skipped": self.skipped, "failed": self.failed, "opened": self.opened,
                "mail_queued": self.mail_queued, "interrupted": self.interrupted}


class Ticker:
    def __init__(self, store: CaseStore, queue: DeadlineQueue, service: CaseService,
                 owner: str | None = None, batch: int = 100) -> None:
        self.store = store
        self.queue = queue
        self.service = service
        self.owner = owner or make_owner()
        self.batch = batch

    # -- periodic cases (R-5.4 and friends) -------------------------------------------------------------
    def _epoch(self, now: datetime, write: bool) -> date:
        """Periods due before the tracking date (set by the first init, workflow/tracking.py) are not
        created after the fact; a database never initialised that way counts from its first tick."""
        for _attempt in range(2):
            try:
                with self.store.transaction(write=write) as tx:
                    since = tracking_from(tx, self.service.tracking_override)
                    if since is not None:
                        return since
                    meta = tx.get_meta(EPOCH_KEY)
                    if meta is None:
                        if write:
                            tx.set_meta(EPOCH_KEY, {"date": local_date(now).isoformat()})
                        return local_date(now)
                    return date.fromisoformat(str(meta["date"]))
            except Busy:
                raise
            except Conflict:
                continue  # two daemons' first ticks at once (PostgreSQL): the other wrote it; read it
        raise Conflict("the first tick's start date could not be recorded; the next tick retries")

    def due_periods(self, now: datetime, write: bool = True) -> list[tuple[str, str, str]]:
        """(process, office, period) of every periodic case that should exist now and does not."""
        epoch = self._epoch(now, write)
        today = local_date(now)
        missing: list[tuple[str, str, str]] = []
        with self.store.transaction(write=False) as tx:
            # an office left out of the organisation gets no new duties; one added later gets those due
            # from the day it was added (R-1.1: the set of offices is data)
            since = {o.code: max(epoch, o.since or epoch) for o in tx.org().offices.values() if o.active}
            for name in registry.names():
                definition = registry.latest(name)
                if not definition.periodic or definition.periods is None:
                    continue
                for year in (today.year - 1, today.year, today.year + 1):
                    for period in definition.periods(year, self.service.policy):
                        if period.opens_at > now or period.due < epoch:
                            continue
                        have = tx.offices_with_case(name, period.key)
                        missing += [(name, o, period.key) for o in sorted(since)
                                    if o not in have and period.due >= since[o]]
        return missing

    def open_periodic(self, now: datetime, report: TickReport) -> None:
        for process, office, period in self.due_periods(now):
            try:
                with self.store.transaction() as tx:
                    case, queued = self._open_period(tx, process, office, period, now)
            except Conflict:
                continue  # the unique (process, office, period) key: someone else opened it
            except WorkflowError as exc:  # one period that cannot open must not stop the tick
                self._not_opened(report, process, office, period, exc, "not opened")
                continue
            if case is None:
                continue  # another daemon was quicker
            report.mail_queued += queued  # the opening notices are mail this tick queued too
            report.add("opened", {"case": case.id, "process": process, "office": office, "period": period})
            log.info("opened %s %s for %s (case %s)", process, period, office, case.id)

    def _open_period(self, tx: Any, process: str, office: str, period: str, now: datetime) -> tuple[Any, int]:
        """The period's case opened in the caller's transaction (None when it exists already), and the mail
        its opening queued."""
        if tx.find_case(process, office, period) is not None:
            return None, 0
        return self.service.open_counted(tx, registry.latest(process), {"office": office, "period": period}, now)

    @staticmethod
    def _not_opened(report: TickReport, process: str, office: str, period: str, exc: Exception,
                    status: str) -> None:
        report.add("failed", {"id": None, "case": None, "kind": f"open {process} {period}", "due_at": None,
                              "rule": "R-5.4", "process": process, "error": str(exc)[:200], "status": status})
        if status == "not opened":
            log.warning("could not open %s %s for %s: %s", process, period, office, exc)

    # -- an explicit time (`tick --at`) ------------------------------------------------------------------------
    def last_tick(self) -> datetime | None:
        with self.store.transaction(write=False) as tx:
            last = tx.get_meta(LAST_TICK_KEY)
        return datetime.fromisoformat(str(last["at"])) if last else None

    def check_at(self, at: datetime, force: bool) -> datetime | None:
        """An explicit `tick --at` earlier than the last tick (2020 after ticks in 2027) is a typing mistake
        far more often than an intent: bad input unless `force`. Returns the later last tick when forced past
        it (the tick then leaves the last tick as it was), else None. The daemon and a plain `tick` take the
        wall clock and never come here: a clock stepped back (NTP) is survived as before."""
        last = self.last_tick()
        if last is None or require_aware(at) >= last:
            return None
        if not force:
            raise BadInput(f"--at {local_iso(at)} is before the last tick ({local_iso(last)}); add --force to tick "
                           "at that time anyway (deadlines still pending and due by then fire; nothing fired "
                           "fires again; the last tick stays)")
        return last

    # -- deadlines ------------------------------------------------------------------------------------------
    def tick(self, now: datetime, dry_run: bool = False,
             should_stop: Callable[[], bool] = lambda: False, keep_rows: bool = True,
             keep_last_tick: bool = False) -> TickReport:
        """`keep_last_tick`: a forced tick at an earlier time than the last one does not record itself as
        the last tick (`status` keeps showing the latest)."""
        now = require_aware(now)
        report = TickReport(at=now, dry_run=dry_run, keep_rows=keep_rows)
        if dry_run:
            self._rehearse(now, report)
            return report
        self.open_periodic(now, report)
        self.fire_due(now, report, should_stop)
        if not keep_last_tick:
            self._record_tick(now, report)
        return report

    def fire_due(self, now: datetime, report: TickReport, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Fire every due deadline once, in due order, claimed in batches (the tick without its periodic
        cases and its record)."""
        policy = self.service.policy
        lease = timedelta(seconds=policy.int("scheduler.claim_seconds"))
        max_attempts = policy.int("scheduler.max_attempts")
        try:
            more = True
            while more and not report.interrupted:
                claimed, more = self._claim_batch(now, lease, report, should_stop, max_attempts)
                for d in claimed:
                    if should_stop():
                        report.interrupted = True
                        break
                    more = self._fire_one(d, now, report, max_attempts) or more
        except BaseException:
            # e.g. the database stayed busy: hand back what this tick claimed and did not fire, so that the
            # next tick (or another daemon) takes it at once rather than after the lease
            with contextlib.suppress(Exception):
                self.queue.release(self.owner)
            raise
        if report.interrupted:
            self.queue.release(self.owner)

    def _rehearse(self, now: datetime, report: TickReport) -> None:
        """--dry-run: the whole tick played in one transaction that is then rolled back. It reports what a
        real tick at `now` would do (the periodic cases opened and their deadlines already due, reminders
        skipped as superseded, deadlines set by a firing that are due at once, failures, mail queued) and
        writes nothing. Each opening and each deadline runs under a savepoint, so a failure undoes only its
        own work. At most DRY_RUN_LIMIT deadlines; beyond that the report says it was cut short."""
        lease = timedelta(seconds=self.service.policy.int("scheduler.claim_seconds"))
        periods = self.due_periods(now, write=False)
        new: dict[int, dict[str, Any]] = {}  # rolled-back case id → the case the real tick would open
        with self.store.rehearsal() as tx:
            for process, office, period in periods:
                try:
                    with tx.savepoint():
                        case, queued = self._open_period(tx, process, office, period, now)
                except TransactionLost:
                    raise
                except WorkflowError as exc:  # as the real tick: one period that cannot open is reported
                    self._not_opened(report, process, office, period, exc, "would not open")
                    continue
                if case is not None:
                    report.mail_queued += queued
                    new[case.id] = {"process": process, "office": office, "period": period}
                    report.add("opened", {"case": None, **new[case.id]})
            seen = 0
            while seen < DRY_RUN_LIMIT:
                claimed = self.queue.claim_in(tx, self.owner, now, lease, min(self.batch, DRY_RUN_LIMIT - seen))
                if not claimed:
                    break
                for d in claimed:
                    seen += 1
                    row = self._row(d)
                    if d.case_id in new:  # its id is the rehearsal's; name the case instead
                        row.update(case=None, new_case=new[d.case_id])
                    try:
                        with tx.savepoint():
                            outcome = self._take_and_fire(tx, d, now)
                    except TransactionLost:
                        raise  # nothing after it may run: it would be written for real
                    except Exception as exc:
                        tx.set_deadline_status(d, "cancelled", now)  # out of the rehearsal's way
                        report.add("failed", {**row, "error": str(exc)[:200], "status": "would fail"})
                        continue
                    if outcome is not None:
                        self._report(d, outcome, report, row=row, announce=False)
            report.interrupted = seen >= DRY_RUN_LIMIT and bool(self.queue.claim_in(tx, self.owner, now, lease, 1))

    def _claim_batch(self, now: datetime, lease: timedelta, report: TickReport,
                     should_stop: Callable[[], bool], max_attempts: int) -> tuple[list[Any], bool]:
        """Claim the next batch and fire its first deadline in the claiming transaction: one commit
        fewer per batch, and most ticks that find work find one deadline. Returns the claimed rows still
        to fire, and whether to claim again: after a full batch, or when a firing set a deadline that is
        already due (a verdict, R-5.4); otherwise nothing is left for this `now`.
        If that first fire fails, nothing of the transaction is kept (the claim included): the batch is
        claimed again on its own, the failure is recorded against the first row (one failed attempt, as
        in `_fire_one`, not a second try), and the rest fire each in its own transaction."""
        first: Any = None  # set once the claim is done and the first row is being fired
        try:
            with self.store.transaction() as tx:
                claimed = self.queue.claim_in(tx, self.owner, now, lease, self.batch)
                full = len(claimed) == self.batch
                if not claimed or should_stop():
                    return claimed, full
                first = claimed[0]
                outcome = self._take_and_fire(tx, first, now)
        except Exception as exc:
            if first is None:
                raise  # the claim itself failed (the database is busy or gone): the tick fails, as it must
            again = self.queue.claim(self.owner, now, lease, self.batch)
            for d in again:
                if d.id == first.id:  # still ours (not taken by another daemon meanwhile)
                    self._failed(d, now, exc, report, max_attempts)
            return [d for d in again if d.id != first.id], len(again) == self.batch
        if outcome is None:
            return claimed[1:], full
        self._report(first, outcome, report)
        return claimed[1:], full or outcome.sets_due

    def _take_and_fire(self, tx: Any, d: Any, now: datetime) -> Any:
        """`pending → fired` if still claimed here, then the work, in the caller's transaction; None when
        the row was fired or cancelled meanwhile."""
        assert d.id is not None
        return self.service.fire(tx, d, now) if self.queue.take(tx, d.id, self.owner, now) else None

    def _fire_one(self, d: Any, now: datetime, report: TickReport, max_attempts: int) -> bool:
        """Fire one claimed deadline in its own transaction; True when that set a deadline already due."""
        try:
            with self.store.transaction() as tx:
                outcome = self._take_and_fire(tx, d, now)
        except Exception as exc:
            self._failed(d, now, exc, report, max_attempts)
            return False
        if outcome is None:
            return False
        self._report(d, outcome, report)
        return bool(outcome.sets_due)

    def _failed(self, d: Any, now: datetime, exc: Exception, report: TickReport, max_attempts: int) -> None:
        """A fire that failed is one failed attempt of a row still claimed here, retried with back-off."""
        delay = timedelta(seconds=min(3600, 60 * 2 ** min(d.attempts, 6)))
        status = self.queue.failed_attempt(d.id, self.owner, now, f"{type(exc).__name__}: {exc}",
                                           now + delay, max_attempts)
        if status == "taken over":  # our claim ran out and another daemon has the row: its business now
            report.add("skipped", {**self._row(d), "outcome": "taken over"})
            log.info("deadline %s (%s on case %s) failed here and was taken over meanwhile: %s", d.id,
                     d.kind, d.case_id, exc)
            return
        report.add("failed", {**self._row(d), "error": str(exc)[:200], "status": status})
        log.warning("deadline %s (%s on case %s) failed: %s", d.id, d.kind, d.case_id, exc)

    def _report(self, d: Any, outcome: Any, report: TickReport, row: dict[str, Any] | None = None,
                announce: bool = True) -> None:
        """Count and list what a firing did; `announce` logs it too (a dry run's fake firings are not)."""
        what = "fired" if outcome.outcome == "fired" else "skipped"
        row = {**(row or self._row(d)), "process": outcome.case.process}
        report.add(what, row if what == "fired" else {**row, "outcome": outcome.outcome})
        if what == "fired":
            report.mail_queued += outcome.mail_queued
        if announce and log.isEnabledFor(logging.INFO):  # local_iso is not free: only when the line is written
            if what == "fired":
                log.info("fired deadline %s (%s) on case %s, due %s (%s)", d.id, d.kind, d.case_id,
                         local_iso(d.due_at), d.rule_id)
            else:
                log.info("%s %s on case %s (due %s)", outcome.outcome, d.kind, d.case_id, local_iso(d.due_at))

    @staticmethod
    def _row(d: Any) -> dict[str, Any]:
        return {"id": d.id, "case": d.case_id, "kind": d.kind, "due_at": local_iso(d.due_at),
                "rule": d.rule_id}

    def _record_tick(self, now: datetime, report: TickReport) -> None:
        try:
            with self.store.transaction() as tx:
                tx.set_meta(LAST_TICK_KEY, {"at": now.isoformat(), "owner": self.owner,
                                            "fired": report.counts["fired"], "failed": report.counts["failed"]})
        except Conflict:
            pass  # a busy database must not turn a done tick into a failure; the next tick records it
