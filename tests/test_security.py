"""SECURITY.md's promises about what is printed and logged, checked on real processes: the database password
masked by `init`, a traceback only with OUTPOST_DEBUG=1, the SMTP password never in the daemon's output."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from outpost.app import App
from tests.conftest import PG_URL, dump, local, outpost, wait_for
from tests.notifications.conftest import PASSWORD, USER, SmtpServer, _make_cert
from tests.notifications.conftest import _free_port as free_port
from tests.test_daemon import due_leave_deadlines, pending_due, spawn, stop

DB_PASSWORD = "Db-s3cret-Pw-4711"


# -- the database password -------------------------------------------------------------------------------------
@pytest.mark.postgres
def test_init_masks_the_database_password_in_what_it_prints(pg_schema: str, tmp_path: Path) -> None:
    """`outpost init` with a password in the database URL prints the URL with the password as ***, when it
    creates the schema and when there is nothing to do; a server that does not answer names no password either."""
    url = PG_URL.replace("postgres@", f"postgres:{DB_PASSWORD}@") + f"?options=-csearch_path%3D{pg_schema}"
    assert DB_PASSWORD in url
    created = outpost(["init"], tmp_path, OUTPOST_DATABASE_URL=url)
    again = outpost(["init"], tmp_path, OUTPOST_DATABASE_URL=url)
    for done, verb in ((created, "created"), (again, "nothing to do")):
        assert done.returncode == 0, done.stderr
        assert verb in done.stdout and "postgres:***@127.0.0.1" in done.stdout, done.stdout
        assert DB_PASSWORD not in done.stdout + done.stderr
    down = f"postgresql+psycopg://postgres:{DB_PASSWORD}@127.0.0.1:{free_port()}/test"
    refused = outpost(["init"], tmp_path, OUTPOST_DATABASE_URL=down)
    assert refused.returncode == 2 and "does not answer" in refused.stderr, refused.stderr
    assert DB_PASSWORD not in refused.stdout + refused.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("form", ["user-at-host", "no-at-sign"])
def test_init_masks_a_password_given_as_a_query_parameter(pg_schema: str, tmp_path: Path, form: str) -> None:
    """`outpost init` on `…/test?password=…` (a libpq form psycopg accepts) prints no password either."""
    search = f"options=-csearch_path%3D{pg_schema}"
    url = {"user-at-host": f"{PG_URL}?password={DB_PASSWORD}&{search}",
           "no-at-sign": f"postgresql+psycopg:///test?host=127.0.0.1&port=5432&user=postgres&password={DB_PASSWORD}"
                         f"&{search}"}[form]
    done = outpost(["init"], tmp_path, OUTPOST_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    assert DB_PASSWORD not in done.stdout + done.stderr, done.stdout


# -- internal errors -------------------------------------------------------------------------------------------
# A bug planted in the process under test: `outpost status` meets a ZeroDivisionError, an error type
# Outpost never raises on purpose, so the CLI's last-resort handler is what answers.
BUG = "import outpost.status\noutpost.status.gather = lambda app: 1 // 0"
ONE_LINE = ("outpost: internal error: ZeroDivisionError: integer division or modulo by zero "
            "(set OUTPOST_DEBUG=1 for details)")


def test_an_internal_error_is_one_line_and_the_traceback_only_comes_with_outpost_debug(
        make_app: Callable[..., App], sqlite_url: str, tmp_path: Path) -> None:
    """An unexpected exception exits 1 with one line on stderr and no traceback (also with OUTPOST_DEBUG=0);
    with OUTPOST_DEBUG=1 the traceback comes first, ending at the failing code, then the same line."""
    make_app(sqlite_url)
    for debug in ({}, {"OUTPOST_DEBUG": "0"}):
        done = outpost(["status"], tmp_path, BUG, OUTPOST_DATABASE_URL=sqlite_url, **debug)
        assert done.returncode == 1, done.stderr
        assert done.stderr.splitlines() == [ONE_LINE] and done.stdout == "", (debug, done.stderr)
    debugged = outpost(["status"], tmp_path, BUG, OUTPOST_DATABASE_URL=sqlite_url, OUTPOST_DEBUG="1")
    assert debugged.returncode == 1
    lines = debugged.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):", debugged.stderr
    assert "ZeroDivisionError: integer division or modulo by zero" in lines and lines[-1] == ONE_LINE
    assert any("outpost/cli/__init__.py" in line and "status" in line for line in lines), debugged.stderr


@pytest.mark.parametrize("url", [
    "postgresql+pg8000://postgres@127.0.0.1/test",  # also postgresql+psycopg without the postgres extra
    "postgresql+psycopg://postgres@127.0.0.1:54x32/test",
    "postgresql+psycopg://postgres@nonexistent.invalid/test",
], ids=["driver-not-installed", "port-not-a-number", "unknown-host"])
def test_a_database_url_to_fix_is_exit_2_not_an_internal_error(tmp_path: Path, url: str) -> None:
    """A database URL naming a driver that is not installed, a port that is not a number or a host that does not
    exist is the administrator's to fix: exit 2, one line, never "internal error"."""
    done = outpost(["case", "list"], tmp_path, OUTPOST_DATABASE_URL=url)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.returncode == 2 and "internal error" not in done.stderr, done.stderr


def test_a_malformed_database_url_is_refused_without_echoing_its_password(tmp_path: Path) -> None:
    """`outpost init` on a URL that does not parse (scheme forgotten) says so in one line, exit 2, without the
    password it contains."""
    done = outpost(["init"], tmp_path, OUTPOST_DATABASE_URL=f"postgres:{DB_PASSWORD}@127.0.0.1/test")
    assert done.returncode == 2 and "not a database URL" in done.stderr, done.stderr
    assert DB_PASSWORD not in done.stdout + done.stderr, done.stderr


# -- the SMTP password -----------------------------------------------------------------------------------------
@pytest.fixture
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    """The notification tests' server: aiosmtpd on 127.0.0.1 requiring STARTTLS and AUTH (outpost / PASSWORD)."""
    server = SmtpServer(*_make_cert(tmp_path_factory.mktemp("tls")))
    server.start()
    yield server
    server.stop()


def any_hour_policy(folder: Path) -> Path:
    """A policy under which mail goes at once at any hour (the default waits for 09:00 of a working day)."""
    path = folder / "policy.toml"
    path.write_text("[mail]\nworking_hours_only = false\n", encoding="utf-8")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("password", [PASSWORD, "Wr0ng-" + PASSWORD], ids=["accepted", "refused"])
def test_the_daemon_never_prints_logs_or_stores_the_smtp_password(make_app: Callable[..., App], sqlite_url: str,
                                                                  tmp_path: Path, smtp: SmtpServer,
                                                                  password: str) -> None:
    """A daemon process with OUTPOST_SMTP_PASSWORD set delivers over STARTTLS + AUTH (or is refused at AUTH and
    keeps retrying): the password is in none of its output and in no row of the database."""
    app = make_app(sqlite_url, at=local(2026, 11, 2, 10, 0))
    due_leave_deadlines(app, 3)  # 3 requests, then 3 reminders and 3 escalations: mail to send now
    env = {"OUTPOST_SMTP_HOST": "127.0.0.1", "OUTPOST_SMTP_PORT": str(smtp.port), "OUTPOST_SMTP_STARTTLS": "true",
           "OUTPOST_SMTP_USERNAME": USER, "OUTPOST_SMTP_PASSWORD": password,
           "OUTPOST_SMTP_FROM": "outpost@gov.example.org", "SSL_CERT_FILE": str(smtp.cert),
           "OUTPOST_POLICY": str(any_hour_policy(tmp_path))}  # the daemon runs on the real clock
    proc = spawn(sqlite_url, tmp_path, "d", env)
    log_path = tmp_path / "d.log"
    try:
        if password == PASSWORD:
            done = wait_for(lambda: pending_due(app) == 0 and app.store.mail_counts().get("queued", 0) == 0, 60)
        else:
            done = wait_for(lambda: "unusable" in log_path.read_text(), 60)
    finally:
        code, _took = stop(proc)
    log = log_path.read_text()
    assert done and code == 0, log
    if password == PASSWORD:
        assert len(smtp.received) == app.store.mail_counts()["sent"] >= 9, log  # it did log in with it
    else:
        assert smtp.received == [] and "unusable" in log
    assert password not in log
    assert password not in repr(dump(sqlite_url))
