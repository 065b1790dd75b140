"""Shared fixtures: every store test runs on a SQLite file and, where it answers, on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from outpost.app import App
from workflow.clock import FixedClock
from workflow.settings import load_settings
from workflow.timeutil import LOCAL_TZ

ROOT = Path(__file__).resolve().parent.parent
ORG_FILE = ROOT / "examples" / "org.toml"
PG_URL = os.environ.get("OUTPOST_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_pg_state: dict[str, Any] = {}


OUTPOST = [sys.executable, "-c", "from outpost.cli import main; main()"]  # the CLI as its own process


@pytest.fixture(autouse=True, scope="session")
def _own_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The tests' HOME and XDG_DATA_HOME are a folder of their own: an App on PostgreSQL keeps its signing key
    in the data folder (there is no database file to put it beside), and a test run must not write one into
    the home of whoever runs it. The CLI processes the tests start inherit it."""
    home = tmp_path_factory.mktemp("home")
    saved = {k: os.environ.get(k) for k in ("HOME", "XDG_DATA_HOME")}
    os.environ["HOME"], os.environ["XDG_DATA_HOME"] = str(home), str(home / ".local" / "share")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def _english_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests read the CLI in English (OUTPOST_LANG=en); tests/test_cli_language.py asks for Chinese."""
    monkeypatch.setenv("OUTPOST_LANG", "en")


def cli_env(url: str | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without any OUTPOST_* setting of the machine; `url` as the database, plus
    `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTPOST_")}
    env["OUTPOST_LANG"] = "en"  # the tests read English; tests/test_cli_language.py asks for Chinese itself
    if url is not None:
        env["OUTPOST_DATABASE_URL"] = url
    return env | extra


def outpost(args: list[str], cwd: Path, code: str | None = None, url: str | None = None,
            **env: str) -> subprocess.CompletedProcess[str]:
    """`outpost ARGS` as a separate process on `url`, with no OUTPOST_* setting of this machine but `env`;
    `code` (Python) runs first in the same process."""
    launcher = [sys.executable, "-c", f"{code}\nfrom outpost.cli import main; main()"] if code else OUTPOST
    return subprocess.run([*launcher, *args], env=cli_env(url, **env), cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def wait_for(predicate: Callable[[], bool], seconds: float) -> bool:
    """Poll (every 0.05 s, at most `seconds`) for something another process or thread does."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def run_daemon_in_process(daemon: Any, watch: Callable[[], None]) -> int:
    """`daemon.run()` in this process, with `watch` in a thread beside it (it ends the run with SIGINT,
    which the daemon's own handler takes); the test process's signal handlers are restored after."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        return int(daemon.run())
    finally:
        watcher.join()
        for s, h in handlers.items():
            signal.signal(s, h)


def pg_available() -> str | None:
    """None when the local PostgreSQL answers, else the reason it does not."""
    if "reason" not in _pg_state:
        try:
            import psycopg

            dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(dsn, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _pg_state["reason"] = None
        except Exception as exc:  # any failure means: skip, and say why
            _pg_state["reason"] = f"no PostgreSQL at {PG_URL}: {type(exc).__name__}: {exc}".splitlines()[0]
    return _pg_state["reason"]


def _pg_exec(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(sql)


@contextmanager
def private_pg_schema() -> Iterator[str]:
    """A fresh schema on the local PostgreSQL, dropped afterwards; the test is skipped, saying why, when no
    server answers."""
    reason = pg_available()
    if reason:
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    _pg_exec(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        _pg_exec(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def schema_url(schema: str) -> str:
    """The database URL of one private schema (every connection's search_path set to it)."""
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    with private_pg_schema() as schema:
        yield schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file in tmp_path, or a private schema on the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'outpost.db'}"
        return
    with private_pg_schema() as schema:
        yield schema_url(schema)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'outpost.db'}"


def local(*args: int) -> datetime:
    """A local (Asia/Shanghai) instant: local(2027, 3, 1, 9, 0)."""
    return datetime(*args, tzinfo=LOCAL_TZ)  # type: ignore[misc]


TRACKED_FROM = date(2027, 1, 1)  # the example installation's tracking date (make_app)


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    """Build an initialised App on a URL with the example organisation loaded, at a fixed time.

    The example installation follows the year 2027 from its first day: built on 4 January 2027 (or later in
    2027), it is given `tracking_from = 2027-01-01`, as a General Office would set it on purpose, so that
    January's information and the year's investment are judged (issue 16, point 8). Built before 2027, or
    with `tracking_from=None`, the tracking date is the day of its first init, the product's default."""
    apps: list[App] = []

    def build(url: str, at: datetime | None = None, org: Path | None = ORG_FILE, **options: Any) -> App:
        if (at or local(2027, 1, 4, 9, 0)) >= local(2027, 1, 1, 0, 0):
            options.setdefault("tracking_from", TRACKED_FROM)
        settings = load_settings({"database_url": url, "outbox_dir": tmp_path / "outbox", **options},
                                 env={}, cwd=tmp_path)
        application = App(settings, clock=FixedClock(at or local(2027, 1, 4, 9, 0)))
        application.init()
        if org is not None:
            application.load_org(org)
        apps.append(application)
        return application

    yield build
    for a in apps:
        a.close()


@pytest.fixture
def app(make_app: Callable[..., App], db_url: str) -> App:
    return make_app(db_url)


def view(app: App, case_id: int) -> dict[str, Any]:
    return app.case_view(case_id)


def state(app: App, case_id: int) -> str:
    return str(app.case_view(case_id)["state"])


def mails(app: App, event: str) -> list[str]:
    """The addresses the event's queued or sent mail goes to, sorted."""
    return sorted(addr for m in app.store.mails() if m.event == event for addr in m.to)


def set_time(application: App, at: datetime) -> None:
    clock = application.clock
    assert isinstance(clock, FixedClock)
    clock.set(at)


def dump(url: str) -> list[Any]:
    """Every row of every table, in a stable order: equal dumps mean nothing was written."""
    from sqlalchemy import MetaData, create_engine, select

    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        out: list[Any] = []
        with engine.connect() as conn:
            for name in sorted(meta.tables):
                table = meta.tables[name]
                rows = conn.execute(select(table)).all()
                out.append((name, sorted(tuple(map(repr, r)) for r in rows)))
        return out
    finally:
        engine.dispose()


def point_cli_at(monkeypatch: pytest.MonkeyPatch, url: str, folder: Path, outbox: bool = True) -> None:
    """Run the in-process CLI against `url` from `folder`, with no OUTPOST_* setting of the machine leaking
    in (and the outbox in `folder` unless `outbox` is False)."""
    for key in list(os.environ):
        if key.startswith("OUTPOST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("OUTPOST_DATABASE_URL", url)
    monkeypatch.setenv("OUTPOST_LANG", "en")  # the tests read English (tests/test_cli_language.py: Chinese)
    if outbox:
        monkeypatch.setenv("OUTPOST_OUTBOX_DIR", str(folder / "outbox"))
    monkeypatch.chdir(folder)


# A 2027 holiday notice for tests: Spring Festival, with its make-up Sunday working day.
NOTICE_2027 = """
year = 2027
source = "test notice"
[[holiday]]
name = "春节"
start = "2027-02-06"
end = "2027-02-12"
[[workday]]
name = "春节调休"
date = "2027-02-14"
"""


def copy_database(template: Path, folder: Path) -> Path:
    """A copy of an initialised SQLite file (with its WAL) as `folder`/outpost.db, for one example."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{template}{suffix}")
        if src.exists():
            shutil.copy(src, folder / f"outpost.db{suffix}")
    return folder / "outpost.db"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The real CLI in this process: (exit code, stdout, stderr) of this command alone."""
    from outpost.cli import run

    capsys.readouterr()
    rc = run(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


CLI_NOW = "2027-05-10 02:00:00"  # the CLI's system clock in CLI tests: 10:00 on 10 May 2027 in Beijing


@pytest.fixture
def frozen_cli(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
               capsys: pytest.CaptureFixture[str]) -> Any:
    """The real CLI on a fresh SQLite database with the example org, its system clock frozen at CLI_NOW
    only around each command (pytest's own timing keeps the real clock). Returns call(*args) →
    (exit code, stdout, stderr)."""
    from freezegun import freeze_time


    point_cli_at(monkeypatch, sqlite_url, tmp_path)

    def call(*args: str) -> tuple[int, str, str]:
        with freeze_time(CLI_NOW):
            return run_cli(capsys, *args)

    assert call("init")[0] == 0
    assert call("org", "load", str(ORG_FILE))[0] == 0
    return call
