"""Concurrent approvals of one case: exactly one wins, the rest are refused or told of a conflict.

Four OS processes, released together by a barrier file, run `outpost case advance N approve --as liu`
on the same pending director leave, on SQLite and on PostgreSQL. In-process, a service call that
decided on a stale case gets `Conflict` and writes nothing (optimistic locking on the case version).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from outpost.app import App
from outpost.cli import run
from tests.conftest import ORG_FILE, cli_env, dump, point_cli_at
from workflow.errors import Conflict
from workflow.model import Case, OffSite
from workflow.service import CaseService

N_PROCESSES = 4
START, END = "2027-03-01", "2027-03-10"  # wang, director, 10 days: the supervising leader decides
# The same leave through the CLI, which takes the system clock: asked before it starts on any day
# these tests run, in 2027's twin year (same weekdays, not a leap year, Monday–Friday by R-0.6).
CLI_START, CLI_END = "2083-03-01", "2083-03-10"

# The CLI as the console script runs it (`outpost.cli.run` is what `outpost` calls), but with the heavy
# imports done before a barrier, so that the four processes really reach the database at the same time.
LAUNCHER = r"""
import sys, time
from pathlib import Path
import machines.leave, store, outpost.app, outpost.cli, workflow.service
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
limit = time.monotonic() + 120
while not go.exists():
    if time.monotonic() > limit:
        sys.exit(99)
    time.sleep(0.0005)
sys.exit(outpost.cli.run(sys.argv[3:]))
"""


def scalar(url: str, sql: str, **params: Any) -> Any:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar_one()
    finally:
        engine.dispose()


@pytest.fixture
def pending_case(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                 capsys: pytest.CaptureFixture[str]) -> int:
    """An initialised database (through the CLI) with wang's 10-day leave pending with liu."""
    point_cli_at(monkeypatch, db_url, tmp_path, outbox=False)
    assert run(["init"]) == 0
    assert run(["org", "load", str(ORG_FILE)]) == 0
    capsys.readouterr()
    assert run(["case", "open", "leave", "--as", "wang", "--start", CLI_START, "--end", CLI_END, "--json"]) == 0
    case = json.loads(capsys.readouterr().out)
    assert case["state"] == "pending"
    assert case["data"]["approver_role"] == "supervising_leader"
    return int(case["id"])


def check_exactly_one_approval(url: str, case_id: int, results: list[tuple[int, str, str]]) -> None:
    codes = sorted(rc for rc, _, _ in results)
    detail = "\n".join(f"exit {rc}: {err.strip()!r}" for rc, _, err in results)
    assert codes.count(0) == 1, f"expected exactly one success:\n{detail}"
    assert all(rc in (3, 4) for rc in codes if rc != 0), f"losers must exit 3 or 4:\n{detail}"
    for rc, out, err in results:
        assert "Traceback" not in err and "Traceback" not in out
        if rc == 0:
            assert "approved" in out
        else:
            lines = err.splitlines()
            assert len(lines) == 1 and lines[0].startswith("outpost: "), err
    assert scalar(url, "SELECT count(*) FROM history WHERE case_id = :c AND trigger = 'approve'", c=case_id) == 1
    assert scalar(url, "SELECT count(*) FROM history WHERE case_id = :c", c=case_id) == 2
    assert scalar(url, "SELECT state FROM cases WHERE id = :c", c=case_id) == "approved"
    assert scalar(url, "SELECT version FROM cases WHERE id = :c", c=case_id) == 2
    assert scalar(url, "SELECT count(*) FROM off_site WHERE case_id = :c", c=case_id) == 1
    assert scalar(url, "SELECT count(*) FROM mail WHERE case_id = :c AND event = 'leave.approved'", c=case_id) == 1
    assert run(["audit", "verify"]) == 0


def test_four_processes_released_together_approve_once(db_url: str, pending_case: int, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Four processes released by a barrier approve one case: one exits 0, three exit 3/4, one approve row."""
    env = cli_env(db_url)
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(N_PROCESSES)]
    argv = ["case", "advance", str(pending_case), "approve", "--as", "liu"]
    procs = [subprocess.Popen([sys.executable, "-c", LAUNCHER, str(r), str(go), *argv], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in ready]
    try:
        limit = time.monotonic() + 120
        while not all(r.exists() for r in ready):
            assert time.monotonic() < limit, "the processes never reached the barrier"
            assert all(p.poll() is None for p in procs), "a process died before the barrier"
            time.sleep(0.01)
        go.touch()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            results.append((p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    capsys.readouterr()
    check_exactly_one_approval(db_url, pending_case, results)


# -- optimistic locking, in-process --------------------------------------------------------------------
def open_director_leave(app: App) -> int:
    return app.service.open("leave", "wang", {"start": START, "end": END}).id


def read_case(app: App, case_id: int) -> Case:
    with app.store.transaction(write=False) as tx:
        case = tx.get_case(case_id)
    assert case is not None
    return case


def history_triggers(app: App, case_id: int) -> list[str]:
    with app.store.transaction(write=False) as tx:
        return [h.trigger for h in tx.history(case_id)]


def test_update_case_with_a_stale_version_raises_conflict_and_writes_nothing(
        make_app: Callable[..., App], db_url: str) -> None:
    """`update_case` with an expected version that is no longer current raises Conflict; the whole tx rolls back."""
    app = make_app(db_url)
    case_id = open_director_leave(app)
    stale = read_case(app, case_id)
    app.service.advance(case_id, "approve", "liu")
    assert read_case(app, case_id).version == stale.version + 1
    before = dump(db_url)
    with pytest.raises(Conflict) as conflict, app.store.transaction() as tx:
        tx.add_off_site(OffSite(person="wang", start=date(2027, 6, 1), end=date(2027, 6, 3), case_id=case_id,
                                source="leave"))
        forged = replace(stale, state="rejected", version=stale.version + 1)
        tx.update_case(forged, expected_version=stale.version)
    assert conflict.value.exit_code == 4
    assert dump(db_url) == before
    assert read_case(app, case_id).state == "approved"


class StaleReads:
    """A store whose transactions return a case as it was read earlier: a caller that lost a race."""

    def __init__(self, store: Any, stale: Case) -> None:
        self._store = store
        self._stale = stale

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Any]:
        with self._store.transaction(write) as tx:
            yield _StaleTx(tx, self._stale)


class _StaleTx:
    def __init__(self, tx: Any, stale: Case) -> None:
        self._tx = tx
        self._stale = stale

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    def get_case(self, case_id: int) -> Case | None:
        if case_id == self._stale.id:
            return replace(self._stale, data=dict(self._stale.data))
        return self._tx.get_case(case_id)  # type: ignore[no-any-return]


@pytest.mark.parametrize(("first", "second"), [("approve", "reject"), ("reject", "approve"),
                                               ("approve", "approve")])
def test_racing_service_calls_the_one_that_read_a_stale_case_gets_conflict(
        make_app: Callable[..., App], db_url: str, first: str, second: str) -> None:
    """Two service calls read the same version; the second to commit raises Conflict and writes nothing."""
    app = make_app(db_url)
    other = make_app(db_url, org=None)  # a second App: its own engine and connections
    case_id = open_director_leave(app)
    stale = read_case(app, case_id)
    other.service.advance(case_id, first, "liu")
    before = dump(db_url)
    loser = CaseService(StaleReads(app.store, stale), app.clock, app.policy, app.calendar)
    with pytest.raises(Conflict):
        loser.advance(case_id, second, "liu", comment="decided on what I read earlier")
    assert dump(db_url) == before
    assert history_triggers(app, case_id) == ["open", first]
    assert read_case(app, case_id).version == stale.version + 1
    assert app.verify().ok
