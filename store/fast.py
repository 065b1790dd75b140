"""Prepared statements for the hot path: SQL generated once per dialect by SQLAlchemy Core from the
SQLModel tables, then run on the DBAPI cursor with SQLAlchemy's own bind and result processors.

Building and compiling a Core statement costs ~100 µs per call on this machine, more than SQLite
takes to run it; the case service runs ~8 statements per transaction. Compiling each statement once
keeps the schema in one place (store/tables.py) and the SQL generated, not hand-written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import JSON, Date, DateTime
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, literal_column
from sqlalchemy.sql.visitors import replacement_traverse

from store.types import PortableJSON, UTCDateTime, json_dumps, json_loads

_dumps = json_dumps
_loads = json_loads


_recent_utc: list[tuple[datetime | None, str | None]] = [(None, None), (None, None)]


def _utc_to_sqlite(value: datetime | None) -> str | None:
    """UTCDateTime → SQLite text in one step, the exact format SQLAlchemy's SQLite DATETIME writes."""
    # A step binds the same instants ("now", a due date) to several columns and rows: the last two are
    # remembered, by identity (a datetime never changes). Each pair is read once: threads may replace it.
    last, before = _recent_utc
    if value is last[0]:
        return last[1]
    if value is before[0]:
        return before[1]
    if value is None:
        return None
    utc = value
    if value.tzinfo is not UTC:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} given to a UTC column")
        utc = value.astimezone(UTC)
    # isoformat with fixed microseconds, cut before the offset: 1.3 µs against strftime's 3.2 µs
    text = utc.isoformat(" ", "microseconds")[:26]
    _recent_utc[:] = [(value, text), last]
    return text


def _sqlite_to_utc(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _sqlite_to_json(value: Any) -> Any:
    return _loads(value) if isinstance(value, str) else value


def _date_to_sqlite(value: date | None) -> str | None:
    """What SQLAlchemy's SQLite DATE writes: YYYY-MM-DD for a date, a datetime or a date subclass
    (freezegun's); None stays None; anything else is refused."""
    if type(value) is date:
        return value.isoformat()
    if value is None:
        return None
    if isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    raise TypeError(f"SQLite Date type only accepts Python date objects as input, not {type(value).__name__}")


def _sqlite_to_date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _fast_bind(type_: Any, dialect: Dialect) -> Any:
    """On SQLite the hot column types skip SQLAlchemy's processor chains (TypeDecorator → impl →
    dialect type): each is a plain function doing what that chain ends up doing."""
    if dialect.name != "sqlite":
        return None
    if isinstance(type_, UTCDateTime):
        return _utc_to_sqlite
    if isinstance(type_, PortableJSON | JSON):
        return _dumps  # what the engine's JSON type writes (store/engine.py; None is the JSON `null`)
    if isinstance(type_, Date) and not isinstance(type_, DateTime):
        return _date_to_sqlite
    return None


def _fast_result(type_: Any, dialect: Dialect) -> Any:
    if dialect.name != "sqlite":
        return None
    if isinstance(type_, UTCDateTime):
        return _sqlite_to_utc
    if isinstance(type_, PortableJSON | JSON):
        return _sqlite_to_json
    if isinstance(type_, Date) and not isinstance(type_, DateTime):
        return _sqlite_to_date
    return None


_PLAIN = re.compile(r"[A-Za-z0-9_.:-]{0,64}")


def _literals_inline(stmt: ClauseElement) -> ClauseElement:
    """The statement with the plain literals written in it (`status = 'pending'`, a word or a number from the
    code, never a value given at run time) put into its SQL text instead of bound.

    SQLite plans a statement again at every run when a bound value is compared with a column that a
    partial index's WHERE names (`ix_deadline_pending_due` is only over pending rows): 20 µs a run, more
    than the query, and the planner cannot know that the partial index applies. With the literal in the
    text it plans once and uses the index."""

    def inline(element: Any, **_kw: Any) -> Any:
        if not isinstance(element, BindParameter) or element.required or element.callable is not None:
            return None
        value = element.value
        if type(value) is int or (type(value) is str and _PLAIN.fullmatch(value)):
            return literal_column(f"'{value}'" if isinstance(value, str) else str(value), type_=element.type)
        return None

    return cast(ClauseElement, replacement_traverse(stmt, {}, inline))


def _generated(name: str, source: str, env: dict[str, Any]) -> Callable[..., Any]:
    """A function written for one statement (as dataclasses writes __init__): one expression per call,
    no loop over columns, no intermediate list."""
    code = compile(source, f"<store.fast {name}>", "exec")
    exec(code, env)  # the source is ours: column names from the schema, repr()-quoted
    return cast(Callable[..., Any], env[name])


def _params_function(names: list[str], out_keys: list[str], procs: list[Any], defaults: Mapping[str, Any],
                     named: bool) -> Callable[[Mapping[str, Any]], Any]:
    """values (by bind name; a literal of the statement where absent) → the driver's parameters."""
    env: dict[str, Any] = {}
    items: list[str] = []
    for i, (name, proc) in enumerate(zip(names, procs, strict=True)):
        if name in defaults:
            env[f"d{i}"] = defaults[name]
            get = f"v.get({name!r}, d{i})"
        else:
            get = f"v[{name!r}]"
        if proc is not None:
            env[f"p{i}"] = proc
            get = f"p{i}({get})"
        items.append(get)
    if named:
        body = "{" + ", ".join(f"{k!r}: {g}" for k, g in zip(out_keys, items, strict=True)) + "}"
    else:
        body = "(" + "".join(f"{g}, " for g in items) + ")"
    return _generated("params", f"def params(v):\n    return {body}\n", env)


def _row_function(keys: list[str], procs: list[Any]) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """A driver row (a tuple) → {column: value}, each value converted by its result processor."""
    env: dict[str, Any] = {}
    items: list[str] = []
    for i, (key, proc) in enumerate(zip(keys, procs, strict=True)):
        if proc is not None:
            env[f"p{i}"] = proc
            items.append(f"{key!r}: p{i}(r[{i}])")
        else:
            items.append(f"{key!r}: r[{i}]")
    return _generated("row", "def row(r):\n    return {" + ", ".join(items) + "}\n", env)


class Prepared:
    """One statement compiled for a dialect: its SQL, and two functions written for it. `params(values)`:
    the driver's parameters for `values` (by bind name; literals of the statement filled in); `row(raw)`:
    a fetched row as {column: value}."""

    __slots__ = ("params", "row", "sql")

    def __init__(self, stmt: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, _literals_inline(stmt).compile(dialect=dialect))
        self.sql: str = compiled.string
        procs = compiled._bind_processors
        names = list(compiled.positiontup or []) if dialect.positional else list(compiled.bind_names.values())
        escaped: dict[str, str] = compiled.escaped_bind_names or {}
        # literals written into the statement (status = 'pending') are binds with a fixed value
        defaults = {name: bp.effective_value for bp, name in compiled.bind_names.items() if not bp.required}
        binds = compiled.binds
        cols = getattr(stmt, "selected_columns", None)
        source = list(cols) if cols is not None else list(getattr(stmt, "_returning", ()))
        self.params: Callable[[Mapping[str, Any]], Any] = _params_function(
            names, [escaped.get(n, n) for n in names],
            [_fast_bind(binds[n].type, dialect) or procs.get(n) for n in names], defaults, not dialect.positional)
        self.row: Callable[[Sequence[Any]], dict[str, Any]] = _row_function(
            [c.key for c in source],
            [_fast_result(c.type, dialect) or c.type._cached_result_processor(dialect, None) for c in source])


class Runner:
    """Runs prepared statements on the DBAPI connection under a SQLAlchemy-begun transaction."""

    def __init__(self, conn: Connection, cache: dict[str, Prepared]) -> None:
        self.conn = conn
        self.cache = cache
        self.dialect = conn.dialect
        dbapi_conn = conn.connection.driver_connection
        assert dbapi_conn is not None
        self.cursor = dbapi_conn.cursor()
        self.error = conn.dialect.loaded_dbapi.Error

    def prepared(self, key: str, build: Callable[[], ClauseElement]) -> Prepared:
        found = self.cache.get(key)
        if found is None:
            found = self.cache[key] = Prepared(build(), self.dialect)
        return found

    def _wrap(self, p: Prepared, params: Any, exc: Exception) -> Exception:
        return sa_exc.DBAPIError.instance(p.sql, params, exc, self.error)

    def execute(self, key: str, build: Callable[[], ClauseElement], values: Mapping[str, Any]) -> int:
        p = self.prepared(key, build)
        params = p.params(values)
        try:
            self.cursor.execute(p.sql, params)
        except self.error as exc:
            raise self._wrap(p, params, exc) from exc
        return int(self.cursor.rowcount)

    def execute_many(self, key: str, build: Callable[[], ClauseElement],
                     rows: Iterable[Mapping[str, Any]]) -> None:
        p = self.prepared(key, build)
        params = [p.params(r) for r in rows]
        if not params:
            return
        try:
            self.cursor.executemany(p.sql, params)
        except self.error as exc:
            raise self._wrap(p, params[0], exc) from exc

    def fetch(self, key: str, build: Callable[[], ClauseElement], values: Mapping[str, Any]) -> list[dict[str, Any]]:
        p = self.prepared(key, build)
        params = p.params(values)
        try:
            self.cursor.execute(p.sql, params)
            raw = self.cursor.fetchall()
        except self.error as exc:
            raise self._wrap(p, params, exc) from exc
        return [p.row(r) for r in raw]

    def fetch_one(self, key: str, build: Callable[[], ClauseElement],
                  values: Mapping[str, Any]) -> dict[str, Any] | None:
        rows = self.fetch(key, build, values)
        return rows[0] if rows else None
