"""Engine set-up: the SQLAlchemy engine with Outpost's connection settings (SQLite in WAL mode with its
pragmas and BEGIN IMMEDIATE for writers, PostgreSQL's lock timeout), the database URL as it may be shown,
and driver errors mapped to the error tree."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from store.types import json_dumps, json_loads
from workflow.errors import BadInput, Busy, Conflict, DatabaseUnavailable, SchemaMismatch

__all__ = ["BUSY_TIMEOUT_MS", "db_errors", "make_engine", "redact_url", "translate_db_error"]

BUSY_TIMEOUT_MS = 5000


def make_engine(url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS, create: bool = False) -> Engine:
    """An engine with Outpost's connection settings (WAL, busy timeout, foreign keys on SQLite).

    Only `create` (outpost init) makes a missing SQLite file; any other command on a path with no file
    says so and leaves the disk alone (a mistyped path must not leave an empty database behind)."""
    try:
        parsed = make_url(url)
    except (sa_exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise BadInput("database_url: not a database URL (expected e.g. sqlite:////path/outpost.db or "
                       "postgresql+psycopg://user@host:5432/name)") from None
    try:
        return _engine_for(parsed, busy_timeout_ms, create)
    except sa_exc.NoSuchModuleError:
        raise BadInput(f"database_url: unknown database kind {parsed.drivername!r} "
                       "(sqlite or postgresql+psycopg)") from None
    except ImportError as exc:  # the driver named by the URL is not installed
        raise BadInput(f"database_url: the {parsed.drivername} driver is not installed ({exc.name or exc}); "
                       "for PostgreSQL install Outpost's postgres extra (psycopg)") from None


def redact_url(url: str) -> str:
    """The database URL as it may be shown: no password, neither user:password@ nor ?password=."""
    try:
        parsed = make_url(url)
    except (sa_exc.ArgumentError, ValueError):
        return "(a database URL that does not parse)"
    if "password" in parsed.query:
        parsed = parsed.update_query_dict({"password": "***"})
    return parsed.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


def _engine_for(parsed: Any, busy_timeout_ms: int, create: bool) -> Engine:
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = parsed.database
        if path and path != ":memory:":
            if Path(path).is_dir():
                raise DatabaseUnavailable(f"database_url: {path} is a folder, not a database file")
            if create:
                _create_private_file(Path(path))
            elif not Path(path).exists():
                raise SchemaMismatch(f"no database at {path}; run `outpost init` to create it")
        engine = create_engine(parsed, poolclass=NullPool if path in (None, "", ":memory:") else None,
                               connect_args={"timeout": busy_timeout_ms / 1000},
                               json_serializer=json_dumps, json_deserializer=json_loads)
        _sqlite_setup(engine, busy_timeout_ms)
        return engine
    if backend == "postgresql":
        engine = create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5,
                               json_serializer=json_dumps, json_deserializer=json_loads)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # the PostgreSQL twin of SQLite's busy timeout: a lock wait longer than this is "busy"
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET lock_timeout = {int(busy_timeout_ms)}")
            dbapi_conn.commit()

        return engine
    raise BadInput(f"database_url: unsupported database {backend!r} (use sqlite or postgresql+psycopg)")


def _create_private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (it holds people's leave and e-mail)."""
    if path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot create the database file {path}: {exc.strerror or exc}") from None
    os.close(fd)


def _sqlite_setup(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so writers take the lock up front.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # BEGIN IMMEDIATE: a writer waits (busy timeout) for the lock before it reads, so it never
        # decides on a snapshot that another writer has already changed.
        dbapi_conn = conn.connection.dbapi_connection
        assert dbapi_conn is not None
        if dbapi_conn.in_transaction:
            return  # SqlStore began it on the driver's connection; SQLAlchemy is joining it (autobegin)
        mode = "DEFERRED" if conn.get_execution_options().get("outpost_readonly") else "IMMEDIATE"
        dbapi_conn.execute(f"BEGIN {mode}")  # straight to sqlite3: this runs once per transaction


# Driver messages that mean "this database cannot be used as configured", not a bug of ours.
_UNAVAILABLE = (
    ("unable to open database file", "cannot be opened (no such folder, or no permission)"),
    ("file is not a database", "file is not an SQLite database"),
    ("database disk image is malformed", "file is damaged"),
    ("readonly database", "is read-only here"),  # "attempt to write a readonly database"
    ("disk i/o error", "cannot be read or written (disk I/O error)"),
    ("database or disk is full", "cannot be written: the disk is full"),
    ("connection refused", "server does not answer"),
    ("could not translate host name", "server's host name is unknown"),
    ("failed to resolve host", "server's host name is unknown"),  # psycopg 3's wording
    ("password authentication failed", "server refused the login"),
)
_NO_SUCH_DATABASE = re.compile(r'database "[^"]*" does not exist')


def db_errors(engine: Engine) -> tuple[type[Exception], ...]:
    """SQLAlchemy's wrapped errors and the driver's own (raised bare from connection events and from the
    SQLite transactions SqlStore begins on the driver's connection)."""
    return (sa_exc.DBAPIError, engine.dialect.loaded_dbapi.Error)


def translate_db_error(exc: Exception) -> Exception:
    """Map driver errors to the error tree: lock waits are `Busy`, races on unique keys `Conflict`.

    Takes SQLAlchemy's wrapper or the driver's own exception (the hot path talks to the driver)."""
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    text = str(orig if orig is not None else exc).lower()
    if "database is locked" in text or "database is busy" in text or "lock timeout" in text:
        return Busy(text)
    first = text.splitlines()[0][:200] if text else type(exc).__name__
    for marker, what in _UNAVAILABLE:
        if marker in text:
            return DatabaseUnavailable(f"the database {what} ({first}); nothing written")
    if _NO_SUCH_DATABASE.search(text):
        return DatabaseUnavailable(f"the database named in database_url does not exist ({first})")
    integrity = isinstance(exc, sa_exc.IntegrityError) or type(orig).__name__ in ("IntegrityError", "UniqueViolation")
    if integrity or "could not serialize" in text or "deadlock" in text:
        return Conflict(f"the case changed meanwhile, nothing written; retry ({text.splitlines()[0][:120]})")
    return exc
