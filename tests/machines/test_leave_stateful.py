"""Hypothesis drives leave cases with random triggers by random people through the real store.

Every step builds a fresh `App` on the same SQLite file (so nothing works only in memory), and the
daemon's tick runs as time passes. After every step: the history replays to the current state through
the definition, nobody approved or rejected their own leave, off-site days match the state; a refused
step wrote nothing; at the end `audit verify` passes.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import create_engine, select

from outpost.app import App
from store.tables import metadata
from tests.conftest import ORG_FILE, copy_database, local
from workflow import registry
from workflow.clock import FixedClock
from workflow.errors import BadInput, RuleViolation, WorkflowError
from workflow.model import Case
from workflow.settings import Settings, load_settings
from workflow.timeutil import local_date

REQUESTERS = ("wang", "li", "zhao", "chen", "huang")  # office people: directors, a deputy, staff
EVERYONE = (*REQUESTERS, "liu", "sun", "zhou")  # plus the supervising leader, a clerk, an auditor
OFFICE = {"wang": "BJ", "li": "BJ", "zhao": "BJ", "chen": "SZ", "huang": "SZ"}
DIRECTOR = {"BJ": "wang", "SZ": "chen"}
TRIGGERS = ("approve", "approve", "reject", "withdraw", "return", "return", "start", "frob")
# Who acts: a person by id, or a role resolved against the case (the right approver more often than not).
ACTORS = ("requester", "approver", "approver", "own_director", "other_office", *EVERYONE)
COMMENTS = (None, "", "同意", "请尽快处理", "bad\x01comment")
RECORDS = ("escalate", "flag")  # history rows written by deadline handlers, not by a transition
T0 = local(2027, 1, 4, 9, 0)


def make_settings(folder: Path) -> Settings:
    return load_settings({"database_url": f"sqlite:///{folder / 'outpost.db'}", "outbox_dir": folder / "outbox"},
                         env={}, cwd=folder)


def build_template(folder: Path) -> Path:
    """An initialised SQLite file with the example organisation, copied for each example."""
    folder.mkdir(parents=True, exist_ok=True)
    app = App(make_settings(folder), clock=FixedClock(T0))
    app.init()
    app.load_org(ORG_FILE)
    app.close()
    return folder / "outpost.db"


class LeaveCases(RuleBasedStateMachine):
    template: Path  # set by the test before running

    cases = Bundle("cases")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="outpost-stateful-"))
        copy_database(self.template, self.folder)
        self.settings = make_settings(self.folder)
        self.clock = FixedClock(T0)
        self.app = App(self.settings, clock=self.clock)
        self.reader = create_engine(self.settings.database_url)  # the test's own view of the file
        self.case_ids: list[int] = []
        self.definition = registry.latest("leave")

    # -- helpers ---------------------------------------------------------------------------------------
    def fresh_app(self) -> App:
        """Drop the App, its connections and caches, as a restarted process would."""
        self.app.close()
        self.app = App(self.settings, clock=self.clock)
        return self.app

    def snapshot(self) -> list[Any]:
        out: list[Any] = []
        with self.reader.connect() as conn:
            for name in sorted(metadata.tables):
                rows = conn.execute(select(metadata.tables[name])).all()
                out.append((name, sorted(tuple(map(repr, r)) for r in rows)))
        return out

    def read_case(self, case_id: int) -> Case:
        with self.app.store.transaction(write=False) as tx:
            case = tx.get_case(case_id)
        assert case is not None
        return case

    def today(self) -> date:
        return local_date(self.clock.now())

    def deciders(self, case: Case) -> set[str]:
        """Who may approve or reject now, from the routing recorded at opening (R-2.1/2.3/2.8), and a
        director away today passing it to the next level (R-2.4)."""
        found: set[str] = set()
        role = case.data.get("approver_role")
        if role == "director" and case.office:
            director = DIRECTOR[case.office]
            with self.app.store.transaction(write=False) as tx:
                away = tx.off_site_on(director, self.today())
            found.add("liu" if away and director != case.subject else director)
        if role == "supervising_leader" or case.data.get("escalated"):
            found.add("liu")
        found.discard(case.subject or "")
        return found

    def _open(self, who: str, params: dict[str, Any]) -> Any:
        app = self.app
        before = self.snapshot()
        try:
            case = app.service.open("leave", who, params)
        except WorkflowError as exc:
            assert self.snapshot() == before, f"a refused opening ({exc}) wrote to the database"
            return multiple()
        assert case.subject == who and case.office == OFFICE[who]
        total = int(case.data["total_days"])
        if who in DIRECTOR.values() and total < 7 and case.data["route_rule"] != "R-2.5":
            assert case.state == "approved" and case.data["route_rule"] == "R-2.2"
        else:
            assert case.state == "pending"
            if who in DIRECTOR.values():
                assert case.data["approver_role"] == "supervising_leader"
            elif case.data["approver_role"] != "director":
                with app.store.transaction(write=False) as tx:  # only when the director is away
                    assert tx.off_site_on(DIRECTOR[OFFICE[who]], self.today())
        self.case_ids.append(case.id)
        return case.id

    # -- rules -----------------------------------------------------------------------------------------
    @initialize(target=cases, staff=st.sampled_from(("li", "zhao", "huang")),
                director=st.sampled_from(("wang", "chen")), offset=st.integers(1, 10))
    def first_requests(self, staff: str, director: str, offset: int) -> Any:
        """A staff request and a director's long request, so that triggers have cases from the start."""
        start = self.today() + timedelta(days=offset)
        opened = [self._open(who, {"start": start.isoformat(), "end": (start + timedelta(days=days - 1)).isoformat()})
                  for who, days in ((staff, 3), (director, 8))]
        return multiple(*[c for c in opened if isinstance(c, int)])

    @rule(target=cases, who=st.sampled_from(REQUESTERS), offset=st.integers(-3, 25), days=st.integers(1, 12),
          reason=st.sampled_from([None, "探亲", "看病"]))
    def open_leave(self, who: str, offset: int, days: int, reason: str | None) -> Any:
        start = self.today() + timedelta(days=offset)
        return self._open(who, {"start": start.isoformat(),
                                "end": (start + timedelta(days=days - 1)).isoformat(), "reason": reason})

    @rule(target=cases, base=cases, days=st.integers(1, 6), by_someone_else=st.booleans())
    def open_extension(self, base: int, days: int, by_someone_else: bool) -> Any:
        case = self.read_case(base)
        assert case.subject is not None
        who = "zhao" if by_someone_else and case.subject != "zhao" else case.subject
        start = date.fromisoformat(case.data["end"]) + timedelta(days=1)
        return self._open(who, {"start": start.isoformat(), "end": (start + timedelta(days=days - 1)).isoformat(),
                                "extends": str(base)})

    def resolve(self, case: Case, who: str) -> str:
        subject, office = case.subject or "", case.office or "BJ"
        if who == "requester":
            return subject
        if who == "approver":
            return min(self.deciders(case), default="liu")
        if who == "own_director":
            return DIRECTOR[office]
        if who == "other_office":
            return {"BJ": "chen", "SZ": "wang"}[office] if subject not in DIRECTOR.values() else \
                {"BJ": "huang", "SZ": "zhao"}[office]
        return who

    @rule(case=cases, trigger=st.sampled_from(TRIGGERS), who=st.sampled_from(ACTORS),
          comment=st.sampled_from(COMMENTS))
    def advance(self, case: int, trigger: str, who: str, comment: str | None) -> None:
        self._advance(case, trigger, who, comment)

    @rule(case=cases, approve=st.booleans(), who=st.sampled_from(("approver", "approver", "approver", "liu",
                                                                  "requester", "own_director")))
    def decide(self, case: int, approve: bool, who: str) -> None:
        self._advance(case, "approve" if approve else "reject", who, None)

    @rule(case=cases, trigger=st.sampled_from(("withdraw", "return")),
          who=st.sampled_from(("requester", "requester", "own_director", "other_office")))
    def requester_acts(self, case: int, trigger: str, who: str) -> None:
        self._advance(case, trigger, who, None)

    def _advance(self, case: int, trigger: str, who: str, comment: str | None) -> None:
        app = self.app
        before_case = self.read_case(case)
        actor = self.resolve(before_case, who)
        before = self.snapshot()
        try:
            after = app.service.advance(case, trigger, actor, comment=comment)
        except WorkflowError as exc:
            assert self.snapshot() == before, f"refused {trigger} by {actor} ({exc}) wrote to the database"
            assert self.read_case(case).version == before_case.version
            self.check_refusal_was_due(before_case, trigger, actor, comment, exc)
            return
        spec = self.definition.transition(trigger, before_case.state)
        assert spec is not None and not spec.system, f"{trigger} fired from {before_case.state}"
        assert after.state == spec.dest
        stored = self.read_case(case)
        assert (stored.state, stored.version) == (spec.dest, before_case.version + 1)
        subject, office = before_case.subject, before_case.office
        if trigger in ("approve", "reject"):
            assert actor != subject, f"{actor} decided their own leave (R-2.4)"
            assert actor in self.deciders(before_case), f"{actor} decided a leave routed to {before_case.data}"
        elif trigger == "withdraw":
            assert actor == subject
            assert self.today() < date.fromisoformat(before_case.data["start"])
        elif trigger == "return":
            assert actor == subject or (office is not None and actor == DIRECTOR[office])
        with app.store.transaction(write=False) as tx:
            last = tx.history(case)[-1]
        assert (last.trigger, last.actor, last.from_state, last.to_state) == \
            (trigger, actor, before_case.state, spec.dest)
        assert last.comment == comment

    def check_refusal_was_due(self, case: Case, trigger: str, actor: str, comment: str | None,
                              exc: WorkflowError) -> None:
        """A trigger the rules allow must not be refused (no guard refuses more than it should)."""
        if comment is not None and "\x01" in comment:
            assert isinstance(exc, BadInput)
            return
        start = date.fromisoformat(case.data["start"])
        if trigger == "reject" and case.state == "pending" and actor in self.deciders(case):
            raise AssertionError(f"{actor} may reject case {case.id} but was refused: {exc}")
        if trigger == "approve" and case.state == "pending" and actor in self.deciders(case):
            assert isinstance(exc, RuleViolation) and exc.rule_id == "R-2.5", exc  # only the presence limit
        if trigger == "withdraw" and case.state in ("pending", "approved") and actor == case.subject \
                and self.today() < start:
            raise AssertionError(f"{actor} may withdraw case {case.id} before {start} but was refused: {exc}")
        if trigger == "return" and case.state == "on_leave" and actor == case.subject:
            raise AssertionError(f"{actor} may record the return of case {case.id} but was refused: {exc}")

    @rule(hours=st.integers(1, 24 * 6))
    def time_passes(self, hours: int) -> None:
        self.clock.set(self.clock.now() + timedelta(hours=hours))
        report = self.app.ticker.tick(self.clock.now())
        assert not report.failed, report.failed

    @rule()
    def restart(self) -> None:
        """A new process on the same file: nothing may have lived only in memory."""
        self.fresh_app()

    # -- invariants ------------------------------------------------------------------------------------
    @invariant()
    def history_replays_and_nobody_decides_their_own_leave(self) -> None:
        if not self.case_ids:
            return
        with self.app.store.transaction(write=False) as tx:
            for case_id in self.case_ids:
                case = tx.get_case(case_id)
                assert case is not None
                rows = tx.history(case_id)
                off_site = [r for r in tx.off_site(case.subject or "", 2027) if r.case_id == case_id]
                off_site += [r for r in tx.off_site(case.subject or "", 2026) if r.case_id == case_id]
                self.check_history(case, rows)
                self.check_off_site(case, len({(r.start, r.end) for r in off_site}), len(off_site))

    def check_history(self, case: Case, rows: list[Any]) -> None:
        state: str | None = None
        assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
        assert len(rows) == case.history_count
        for row in rows:
            assert row.from_state == state, f"case {case.id} seq {row.seq} starts from {row.from_state}, not {state}"
            if row.trigger == "open":
                assert row.seq == 1 and row.from_state is None
                assert row.to_state in self.definition.initial_states
            elif self.definition.knows_trigger(row.trigger):
                spec = self.definition.transition(row.trigger, row.from_state)
                assert spec is not None, f"case {case.id}: {row.trigger} from {row.from_state} is not defined"
                # an internal transition (dest None: `extend`, R-2.6) is recorded and keeps the state
                assert (spec.dest or row.from_state) == row.to_state
                assert self.definition.move(row.from_state, row.trigger) == row.to_state
                if spec.system:
                    assert row.actor is None
                else:
                    assert row.actor is not None
            else:
                assert row.trigger in RECORDS and row.from_state == row.to_state, row
                assert row.actor is None
            if row.trigger in ("approve", "reject"):
                assert row.actor != case.subject, f"case {case.id}: {row.actor} decided their own leave"
            state = row.to_state
        assert state == case.state, f"case {case.id} is {case.state} but its history ends in {state}"

    @staticmethod
    def check_off_site(case: Case, distinct: int, rows: int) -> None:
        assert distinct == rows, f"case {case.id} counts the same days off site twice"
        if case.state in ("pending", "rejected", "withdrawn"):
            assert rows == 0, f"case {case.id} is {case.state} but counts {rows} off-site period(s)"
        elif case.state in ("approved", "on_leave"):
            assert rows == 1, f"case {case.id} is {case.state} but counts {rows} off-site period(s)"
        else:
            assert rows <= 1

    def teardown(self) -> None:
        try:
            app = self.fresh_app()
            result = app.verify()
            assert result.ok, result.problem
        finally:
            self.app.close()
            self.reader.dispose()
            shutil.rmtree(self.folder, ignore_errors=True)


def test_leave_cases_keep_their_invariants_under_random_triggers(tmp_path: Path) -> None:
    """Random openings, extensions, triggers by anyone and ticks keep history, permissions and audit sound."""
    LeaveCases.template = build_template(tmp_path / "template")
    run_state_machine_as_test(
        LeaveCases,
        settings=settings(max_examples=25, stateful_step_count=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]),
    )
