"""The schema, as SQLModel tables. Alembic migrations (store/migrations) create and upgrade it.

The hot path uses SQLAlchemy Core statements on these tables (`Model.__table__`); SQLModel stays the
single description of the schema.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import Column, Index, Integer, MetaData, String, UniqueConstraint, text
from sqlalchemy.ext.mutable import MutableDict, MutableList
from sqlmodel import Field, SQLModel

from store.types import UTCDateTime, json_type

# Stable constraint names, so that migrations can refer to them on every dialect.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata

PENDING = text("status = 'pending'")


def _utc(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json_dict() -> Any:
    return Field(default_factory=dict, sa_column=Column(MutableDict.as_mutable(json_type()), nullable=False))


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(MutableList.as_mutable(json_type()), nullable=False))


class OfficeRow(SQLModel, table=True):
    __tablename__: ClassVar[str] = "office"
    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    city: str = Field(default="", max_length=100)
    covers: list[str] = _json_list()


class PersonRow(SQLModel, table=True):
    __tablename__: ClassVar[str] = "person"
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    office: str | None = Field(default=None, foreign_key="office.code", max_length=32)
    active: bool = Field(default=True)


class PersonRoleRow(SQLModel, table=True):
    __tablename__: ClassVar[str] = "person_role"
    person: str = Field(primary_key=True, foreign_key="person.id", max_length=64)
    role: str = Field(primary_key=True, max_length=32)


class CaseRow(SQLModel, table=True):
    __tablename__: ClassVar[str] = "cases"
    # The unique key also serves "cases of a process" (its first column). (subject, process): a person's
    # cases of one process, which the rules read on every leave request; with single-column indexes SQLite
    # chose the process one and read every leave case there is.
    # (process, state, office): the dashboard counts the open cases of each process by office, reading
    # only the index entries of open states (its cost follows the open work, not the years of history)
    __table_args__ = (UniqueConstraint("process", "office", "period"),
                      Index("ix_cases_subject_process", "subject", "process"),
                      Index("ix_cases_process_state_office", "process", "state", "office"))
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    process: str = Field(max_length=32)
    definition_version: int
    office: str | None = Field(default=None, foreign_key="office.code", max_length=32, index=True)
    subject: str | None = Field(default=None, foreign_key="person.id", max_length=64)
    period: str | None = Field(default=None, max_length=16)
    state: str = Field(max_length=32)
    version: int = Field(default=1)
    data: dict[str, Any] = _json_dict()
    opened_at: datetime = _utc()
    opened_by: str | None = Field(default=None, foreign_key="person.id", max_length=64)
    updated_at: datetime = _utc()
    history_count: int = Field(default=0)
    history_head: str = Field(default="", max_length=64)


class HistoryRow(SQLModel, table=True):
    __tablename__: ClassVar[str] = "history"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: int = Field(foreign_key="cases.id")
    seq: int
    trigger: str = Field(max_length=32)
    from_state: str | None = Field(default=None, max_length=32)
    to_state: str = Field(max_length=32)
    actor: str | None = Field(default=None, max_length=64)
    at: datetime = _utc()
    comment: str | None = None
    override_reason: str | None = None
    definition_version: int
    details: dict[str, Any] = _json_dict()
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class DeadlineRow(SQLModel, table=True):
    __tablename__: ClassVar[str] = "deadline"
    __table_args__ = (
        # The tick asks "what is due now": only pending rows are indexed, so it costs O(due), not O(open).
        Index("ix_deadline_pending_due", "due_at", sqlite_where=PENDING, postgresql_where=PENDING),
        # the dashboard's count of failed deadlines reads only them
        Index("ix_deadline_failed", "id", sqlite_where=text("status = 'failed'"),
              postgresql_where=text("status = 'failed'")),
        # also the index for "this case's deadlines" (its first column): no second index on case_id
        UniqueConstraint("case_id", "kind", "occurrence", "for_state", "created_seq"),
    )
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: int = Field(foreign_key="cases.id")
    kind: str = Field(max_length=48)
    action: str = Field(max_length=48)
    for_state: str = Field(max_length=32)
    created_seq: int = Field(default=0)  # the history seq that created it (one set per state entry)
    occurrence: int = Field(default=1)
    due_at: datetime = _utc()
    rule_id: str = Field(max_length=16)
    why: str
    payload: dict[str, Any] = _json_dict()
    status: str = Field(default="pending", max_length=16)
    created_at: datetime = _utc()
    fired_at: datetime | None = _utc(nullable=True)
    attempts: int = Field(default=0)
    last_error: str | None = None
    lock_owner: str | None = Field(default=None, max_length=128)
    lock_expires_at: datetime | None = _utc(nullable=True)


class MailRow(SQLModel, table=True):
    __tablename__: ClassVar[str] = "mail"
    __table_args__ = (
        Index("ix_mail_queued_next", "next_attempt_at", sqlite_where=text("status = 'queued'"),
              postgresql_where=text("status = 'queued'")),
        Index("ix_mail_failed", "id", sqlite_where=text("status = 'failed'"),
              postgresql_where=text("status = 'failed'")),
    )
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    event: str = Field(max_length=64)
    dedupe_key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    message_id: str = Field(max_length=200)
    recipients: list[dict[str, Any]] = _json_list()
    params: dict[str, Any] = _json_dict()
    lang: str = Field(default="zh", max_length=8)
    subject: str | None = None
    status: str = Field(default="queued", max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = _utc()
    created_at: datetime = _utc()
    sent_at: datetime | None = _utc(nullable=True)
    last_error: str | None = None
    lock_owner: str | None = Field(default=None, max_length=128)
    lock_expires_at: datetime | None = _utc(nullable=True)


class OffSiteRow(SQLModel, table=True):
    """Days a person spends away from the office's city (R-2.5)."""

    __tablename__: ClassVar[str] = "off_site"
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    person: str = Field(foreign_key="person.id", max_length=64, index=True)
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    start: date
    end: date
    source: str = Field(default="leave", max_length=32)


class ItemRow(SQLModel, table=True):
    """Things logged against a case (information items, investments, audit findings, handovers)."""

    __tablename__: ClassVar[str] = "case_item"
    __table_args__ = (Index("ix_case_item_case_id_kind", "case_id", "kind"),)
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    case_id: int = Field(foreign_key="cases.id")
    kind: str = Field(max_length=32)
    status: str = Field(max_length=16)
    data: dict[str, Any] = _json_dict()
    created_at: datetime = _utc()
    created_by: str | None = Field(default=None, foreign_key="person.id", max_length=64)
    updated_at: datetime = _utc()


class WebLinkRow(SQLModel, table=True):
    """A mailed link's nonce (an action link `/a/<token>`, or a sign-in link): the signed token names it,
    and it is marked used in the same transaction as what the link does, so a link works once."""

    __tablename__: ClassVar[str] = "web_link"
    nonce: str = Field(primary_key=True, max_length=64)
    purpose: str = Field(max_length=16)  # action | login
    # the mail (Message-ID and recipient) the link was made for: a resend of that mail carries the same link
    source: str | None = Field(default=None, max_length=300, index=True)
    person: str = Field(max_length=64)
    case_id: int | None = Field(default=None)
    case_version: int | None = Field(default=None)
    case_seq: int | None = Field(default=None)  # the case's history length when the link was made
    actions: list[str] = _json_list()
    created_at: datetime = _utc()
    expires_at: datetime = _utc()
    used_at: datetime | None = _utc(nullable=True)


class WebSessionRow(SQLModel, table=True):
    """A signed-in person's session (server-side; the cookie holds only the id, the table its hash)."""

    __tablename__: ClassVar[str] = "web_session"
    id_hash: str = Field(primary_key=True, max_length=64)
    person: str = Field(max_length=64, index=True)
    csrf: str = Field(max_length=64)
    created_at: datetime = _utc()
    seen_at: datetime = _utc()
    ended_at: datetime | None = _utc(nullable=True)


class WebAttemptRow(SQLModel, table=True):
    """Sign-in attempts by key (an address, a client), counted for the rate limit by every worker."""

    __tablename__: ClassVar[str] = "web_attempt"
    __table_args__ = (Index("ix_web_attempt_key_at", "key", "at"),)
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    key: str = Field(max_length=200)
    at: datetime = _utc()


class HolidayRow(SQLModel, table=True):
    """A day of an official holiday notice loaded by an administrator (R-0.6)."""

    __tablename__: ClassVar[str] = "holiday"
    day: date = Field(primary_key=True)
    year: int = Field(index=True)
    workday: bool  # False: statutory holiday; True: adjusted working day (调休上班)
    name: str = Field(default="", max_length=100)


class DelegationRow(SQLModel, table=True):
    """A dated delegation (issue 15.4): `acting` acts for `absent`, `start` to `end` inclusive (local days)."""

    __tablename__: ClassVar[str] = "delegation"
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    absent: str = Field(foreign_key="person.id", max_length=64, index=True)
    acting: str = Field(foreign_key="person.id", max_length=64, index=True)
    start: date
    end: date
    reason: str | None = None
    set_by: str = Field(foreign_key="person.id", max_length=64)
    set_at: datetime = _utc()
    ended_at: datetime | None = _utc(nullable=True)
    ended_by: str | None = Field(default=None, foreign_key="person.id", max_length=64)


class MetaRow(SQLModel, table=True):
    """Small key/value facts: organisation version, last tick, daemon heartbeats."""

    __tablename__: ClassVar[str] = "meta"
    key: str = Field(primary_key=True, max_length=100)
    value: dict[str, Any] = _json_dict()


class RecordRow(SQLModel, table=True):
    """A process's own record that belongs to no case (an office's budget, R-7.2): appended, never changed;
    the newest of a (process, kind, key) is in force."""

    __tablename__: ClassVar[str] = "process_record"
    __table_args__ = (Index("ix_process_record_process_kind_key", "process", "kind", "key"),)
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    process: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    key: str = Field(max_length=200)
    data: dict[str, Any] = _json_dict()
    actor: str | None = Field(default=None, foreign_key="person.id", max_length=64)
    at: datetime = _utc()


def render_schema() -> str:
    """store/schema.py: these tables as plain SQLAlchemy Core, for the runtime.

    SQLModel (with pydantic and the ORM) costs ~370 ms to import; the CLI and the daemon only need the
    Core tables. This renders them from the SQLModel metadata above, the single description of the
    schema. Regenerate (through a temporary file: importing `store` needs the old schema.py) with
    `python -c 'import store.tables as t; print(t.render_schema(), end="")' > /tmp/s.py`, then move
    /tmp/s.py to store/schema.py;
    a test keeps the two equal.
    """
    from sqlalchemy import JSON, Boolean, Date, Integer, String
    from sqlalchemy.types import Variant

    from store.types import UTCDateTime

    def type_code(t: Any) -> str:
        if isinstance(t, UTCDateTime):
            return "UTCDateTime()"
        if isinstance(t, (Variant, JSON)) or isinstance(getattr(t, "impl", None), JSON):
            return "PortableJSON()"
        base = t.impl if isinstance(getattr(t, "impl", None), String) else t  # sqlmodel's AutoString
        if isinstance(base, String):
            length = getattr(t, "length", None) or base.length
            return f"String({length})" if length else "String()"
        if isinstance(t, Boolean):
            return "Boolean()"
        if isinstance(t, Date):
            return "Date()"
        if isinstance(t, Integer):
            return "Integer()"
        raise TypeError(f"no Core rendering for column type {t!r}")

    out = [
        '"""Generated from store/tables.py by `store.tables.render_schema()`: do not edit.',
        "",
        "The runtime's view of the schema as plain SQLAlchemy Core tables (no SQLModel, no ORM, no pydantic);",
        "tests/store/test_store.py checks that it equals what store/tables.py renders. Indexes (partial ones",
        "included) are the migrations' business: naming one here would load every dialect it mentions.",
        '"""',
        "",
        "from sqlalchemy import (",
        *[f"    {name}," for name in ("Boolean", "Column", "Date", "ForeignKey", "Integer", "MetaData", "String",
                                    "Table", "UniqueConstraint")],
        ")",
        "",
        "from store.types import PortableJSON, UTCDateTime",
        "",
        "metadata = MetaData()",
    ]
    for table in metadata.sorted_tables:
        var = {"cases": "cases_t", "case_item": "item_t", "off_site": "offsite_t",
               "person_role": "role_t"}.get(table.name, f"{table.name}_t")
        out += ["", f"{var} = Table(", f"    {table.name!r},", "    metadata,"]
        for col in table.columns:
            args = [repr(col.name), type_code(col.type)]
            for fk in col.foreign_keys:
                args.append(f"ForeignKey({fk.target_fullname!r})")
            if col.primary_key:
                args.append("primary_key=True")
                if col.autoincrement is True:
                    args.append("autoincrement=True")
            args.append(f"nullable={col.nullable!r}")
            out.append(f"    Column({', '.join(args)}),")
        for cons in sorted(table.constraints, key=lambda c: str(c.name)):
            if isinstance(cons, UniqueConstraint):
                cols = ", ".join(repr(c.name) for c in cons.columns)
                out.append(f"    UniqueConstraint({cols}),")
        out.append(")")
    return "\n".join(out) + "\n"
