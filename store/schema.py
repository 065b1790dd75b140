"""Generated from store/tables.py by `store.tables.render_schema()`: do not edit.

The runtime's view of the schema as plain SQLAlchemy Core tables (no SQLModel, no ORM, no pydantic);
tests/store/test_store.py checks that it equals what store/tables.py renders. Indexes (partial ones
included) are the migrations' business: naming one here would load every dialect it mentions.
"""

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from store.types import PortableJSON, UTCDateTime

metadata = MetaData()

holiday_t = Table(
    'holiday',
    metadata,
    Column('day', Date(), primary_key=True, nullable=False),
    Column('year', Integer(), nullable=False),
    Column('workday', Boolean(), nullable=False),
    Column('name', String(100), nullable=False),
)

meta_t = Table(
    'meta',
    metadata,
    Column('key', String(100), primary_key=True, nullable=False),
    Column('value', PortableJSON(), nullable=False),
)

office_t = Table(
    'office',
    metadata,
    Column('code', String(32), primary_key=True, nullable=False),
    Column('name', String(200), nullable=False),
    Column('city', String(100), nullable=False),
    Column('covers', PortableJSON(), nullable=False),
)

web_attempt_t = Table(
    'web_attempt',
    metadata,
    Column('id', Integer(), primary_key=True, autoincrement=True, nullable=False),
    Column('key', String(200), nullable=False),
    Column('at', UTCDateTime(), nullable=False),
)

web_link_t = Table(
    'web_link',
    metadata,
    Column('nonce', String(64), primary_key=True, nullable=False),
    Column('purpose', String(16), nullable=False),
    Column('source', String(300), nullable=True),
    Column('person', String(64), nullable=False),
    Column('case_id', Integer(), nullable=True),
    Column('case_version', Integer(), nullable=True),
    Column('case_seq', Integer(), nullable=True),
    Column('actions', PortableJSON(), nullable=False),
    Column('created_at', UTCDateTime(), nullable=False),
    Column('expires_at', UTCDateTime(), nullable=False),
    Column('used_at', UTCDateTime(), nullable=True),
)

web_session_t = Table(
    'web_session',
    metadata,
    Column('id_hash', String(64), primary_key=True, nullable=False),
    Column('person', String(64), nullable=False),
    Column('csrf', String(64), nullable=False),
    Column('created_at', UTCDateTime(), nullable=False),
    Column('seen_at', UTCDateTime(), nullable=False),
    Column('ended_at', UTCDateTime(), nullable=True),
)

person_t = Table(
    'person',
    metadata,
    Column('id', String(64), primary_key=True, nullable=False),
    Column('name', String(200), nullable=False),
    Column('email', String(254), nullable=True),
    Column('office', String(32), ForeignKey('office.code'), nullable=True),
    Column('active', Boolean(), nullable=False),
)

cases_t = Table(
    'cases',
    metadata,
    Column('id', Integer(), primary_key=True, autoincrement=True, nullable=False),
    Column('process', String(32), nullable=False),
    Column('definition_version', Integer(), nullable=False),
    Column('office', String(32), ForeignKey('office.code'), nullable=True),
    Column('subject', String(64), ForeignKey('person.id'), nullable=True),
    Column('period', String(16), nullable=True),
    Column('state', String(32), nullable=False),
    Column('version', Integer(), nullable=False),
    Column('data', PortableJSON(), nullable=False),
    Column('opened_at', UTCDateTime(), nullable=False),
    Column('opened_by', String(64), ForeignKey('person.id'), nullable=True),
    Column('updated_at', UTCDateTime(), nullable=False),
    Column('history_count', Integer(), nullable=False),
    Column('history_head', String(64), nullable=False),
    UniqueConstraint('process', 'office', 'period'),
)

delegation_t = Table(
    'delegation',
    metadata,
    Column('id', Integer(), primary_key=True, autoincrement=True, nullable=False),
    Column('absent', String(64), ForeignKey('person.id'), nullable=False),
    Column('acting', String(64), ForeignKey('person.id'), nullable=False),
    Column('start', Date(), nullable=False),
    Column('end', Date(), nullable=False),
    Column('reason', String(), nullable=True),
    Column('set_by', String(64), ForeignKey('person.id'), nullable=False),
    Column('set_at', UTCDateTime(), nullable=False),
    Column('ended_at', UTCDateTime(), nullable=True),
    Column('ended_by', String(64), ForeignKey('person.id'), nullable=True),
)

role_t = Table(
    'person_role',
    metadata,
    Column('person', String(64), ForeignKey('person.id'), primary_key=True, nullable=False),
    Column('role', String(32), primary_key=True, nullable=False),
)

process_record_t = Table(
    'process_record',
    metadata,
    Column('id', Integer(), primary_key=True, autoincrement=True, nullable=False),
    Column('process', String(64), nullable=False),
    Column('kind', String(32), nullable=False),
    Column('key', String(200), nullable=False),
    Column('data', PortableJSON(), nullable=False),
    Column('actor', String(64), ForeignKey('person.id'), nullable=True),
    Column('at', UTCDateTime(), nullable=False),
)

item_t = Table(
    'case_item',
    metadata,
    Column('id', Integer(), primary_key=True, autoincrement=True, nullable=False),
    Column('case_id', Integer(), ForeignKey('cases.id'), nullable=False),
    Column('kind', String(32), nullable=False),
    Column('status', String(16), nullable=False),
    Column('data', PortableJSON(), nullable=False),
    Column('created_at', UTCDateTime(), nullable=False),
    Column('created_by', String(64), ForeignKey('person.id'), nullable=True),
    Column('updated_at', UTCDateTime(), nullable=False),
)

deadline_t = Table(
    'deadline',
    metadata,
    Column('id', Integer(), primary_key=True, autoincrement=True, nullable=False),
    Column('case_id', Integer(), ForeignKey('cases.id'), nullable=False),
    Column('kind', String(48), nullable=False),
    Column('action', String(48), nullable=False),
    Column('for_state', String(32), nullable=False),
    Column('created_seq', Integer(), nullable=False),
    Column('occurrence', Integer(), nullable=False),
    Column('due_at', UTCDateTime(), nullable=False),
    Column('rule_id', String(16), nullable=False),
    Column('why', String(), nullable=False),
    Column('payload', PortableJSON(), nullable=False),
    Column('status', String(16), nullable=False),
    Column('created_at', UTCDateTime(), nullable=False),
    Column('fired_at', UTCDateTime(), nullable=True),
    Column('attempts', Integer(), nullable=False),
    Column('last_error', String(), nullable=True),
    Column('lock_owner', String(128), nullable=True),
    Column('lock_expires_at', UTCDateTime(), nullable=True),
    UniqueConstraint('case_id', 'kind', 'occurrence', 'for_state', 'created_seq'),
)

history_t = Table(
    'history',
    metadata,
    Column('id', Integer(), primary_key=True, autoincrement=True, nullable=False),
    Column('case_id', Integer(), ForeignKey('cases.id'), nullable=False),
    Column('seq', Integer(), nullable=False),
    Column('trigger', String(32), nullable=False),
    Column('from_state', String(32), nullable=True),
    Column('to_state', String(32), nullable=False),
    Column('actor', String(64), nullable=True),
    Column('at', UTCDateTime(), nullable=False),
    Column('comment', String(), nullable=True),
    Column('override_reason', String(), nullable=True),
    Column('definition_version', Integer(), nullable=False),
    Column('details', PortableJSON(), nullable=False),
    Column('prev_hash', String(64), nullable=False),
    Column('hash', String(64), nullable=False),
    UniqueConstraint('case_id', 'seq'),
)

mail_t = Table(
    'mail',
    metadata,
    Column('id', Integer(), primary_key=True, autoincrement=True, nullable=False),
    Column('case_id', Integer(), ForeignKey('cases.id'), nullable=True),
    Column('event', String(64), nullable=False),
    Column('dedupe_key', String(200), nullable=False),
    Column('message_id', String(200), nullable=False),
    Column('recipients', PortableJSON(), nullable=False),
    Column('params', PortableJSON(), nullable=False),
    Column('lang', String(8), nullable=False),
    Column('subject', String(), nullable=True),
    Column('status', String(16), nullable=False),
    Column('attempts', Integer(), nullable=False),
    Column('next_attempt_at', UTCDateTime(), nullable=False),
    Column('created_at', UTCDateTime(), nullable=False),
    Column('sent_at', UTCDateTime(), nullable=True),
    Column('last_error', String(), nullable=True),
    Column('lock_owner', String(128), nullable=True),
    Column('lock_expires_at', UTCDateTime(), nullable=True),
    UniqueConstraint('dedupe_key'),
)

offsite_t = Table(
    'off_site',
    metadata,
    Column('id', Integer(), primary_key=True, autoincrement=True, nullable=False),
    Column('person', String(64), ForeignKey('person.id'), nullable=False),
    Column('case_id', Integer(), ForeignKey('cases.id'), nullable=True),
    Column('start', Date(), nullable=False),
    Column('end', Date(), nullable=False),
    Column('source', String(32), nullable=False),
)
