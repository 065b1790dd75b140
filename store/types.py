"""Column types shared by the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes in, UTC out. A naive datetime is a programming error."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Keys that are not strings become strings, as with json.dumps; a date, time or dataclass is refused
# (TypeError), as json.dumps refused it, rather than silently written as text and read back as a string.
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_dumps(value: Any) -> str:
    """A JSON column's text: orjson (a tenth of json.dumps's time; the case service writes a handful per
    step). The history's hash does not use this: it keeps its own canonical form (workflow/hashing.py)."""
    return orjson.dumps(value, option=_JSON_OPTIONS).decode()


json_loads = orjson.loads  # the column's text back (any JSON, whichever encoder wrote it)


def json_type() -> Any:
    """JSON everywhere, JSONB on PostgreSQL (the schema as the migrations create it)."""
    from sqlalchemy.dialects.postgresql import JSONB

    return JSON().with_variant(JSONB(), "postgresql")


class PortableJSON(TypeDecorator[Any]):
    """The runtime twin of `json_type()`: JSONB only when talking to PostgreSQL, so that a SQLite
    deployment never imports the PostgreSQL dialect (≈130 ms of every CLI start)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())
