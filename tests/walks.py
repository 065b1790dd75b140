"""The frame shared by the random-walk (hypothesis, stateful) tests of one process.

Each walk runs on its own SQLite file with the example organisation and an injected clock; the daemon's
tick runs as time passes; after every step the history of every case of the process replays to its state
through the definition; at the end the hash chains verify. A subclass names its process, adds its own
rules, and may check each replayed row further (`check_record`, `check_step`).
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from outpost.app import App
from tests.conftest import ORG_FILE, local
from workflow import registry
from workflow.clock import FixedClock
from workflow.definition import Transition
from workflow.model import Case
from workflow.ports import CaseFilter
from workflow.settings import load_settings


class CaseWalk(RuleBasedStateMachine):
    process: ClassVar[str]
    records: ClassVar[tuple[str, ...]] = ()  # history rows written without a transition (from == to)

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix=f"outpost-{self.process}-"))
        settings = load_settings({"database_url": f"sqlite:///{self.folder / 'outpost.db'}",
                                  "outbox_dir": self.folder / "outbox"}, env={}, cwd=self.folder)
        self.clock = FixedClock(local(2027, 1, 4, 9, 0))
        self.app = App(settings, clock=self.clock)
        self.app.init()
        self.app.load_org(ORG_FILE)
        self.definition = registry.latest(self.process)

    def written(self) -> tuple[int, int, int]:
        """Rows of cases, history and mail: a refused step must leave all three as they were."""
        store = self.app.store
        return store.count("cases"), store.count("history"), store.count("mail")

    @rule(hours=st.integers(1, 8 * 24))
    def time_passes(self, hours: int) -> None:
        now = self.clock.now() + timedelta(hours=hours)
        self.clock.set(now)
        self.app.ticker.tick(now)

    def check_record(self, case: Case, row: dict[str, Any]) -> None:
        """A further check of a history row written without a transition."""

    def check_step(self, case: Case, row: dict[str, Any], spec: Transition) -> None:
        """A further check of a history row written by a transition of the definition."""

    @invariant()
    def history_replays_to_the_state(self) -> None:
        for case in self.app.store.list_cases(CaseFilter(process=self.process)):
            rows = self.app.case_view(case.id)["history"]
            assert (rows[0]["trigger"], rows[0]["from"]) == ("open", None)
            for prev, row in pairwise(rows):
                assert row["from"] == prev["to"]
                if row["trigger"] in self.records:
                    assert row["from"] == row["to"]
                    self.check_record(case, row)
                    continue
                spec = self.definition.transition(row["trigger"], row["from"])
                assert spec is not None, f"{row['trigger']} from {row['from']} is not in the definition"
                assert row["to"] == (spec.dest or row["from"])
                self.check_step(case, row, spec)
            assert rows[-1]["to"] == case.state
            assert case.state in self.definition.states

    def teardown(self) -> None:
        try:
            assert self.app.verify().ok
        finally:
            self.app.close()
            shutil.rmtree(self.folder, ignore_errors=True)
