"""The case service: `open`, `advance` and deadline firing, each in ONE transaction.

A step checks permission and guards, moves the state through the definition's shared Machine, bumps
the case version (optimistic lock), appends a hash-chained history row, cancels the old state's
deadlines and sets the new state's, and queues the mail the step sends — all committed together.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from workflow import delegation, registry
from workflow.amounts import parse_score
from workflow.calendar import WorkCalendar, fallback_years
from workflow.clock import Clock, require_aware
from workflow.context import Ctx, PendingMail
from workflow.definition import Guard, ProcessDefinition, Transition
from workflow.errors import BadInput, Conflict, NotFound, NotPermitted, RuleViolation, WorkflowError
from workflow.hashing import GENESIS, history_hash
from workflow.model import Case, Deadline, HistoryEntry, Item, Mail, Org, Person, Record
from workflow.policy import Policy
from workflow.ports import CaseStore, Tx
from workflow.timeutil import LOCAL_TZ, local_iso, parse_date

log = logging.getLogger("outpost.engine")

CASE_DATA_VERSION = 1
MAX_TEXT = 2000  # comments, reasons and titles longer than this are refused, not truncated


class GuardRefusal(RuleViolation):
    """A refusal whose guard wants it recorded (`Guard.on_refusal`)."""

    def __init__(self, guard: Guard, reason: str) -> None:
        super().__init__(guard.rule_id, reason)
        self.guard = guard


@dataclass(frozen=True)
class FireOutcome:
    case: Case
    outcome: str  # fired | skipped | cancelled
    mail_queued: int
    sets_due: bool = False  # the firing set a deadline that is due already (the tick fires it too)


@dataclass(frozen=True)
class TriggerInfo:
    trigger: str
    allowed: bool
    reason: str | None
    needs_override: bool = False  # allowed only with --override REASON (a rule passed on purpose, R-2.5)
    acting_for: str | None = None  # permitted only acting for this person, by a delegation (issue 15.4)

    def as_json(self) -> dict[str, Any]:
        out = {"trigger": self.trigger, "allowed": self.allowed, "reason": self.reason}
        return out | {"acting_for": self.acting_for} if self.acting_for else out


# Mail events of the engine itself, for every process (templates in notifications/templates/<lang>/):
# `receipt` tells a person who acted through a front door other than the CLI what was recorded;
# `sign_in` carries a web sign-in link (queued by the web front door, for no case).
RECEIPT = "receipt"
SIGN_IN = "sign_in"
ENGINE_EVENTS = (RECEIPT, SIGN_IN)

DATE_OPTIONS = frozenset({"date"})  # trigger options that are dates (PRODUCT.md: `--date YYYY-MM-DD`)


def check_text(value: str | None, what: str, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f"{what}: expected text")
    if len(value) > limit:
        raise BadInput(f"{what}: longer than {limit} characters")
    if any(ord(ch) < 32 and ch not in "\t\n" for ch in value) or "\x7f" in value:
        raise BadInput(f"{what}: contains control characters")
    return value


class _RecordingTx:
    """The transaction as the engine sees it, keeping a copy of the mail rows queued through it."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        self.mail: list[Mail] = []
        self.queued = 0  # rows the outbox took (a row already there by its dedupe key is not counted)

    def queue_mail(self, rows: list[Mail]) -> int:
        self.mail.extend(rows)
        done = self._tx.queue_mail(rows)
        self.queued += done
        return done

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)


class CaseService:
    def __init__(self, store: CaseStore, clock: Clock, policy: Policy, calendar: WorkCalendar,
                 mail_domain: str = "outpost.local", lang: str = "zh", tracking_from: date | None = None) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy
        self.calendar = calendar
        self.mail_domain = mail_domain
        self.lang = lang
        self.tracking_override = tracking_from  # outpost.toml's `tracking_from` (workflow/tracking.py)

    # -- public API --------------------------------------------------------------------------------
    def open(self, process: str, actor_id: str | None, params: dict[str, Any],
             comment: str | None = None, override: str | None = None) -> Case:
        definition = registry.latest(process)
        comment = check_text(comment, "--comment")
        override = check_text(override, "--override")
        if override is not None and not override.strip():
            raise BadInput("--override: give the reason in words")
        unknown = sorted(k for k, v in params.items() if v is not None and k not in definition.open_options)
        if unknown:
            raise BadInput(f"case open {process}: option --{unknown[0].replace('_', '-')} does not apply")
        if definition.periodic and actor_id is not None:
            raise RuleViolation("R-5.4", f"{process} cases are created by the daemon, not by a person")
        with self.store.transaction() as tx:
            return self.open_in(tx, definition, actor_id, params, comment, override)

    def open_in(self, tx: Tx, definition: ProcessDefinition, actor_id: str | None, params: dict[str, Any],
                comment: str | None = None, override: str | None = None,
                now: datetime | None = None) -> Case:
        """Open a case inside an existing transaction (the daemon's periodic cases, org cadre changes)."""
        now = require_aware(now or self.clock.now())
        org = tx.org()
        actor = self._actor(org, actor_id)
        ctx = Ctx(tx=tx, org=org, definition=definition, case=None, actor=actor, now=now,
                  policy=self.policy, calendar=self.calendar, trigger="open",
                  params={k: v for k, v in params.items() if v is not None}, comment=comment,
                  override=override)
        plan = definition.opener(ctx)
        if override is not None and not ctx.overridden:  # nothing is written yet
            raise BadInput(f"--override: opening a {definition.name} case passes no rule here; leave it out")
        if plan.state not in definition.initial_states:
            raise RuleViolation("R-0", f"{definition.name} cannot open in state {plan.state!r}")
        data = {"v": CASE_DATA_VERSION, **plan.data}
        case = Case(id=0, process=definition.name, definition_version=definition.version,
                    office=plan.office, subject=plan.subject, period=plan.period, state=plan.state,
                    version=1, data=data, opened_at=now, opened_by=actor.id if actor else None,
                    updated_at=now)
        case.id = tx.insert_case(case)
        ctx.case = case
        ctx.details.update(plan.details)
        for effect in definition.open_effects:
            effect(ctx)
        for n in definition.open_notices:
            if not n.states or plan.state in n.states:
                ctx.notify(n.event, n.to(ctx), n.rule_id, actions=n.actions, due_at=n.due(ctx) if n.due else None,
                           **(n.params(ctx) if n.params else {}))
        self._finish(ctx, "open", None, plan.state, expected_version=None)
        self._follow_ups(ctx)
        return case

    def open_counted(self, tx: Tx, definition: ProcessDefinition, params: dict[str, Any],
                     now: datetime) -> tuple[Case, int]:
        """A case opened by the daemon in the caller's transaction, and how much mail its opening queued
        (the tick's summary counts the opening notices too)."""
        recording = _RecordingTx(tx)
        case = self.open_in(recording, definition, None, params, now=now)  # type: ignore[arg-type]
        return case, recording.queued

    def advance(self, case_id: int, trigger: str, actor_id: str | None, comment: str | None = None,
                override: str | None = None, options: dict[str, Any] | None = None, *,
                before: Callable[[Tx, Case], None] | None = None, channel: Mapping[str, Any] | None = None,
                receipt: bool = False) -> Case:
        """Fire `trigger` as `actor_id`, in one transaction.

        `before(tx, case)` runs first inside that transaction (a front door's own check that must commit or
        roll back with the step: the web marks its single-use link used there); whatever it raises ends
        the step with nothing written. `channel` goes into the history row's details (the web: channel,
        client address, user agent). `receipt` queues a `receipt` mail to the actor with the step."""
        comment = check_text(comment, "--comment")
        override = check_text(override, "--override")
        if override is not None and not override.strip():
            raise BadInput("--override: give the reason in words")
        params = {k: v for k, v in (options or {}).items() if v is not None}
        try:
            with self.store.transaction() as tx:
                case = self._case(tx, case_id)
                if before is not None:
                    before(tx, case)
                definition = registry.get(case.process, case.definition_version)
                org = tx.org()
                actor = self._actor(org, actor_id)
                ctx = Ctx(tx=tx, org=org, definition=definition, case=case, actor=actor,
                          now=require_aware(self.clock.now()), policy=self.policy, calendar=self.calendar,
                          trigger=trigger, params=params, comment=comment, override=override,
                          details=dict(channel or {}))
                spec = self._transition(definition, case, trigger)
                if spec.system:
                    raise NotPermitted("R-0", f"{trigger!r} is fired by the daemon only")
                unknown = sorted(set(ctx.params) - spec.options)
                if unknown:
                    raise BadInput(f"trigger {trigger!r} takes no option --{unknown[0].replace('_', '-')}")
                # malformed input is bad input (exit 2, nothing written) before any rule is asked, so a
                # guard that records its refusal never records one for a mistyped date
                for key in DATE_OPTIONS & ctx.params.keys():
                    parse_date(str(ctx.params[key]), f"--{key.replace('_', '-')}")
                if "score" in ctx.params:  # `--score 九十` is malformed (exit 2), not refused by
                    parse_score(ctx.params["score"])
                self._authorise(ctx, spec)
                self._guards(ctx, spec)
                if receipt and actor is not None:
                    ctx.mail.append(PendingMail(RECEIPT, [actor], next((n.rule_id for n in spec.notices), ""),
                                                "", {"trigger": trigger, "from_state": case.state,
                                                     "urgent": True}))  # what they just did: at once
                self._apply(ctx, spec)
                return case
        except GuardRefusal as refusal:
            self._record_refusal(case_id, trigger, actor_id, comment, params, refusal)
            raise

    def _record_refusal(self, case_id: int, trigger: str, actor_id: str | None, comment: str | None,
                        params: dict[str, Any], refusal: GuardRefusal) -> None:
        """A guard's `on_refusal` effects, in their own transaction (retried once on a conflict); the
        refusal is re-raised by the caller whatever happens here."""
        for _attempt in range(2):
            try:
                with self.store.transaction() as tx:
                    case = self._case(tx, case_id)
                    definition = registry.get(case.process, case.definition_version)
                    org = tx.org()
                    ctx = Ctx(tx=tx, org=org, definition=definition, case=case, actor=self._actor(org, actor_id),
                              now=require_aware(self.clock.now()), policy=self.policy, calendar=self.calendar,
                              trigger=trigger, params=params, comment=comment,
                              details={"refused": refusal.rule_id, "reason": refusal.reason})
                    for effect in refusal.guard.on_refusal:
                        effect(ctx)
                    self._finish(ctx, None, case.state, case.state, expected_version=case.version)
                return
            except Conflict:
                continue
        # the case kept changing under us: the refusal still stands (re-raised by the caller); say what
        # was not recorded rather than lose it silently
        log.warning("refusal of %s on case %s by %s (%s) was not recorded: the case changed twice meanwhile",
                    trigger, case_id, actor_id, refusal.rule_id)

    def triggers(self, case_id: int, actor_id: str, only: Collection[str] | None = None,
                 given: Mapping[str, Collection[str]] | None = None, tx: Tx | None = None,
                 case: Case | None = None) -> list[TriggerInfo]:
        """What this person may do now, and why not for the rest (of `only`, when given: a mail asks about
        the actions it offers, not every trigger of the process). `given`: options taken as given per
        trigger — a mail whose command shows `submit --plan TEXT` asks whether the step is possible with
        the plan the recipient will fill in (issue 17), not whether it is without it. `tx`: read in this
        open transaction (a web page reads all it shows in one) instead of a new one, and `case`: the case
        as already read in it."""
        if tx is None:
            with self.store.transaction(write=False) as own:
                return self.triggers(case_id, actor_id, only, given, own)
        if case is None or case.id != case_id:
            case = self._case(tx, case_id)
        definition = registry.get(case.process, case.definition_version)
        org = tx.org()
        actor = self._actor(org, actor_id)
        out: list[TriggerInfo] = []
        for trig in definition.triggers if only is None else [t for t in definition.triggers if t in only]:
            spec = definition.transition(trig, case.state)
            if spec is None:
                out.append(TriggerInfo(trig, False, f"not possible in state {case.state}"))
                continue
            if spec.system:
                out.append(TriggerInfo(trig, False, "fired by the daemon"))
                continue
            ctx = Ctx(tx=tx, org=org, definition=definition, case=case, actor=actor,
                      now=require_aware(self.clock.now()), policy=self.policy, calendar=self.calendar,
                      trigger=trig, params={name: name.upper() for name in (given or {}).get(trig, ())})
            out.append(self._judge(ctx, spec))
        return out

    @staticmethod
    def _judge(ctx: Ctx, spec: Transition) -> TriggerInfo:
        """Whether ctx.actor may fire `spec` now: permission first, then the rules (guards)."""
        assert spec.who is not None
        refusal = spec.who(ctx)
        if refusal is not None and not delegation.take_over(ctx, spec.who):
            return TriggerInfo(spec.trigger, False, f"{refusal[0]}: {refusal[1]}")
        acting = ctx.actor.id if ctx.delegate is not None and ctx.actor is not None else None
        note = f"acting for {acting}" if acting is not None else None
        for g in spec.guards:
            msg = g.check(ctx)
            if msg:
                hint = " (needs --override REASON)" if g.overridable else ""
                reason = "; ".join(filter(None, (f"{g.rule_id}: {msg}{hint}", note)))
                return TriggerInfo(spec.trigger, g.overridable, reason, g.overridable, acting)
        return TriggerInfo(spec.trigger, True, note, False, acting)

    @staticmethod
    def options_wanted(spec: Transition, info: TriggerInfo) -> list[str]:
        """The trigger's options a refusal asked without them names ("give --plan", "--score N"): given
        those, the step may be open to this person now (the web asks for them on its page)."""
        reason = str(info.reason or "")
        return sorted(o for o in spec.options if f"--{o.replace('_', '-')}" in reason)

    def may_act(self, case_id: int) -> list[dict[str, Any]]:
        """Who may fire which trigger of the case now, among every active person: what `triggers` with
        `--as` would say is allowed (permission and the rules; a rule passable with --override counts, and
        a rule that only asks for one of the trigger's options). Daemon triggers are left out."""
        with self.store.transaction(write=False) as tx:
            case = self._case(tx, case_id)
            definition = registry.get(case.process, case.definition_version)
            specs = [s for s in definition.leaving(case.state) if not s.system]
            org = tx.org()
            now = require_aware(self.clock.now())
            out: list[dict[str, Any]] = []
            for person in sorted(org.people.values(), key=lambda p: p.id):
                if not specs or not person.active:
                    continue
                ctx = Ctx(tx=tx, org=org, definition=definition, case=case, actor=person, now=now,
                          policy=self.policy, calendar=self.calendar, trigger="")
                allowed = []
                for spec in specs:
                    ctx.trigger, ctx.actor, ctx.delegate = spec.trigger, person, None  # as themselves again
                    info = self._judge(ctx, spec)
                    if info.allowed or self.options_wanted(spec, info):  # open, given the option it names
                        allowed.append(spec.trigger)
                if allowed:
                    out.append({"person": person.id, "name": person.name, "triggers": allowed})
            return out

    # -- what a process's own commands use (`budget set`, …): read, and append records ------------------
    def org(self) -> Org:
        with self.store.transaction(write=False) as tx:
            return tx.org()

    def records(self, process: str, kind: str | None = None, key_prefix: str = "") -> list[Record]:
        with self.store.transaction(write=False) as tx:
            return tx.records(process, kind, key_prefix)

    def cases_in(self, process: str, office: str | None, states: Collection[str]) -> list[Case]:
        with self.store.transaction(write=False) as tx:
            return tx.cases_in(process, office, list(states))

    def case(self, case_id: int) -> Case:
        with self.store.transaction(write=False) as tx:
            return self._case(tx, case_id)

    def item(self, item_id: int) -> tuple[Item, Case] | None:
        """An item logged against a case, with its case (None when there is no such item)."""
        with self.store.transaction(write=False) as tx:
            item = tx.get_item(item_id)
            case = tx.get_case(item.case_id) if item is not None else None
        return None if item is None or case is None else (item, case)

    def items_in(self, process: str, kind: str, office: str | None = None,
                 period_prefix: str = "") -> list[tuple[Item, Case]]:
        """Every item of `kind` logged against `process` cases of `office` (every office when None) whose
        period key starts with `period_prefix`, oldest first: what `info list` and `invest list` show. An
        unknown office is bad input."""
        definition = registry.latest(process)
        with self.store.transaction(write=False) as tx:
            org = tx.org()
            if office is not None and office not in org.offices:
                raise NotFound("office", office)
            out: list[tuple[Item, Case]] = []
            for code in [office] if office is not None else sorted(org.offices):
                for case in tx.cases_in(process, code, definition.states):
                    if (case.period or "").startswith(period_prefix):
                        out += [(item, case) for item in tx.items(case.id, kind)]
        return sorted(out, key=lambda pair: pair[0].id or 0)

    def item_of_step(self, case_id: int, seq: int) -> Item:
        """The item the step `seq` of a case logged (its history row names it)."""
        with self.store.transaction(write=False) as tx:
            entry = tx.history(case_id)[seq - 1]
            item = tx.get_item(int(entry.details["item"]))
        if item is None:
            raise NotFound("item of step", f"{case_id}#{seq}")
        return item

    def log_in_period(self, process: str, actor_id: str, period: str, trigger: str, options: dict[str, Any], *,
                      rule_id: str, not_in_office: str, closed: Callable[[Case], str]) -> Item:
        """A person's entry (an information item, an investment) in their office's case of `period`.

        The period's case is the daemon's; when it does not exist yet the entry opens it (its opener logs the
        entry: same definition, same unique key, so a daemon opening it meanwhile makes this a `Conflict`:
        retry); otherwise `trigger` logs it. Refusals name `rule_id`: `not_in_office` for a person of no office,
        `closed(case)` for a period already judged."""
        definition = registry.latest(process)
        with self.store.transaction() as tx:
            actor = self._actor(tx.org(), actor_id)
            if actor is None or actor.office is None:
                raise RuleViolation(rule_id, f"{actor_id} is not in an office; {not_in_office}")
            case = tx.find_case(process, actor.office, period)
            if case is None:
                case = self.open_in(tx, definition, actor_id, {"office": actor.office, "period": period, **options})
                return tx.items(case.id)[-1]
        if case.state in definition.final_states:
            raise RuleViolation(rule_id, closed(case))
        case = self.advance(case.id, trigger, actor_id, options=options)
        return self.item_of_step(case.id, case.history_count)

    def add_record(self, process: str, kind: str, key: str, actor_id: str,
                   authorise: Callable[[Org, Person], tuple[str, str] | None],
                   build: Callable[[Tx, Org, Person], dict[str, Any]]) -> Record:
        """Append a process's record in one transaction: the actor must be an active person whom
        `authorise` does not refuse (its rule id is the refusal's); `build` reads what it needs in the same
        transaction (under `hold(process:key)`) and returns the record's data, or raises to write nothing."""
        registry.latest(process)  # an unknown process is bad input
        with self.store.transaction() as tx:
            org = tx.org()
            actor = self._actor(org, actor_id)
            assert actor is not None
            refusal = authorise(org, actor)
            if refusal is not None:
                raise NotPermitted(refusal[0], f"{actor.id} may not do this: {refusal[1]}")
            tx.hold(f"{process}:{key}")
            data = build(tx, org, actor)
            record = Record(process=process, kind=kind, key=key, data=data, actor=actor.id,
                            at=require_aware(self.clock.now()))
            record = replace(record, id=tx.add_record(record))
            log.info("%s %s %s set by %s", process, kind, key, actor.id)
            return record

    def recompute_workdays(self, year: int, marked: list[Deadline], source: str) -> list[dict[str, Any]]:
        """R-0.6: after a holiday notice for `year` is loaded (self.calendar knows it now), every pending
        deadline in `marked` whose due time was computed Monday–Friday for want of that year's notice is
        computed again, as its definition computes it, at the time it was set. A deadline that moves, or only
        loses its fallback note, is replaced: the old row cancelled, a new one pending (same kind, occurrence
        and time it was set; set by the history row of this step), and the case's history records each
        change — old → new and why — in one row per case (its version bumped, so a step racing with it
        retries). A deadline its definition cannot
        compute again (one a handler scheduled, such as a repeating overdue reminder) is left as it is and
        keeps its note (`outpost status` lists it). Returns one entry per deadline: `deadline`, `case`,
        `kind`, `old`, `new` (None when left as it was), `moved`, `why`."""
        by_case: dict[int, list[Deadline]] = {}
        for d in marked:
            if year in fallback_years(d.why):
                by_case.setdefault(d.case_id, []).append(d)
        out: list[dict[str, Any]] = []
        for case_id, rows in by_case.items():
            for _attempt in range(3):
                try:
                    out += self._recompute_case(case_id, {d.id for d in rows}, year, source)
                    break
                except Conflict:
                    continue  # the case moved on meanwhile (a step, a firing): read it again
        return out

    def _recompute_case(self, case_id: int, ids: set[int | None], year: int, source: str) -> list[dict[str, Any]]:
        now = require_aware(self.clock.now())
        out: list[dict[str, Any]] = []
        with self.store.transaction() as tx:
            case = self._case(tx, case_id)
            definition = registry.get(case.process, case.definition_version)
            org = tx.org()
            ctx = Ctx(tx=tx, org=org, definition=definition, case=case, actor=None, now=now, policy=self.policy,
                      calendar=self.calendar, trigger="recompute_workdays", tracking_override=self.tracking_override)
            changes: list[dict[str, Any]] = []
            for d in tx.deadlines(case_id, pending_only=True):
                if d.id not in ids:
                    continue  # fired, cancelled or replaced since it was listed
                entry: dict[str, Any] = {"deadline": d.id, "case": case_id, "kind": d.kind,
                                         "old": local_iso(d.due_at), "new": None, "moved": False, "why": d.why}
                out.append(entry)
                again = self._due_again(ctx, definition, d)
                if again is None or (again[0] == d.due_at and again[1] == d.why):
                    continue
                due_at, why = again
                tx.set_deadline_status(d, "cancelled", now)
                ctx.schedule(Deadline(case_id=case_id, kind=d.kind, due_at=due_at, rule_id=d.rule_id, why=why,
                                      action=d.action, for_state=d.for_state, created_at=d.created_at,
                                      occurrence=d.occurrence, payload=dict(d.payload)))  # created_seq: this step's
                entry.update(new=local_iso(due_at), moved=due_at != d.due_at, why=why)
                changes.append({"deadline": d.id, "kind": d.kind, "old": entry["old"], "new": entry["new"],
                                "why": why})
            if changes:
                moved = sum(1 for c in changes if c["old"] != c["new"])
                ctx.record("deadlines_recomputed", {
                    "rule": "R-0.6", "year": year, "source": source, "changes": changes,
                    "why": f"the holiday notice for {year} was loaded ({source or 'no source given'}): "
                           f"{len(changes)} deadline(s) computed Monday–Friday computed again, {moved} moved"})
                self._finish(ctx, None, case.state, case.state, expected_version=case.version)
        return out

    @staticmethod
    def _due_again(ctx: Ctx, definition: ProcessDefinition, d: Deadline) -> tuple[datetime, str] | None:
        """The deadline's due time and explanation computed again with today's calendar, as of when it was
        set; None when its definition does not compute it (scheduled by a handler) or cannot now."""
        spec = definition.deadline_spec(d.kind, d.for_state)
        if spec is None:
            return None
        now, ctx.now = ctx.now, d.created_at
        try:
            due = spec.due(ctx)
        except WorkflowError:
            return None
        finally:
            ctx.now = now
        if due is None:
            return None
        found = due if isinstance(due, list) else [due]
        if not 1 <= d.occurrence <= len(found):
            return None
        at, why = found[d.occurrence - 1]
        return require_aware(at), why

    def rehearse(self, case_id: int, limit: int = 20) -> tuple[Deadline, list[Mail]] | None:
        """The mail a case's next deadline will send: its pending deadlines fired in due order (each at its
        due time, or now if that has passed) in a transaction that is rolled back, until one queues mail.
        Nothing is written; None when no pending deadline sends any."""
        return next(self.rehearsals(case_id, limit), None)

    def rehearsals(self, case_id: int, limit: int = 20) -> Iterator[tuple[Deadline, list[Mail]]]:
        """Each pending deadline that queues mail, with that mail, as `rehearse` finds them (each fired on
        its own from the case as it is, rolled back), in due order."""
        with self.store.transaction(write=False) as tx:
            self._case(tx, case_id)
            pending = sorted(tx.deadlines(case_id, pending_only=True), key=lambda d: (d.due_at, d.id or 0))
        now = require_aware(self.clock.now())
        for deadline in pending[:limit]:
            try:
                with self.store.rehearsal() as tx:
                    recording = _RecordingTx(tx)
                    self.fire(recording, deadline, max(deadline.due_at, now))  # type: ignore[arg-type]
            except WorkflowError:  # a deadline that would fail now sends nothing now
                continue
            if recording.mail:
                yield deadline, recording.mail

    def fire(self, tx: Tx, deadline: Deadline, now: datetime) -> FireOutcome:
        """Fire one deadline inside the caller's transaction (the daemon's tick, which has already
        marked the row fired there). Returns what happened; a superseded reminder is `skipped`."""
        case = self._case(tx, deadline.case_id)
        definition = registry.get(case.process, case.definition_version)
        spec = definition.deadline_spec(deadline.kind, deadline.for_state)
        if case.state != deadline.for_state:
            tx.set_deadline_status(deadline, "cancelled", now)  # the case left the state meanwhile
            return FireOutcome(case, "cancelled", 0)
        if spec is not None and spec.skip_superseded and tx.superseded(deadline, now, spec.superseded_by):
            tx.set_deadline_status(deadline, "skipped", now)
            return FireOutcome(case, "skipped", 0)
        org = tx.org()
        ctx = Ctx(tx=tx, org=org, definition=definition, case=case, actor=None, now=now,
                  policy=self.policy, calendar=self.calendar, trigger=deadline.action, deadline=deadline,
                  tracking_override=self.tracking_override)
        if deadline.action.startswith("trigger:"):
            trig = deadline.action.split(":", 1)[1]
            ctx.trigger = trig
            spec_t = self._transition(definition, case, trig)
            self._guards(ctx, spec_t)
            ctx.details["deadline"] = deadline.id
            self._apply(ctx, spec_t, keep_deadline=deadline.id)
        else:
            definition.handlers[deadline.action](ctx)
            self._finish(ctx, None, case.state, case.state, expected_version=case.version,
                         keep_deadline=deadline.id)
            self._follow_ups(ctx)
        return FireOutcome(case, "fired", ctx.queued, ctx.next_due is not None and ctx.next_due <= now)

    # -- steps -------------------------------------------------------------------------------------
    def _case(self, tx: Tx, case_id: int) -> Case:
        case = tx.get_case(case_id)
        if case is None:
            raise NotFound("case", case_id)
        return case

    def _actor(self, org: Org, actor_id: str | None) -> Person | None:
        if actor_id is None:
            return None
        person = org.person(actor_id)
        if person is None or not person.active:
            raise NotFound("person", actor_id)
        return person

    def _transition(self, definition: ProcessDefinition, case: Case, trigger: str) -> Transition:
        if not definition.knows_trigger(trigger):
            raise BadInput(f"process {definition.name} has no trigger {trigger!r} "
                           f"(known: {', '.join(definition.triggers)})")
        spec = definition.transition(trigger, case.state)
        if spec is None:
            raise RuleViolation(f"{definition.name}.states",
                                f"case {case.id} is {case.state}; {trigger!r} is not possible from there")
        return spec

    def _authorise(self, ctx: Ctx, spec: Transition) -> None:
        assert spec.who is not None
        refusal = spec.who(ctx)
        if refusal is not None and not delegation.take_over(ctx, spec.who):  # B acting for A (issue 15.4)
            actor = ctx.actor.id if ctx.actor else "the daemon"
            raise NotPermitted(refusal[0], f"{actor} may not {spec.trigger}: {refusal[1]}")

    def _guards(self, ctx: Ctx, spec: Transition) -> None:
        for g in spec.guards:
            msg = g.check(ctx)
            if not msg:
                continue
            if g.overridable and ctx.override:
                ctx.pass_rule(g.rule_id, msg)
                continue
            hint = " (an approver may pass it with --override REASON)" if g.overridable else ""
            if g.on_refusal and ctx.actor is not None:
                raise GuardRefusal(g, msg + hint)
            raise RuleViolation(g.rule_id, msg + hint)
        if ctx.override is not None and not ctx.overridden:  # else the history would keep a reason for nothing
            passable = [g.rule_id for g in spec.guards if g.overridable]
            raise BadInput(f"--override: {spec.trigger} passes no rule here ("
                           + (f"{', '.join(passable)} holds without it" if passable else "it has no rule to pass")
                           + "); leave it out")

    def _apply(self, ctx: Ctx, spec: Transition, keep_deadline: int | None = None) -> None:
        case = ctx.require_case()
        before = case.state
        expected = case.version
        after = ctx.definition.move(before, spec.trigger)
        case.state = after
        for effect in spec.effects:
            effect(ctx)
        for n in spec.notices:
            if not n.states or after in n.states:
                ctx.notify(n.event, n.to(ctx), n.rule_id, actions=n.actions, due_at=n.due(ctx) if n.due else None,
                           **(n.params(ctx) if n.params else {}))
        self._finish(ctx, spec.trigger, before, after, expected_version=expected, keep_deadline=keep_deadline)
        self._follow_ups(ctx)

    def _follow_ups(self, ctx: Ctx) -> None:
        """The steps of other cases this step entails (`Ctx.follow`), in the same transaction: each with the
        step's actor (a daemon trigger as the daemon's, `caused_by` the actor) and time, its rules checked (a
        refusal refuses the whole step), permission not asked again. A case that can no longer take its
        trigger is left alone (already where it should be)."""
        for f in ctx.follow_ups:
            case = self._case(ctx.tx, f.case_id)
            definition = registry.get(case.process, case.definition_version)
            spec = definition.transition(f.trigger, case.state)
            if spec is None:
                continue
            details = dict(f.details)
            actor = ctx.actor
            if spec.system:  # the daemon's trigger (`extend`): recorded as the daemon's, saying whose step caused it
                actor = None
                if ctx.actor is not None:
                    details.setdefault("caused_by", ctx.actor.id)
            sub = Ctx(tx=ctx.tx, org=ctx.org, definition=definition, case=case, actor=actor, now=ctx.now,
                      policy=self.policy, calendar=self.calendar, trigger=f.trigger, params=dict(f.params),
                      comment=ctx.comment, details=details)
            self._guards(sub, spec)
            self._apply(sub, spec)

    def _finish(self, ctx: Ctx, trigger: str | None, before: str | None, after: str,
                expected_version: int | None, keep_deadline: int | None = None) -> None:
        """Write what the step decided: history, deadlines, mail, and the case row (version checked)."""
        tx, case, now = ctx.tx, ctx.require_case(), ctx.now
        actor = ctx.acted_by.id if ctx.acted_by else None  # a delegate's step: details say `acting_for`
        seq = case.history_count
        head = case.history_head or GENESIS
        entries: list[tuple[str, str | None, str, dict[str, Any], str | None, str | None]] = []
        if trigger is not None:
            entries.append((trigger, before, after, ctx.details, ctx.comment, ctx.override))
        for rec in ctx.records:
            entries.append((rec.trigger, after, after, rec.details, rec.comment, None))
        first_seq = seq + 1
        for trig, frm, to, details, comment, override in entries:
            seq += 1
            h = history_hash(head, case.id, seq, trig, frm, to, actor, now, comment, override,
                             case.definition_version, details)
            tx.append_history(HistoryEntry(
                case_id=case.id, seq=seq, trigger=trig, from_state=frm, to_state=to, actor=actor, at=now,
                comment=comment, override_reason=override, definition_version=case.definition_version,
                details=details, prev_hash=head, hash=h))
            head = h
        added: list[Deadline] = []
        if trigger is not None and (before != after or trigger == "open"):
            if before is not None:
                tx.cancel_deadlines(case.id, now, keep=keep_deadline)
            added = self._set_deadlines(ctx, after, first_seq)
        if ctx.scheduled:
            for d in ctx.scheduled:
                d.created_seq = d.created_seq or seq
            tx.add_deadlines(ctx.scheduled)
            added += ctx.scheduled
        ctx.next_due = min((d.due_at for d in added), default=None)
        self._queue_mail(ctx, first_seq)
        case.history_count = seq
        case.history_head = head
        case.updated_at = now
        if expected_version is not None:
            case.version = expected_version + 1
            tx.update_case(case, expected_version)
        else:
            tx.update_case(case, case.version)

    def _set_deadlines(self, ctx: Ctx, state: str, seq: int) -> list[Deadline]:
        case = ctx.require_case()
        rows: list[Deadline] = []
        for spec in ctx.definition.deadlines_for(state):
            due = spec.due(ctx)
            if due is None:
                continue
            for occurrence, (due_at, why) in enumerate(due if isinstance(due, list) else [due], start=1):
                rows.append(Deadline(case_id=case.id, kind=spec.kind, due_at=require_aware(due_at),
                                     rule_id=spec.rule_id, why=why, action=spec.action, for_state=state,
                                     created_at=ctx.now, created_seq=seq, occurrence=occurrence))
        ctx.tx.add_deadlines(rows)
        return rows

    def send_slot(self, at: datetime) -> datetime:
        """When mail caused at `at` goes out: then, in working hours of a working day, else at the next
        `mail.send_from` of a working day (issue 17: no notice at 00:00, no reminder on a Saturday).
        A mail that cannot wait is queued with `urgent=True` and goes at once (docs/mail.md)."""
        if not self.policy.get("mail.working_hours_only"):
            return at
        return self.calendar.working_hour(at, self.policy.time("mail.send_from"),
                                          self.policy.time("mail.send_until"), LOCAL_TZ)

    def _queue_mail(self, ctx: Ctx, seq: int) -> None:
        """One outbox row per (event, recipient), with a stable dedupe key and Message-ID."""
        if not ctx.mail:
            return
        case = ctx.require_case()
        rows: list[Mail] = []
        standing = delegation.stand_ins(ctx)  # the delegates get the mail meant for whom they act for
        for pm in ctx.mail:
            occurrence = pm.key or (f"d{ctx.deadline.id}" if ctx.deadline is not None else f"h{seq}")
            extra = dict(pm.extra)
            due_at = extra.pop("due_at", None)
            send_at = ctx.now if extra.pop("urgent", False) else self.send_slot(ctx.now)
            params: dict[str, Any] = {
                "case": case.id, "process": case.process, "office": case.office, "state": case.state,
                "subject": case.subject, "period": case.period, "rule": pm.rule_id,
                "event_at": ctx.now.isoformat(), "send_at": send_at.isoformat(),
                "actions": list(extra.pop("actions", ())), **extra,
            }
            if due_at is not None:
                params["due_at"] = require_aware(due_at).isoformat()
            personal = {case.subject, ctx.data.get("requester")}
            for person, acting_for in delegation.with_stand_ins(pm.people, standing, case.subject):
                dedupe = f"case{case.id}:{pm.event}:{occurrence}:{person.id}"
                rcpt: dict[str, Any] = {"person": person.id, "name": person.name, "email": person.email}
                if acting_for is not None:  # to the person, as themselves: never handed over to a post
                    dedupe = f"{dedupe}~{acting_for.id}"
                    rcpt |= {"acting_for": acting_for.id, "acting_for_name": acting_for.name}
                digest = hashlib.sha256(dedupe.encode()).hexdigest()[:32]
                # written to for a post: handed to its holder at send time
                if acting_for is None and person.id not in personal:
                    rcpt["roles"] = sorted(person.roles)
                    rcpt["office"] = person.office
                rows.append(Mail(
                    case_id=case.id, event=pm.event, dedupe_key=dedupe,
                    message_id=f"<{digest}@{self.mail_domain}>",
                    recipients=[rcpt],
                    params=params, lang=self.lang, created_at=ctx.now, next_attempt_at=send_at,
                    status="queued" if person.email else "failed",
                    last_error=None if person.email else f"{person.id} has no e-mail address (org file)",
                ))
        ctx.queued += ctx.tx.queue_mail(rows)
