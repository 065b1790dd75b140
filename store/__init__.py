"""Persistence: SQLModel schema, Alembic migrations, and the SQL implementation of the store.

Only this package imports sqlmodel/sqlalchemy/alembic.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect, text

from store.engine import BUSY_TIMEOUT_MS, db_errors, make_engine, redact_url, translate_db_error
from store.sql import SqlStore
from workflow.errors import SchemaMismatch

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration this code knows; a test checks it equals Alembic's head.
SCHEMA_HEAD = "0006"
KNOWN_REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006")

__all__ = ["SCHEMA_HEAD", "SqlStore", "check_schema", "migrate", "open_store", "redact_url"]


_NO_TABLE = re.compile(r"no such table|relation .* does not exist")


def migrate(url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> tuple[str | None, str]:
    """Create or upgrade the schema to the newest revision (idempotent). Returns (before, after)."""
    from alembic import command
    from alembic.config import Config

    engine = make_engine(url, busy_timeout_ms, create=True)
    try:
        before = _current_revision(url, engine)
        if before is not None and before not in KNOWN_REVISIONS:
            raise SchemaMismatch(
                f"the database is at schema revision {before}, newer than this Outpost knows "
                f"({SCHEMA_HEAD}); upgrade Outpost"
            )
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except db_errors(engine) as exc:
            raise translate_db_error(exc) from exc
        return before, SCHEMA_HEAD
    finally:
        engine.dispose()


def _current_revision(url: str, engine: object) -> str | None:
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    try:
        with engine.connect().execution_options(outpost_readonly=True) as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
            return str(row[0]) if row else None
    except db_errors(engine) as exc:
        raise translate_db_error(exc) from exc


def check_schema(store: SqlStore) -> None:
    """Refuse to work on a database that is not at this code's schema revision."""
    try:
        with store.engine.connect().execution_options(outpost_readonly=True) as conn:
            try:
                row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
            except sa_exc.DBAPIError as exc:
                if not _NO_TABLE.search(str(exc.orig).lower()):
                    raise  # a damaged or unreadable database is said as such, not "not initialised"
                row = None
    except db_errors(store.engine) as exc:
        raise translate_db_error(exc) from exc
    current = str(row[0]) if row else None
    if current == SCHEMA_HEAD:
        return
    if current is None:
        raise SchemaMismatch("the database is not initialised; run `outpost init`")
    if current in KNOWN_REVISIONS:
        raise SchemaMismatch(f"the database schema is at {current}, older than {SCHEMA_HEAD}; "
                             "run `outpost init` to upgrade it")
    raise SchemaMismatch(f"the database is at schema revision {current}, newer than this Outpost knows "
                         f"({SCHEMA_HEAD}); upgrade Outpost")


def open_store(url: str, check: bool = True, busy_timeout_ms: int = 5000) -> SqlStore:
    store = SqlStore(url, busy_timeout_ms)
    if check:
        try:
            check_schema(store)
        except BaseException:
            store.close()
            raise
    return store
