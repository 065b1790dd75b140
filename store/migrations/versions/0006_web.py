"""web: mailed links' nonces (single use), sign-in sessions, sign-in attempts; cases by (process, state, office)

`web_link`: one row per mailed action or sign-in link; the signed token names its nonce, and the row is
marked used in the transaction that acts, so a link works once. `web_session`: server-side sessions (the
cookie carries a random id; the table keeps its SHA-256). `web_attempt`: sign-in requests by address and
by client, counted for the rate limit in the database so that several web workers share it.
`ix_cases_process_state_office`: the dashboard counts open cases per process and office from the index
entries of open states only; `ix_mail_failed`, `ix_deadline_failed`: it counts failed rows from them alone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('web_link',
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=True),
    sa.Column('person', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('case_version', sa.Integer(), nullable=True),
    sa.Column('case_seq', sa.Integer(), nullable=True),
    sa.Column('actions', _json(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('nonce', name=op.f('pk_web_link'))
    )
    op.create_index('ix_web_link_source', 'web_link', ['source'], unique=False)
    op.create_table('web_session',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('person', sa.String(length=64), nullable=False),
    sa.Column('csrf', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_web_session'))
    )
    op.create_index('ix_web_session_person', 'web_session', ['person'], unique=False)
    op.create_table('web_attempt',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_attempt'))
    )
    op.create_index('ix_web_attempt_key_at', 'web_attempt', ['key', 'at'], unique=False)
    op.create_index('ix_cases_process_state_office', 'cases', ['process', 'state', 'office'], unique=False)
    failed = sa.text("status = 'failed'")
    op.create_index('ix_mail_failed', 'mail', ['id'], unique=False, sqlite_where=failed, postgresql_where=failed)
    op.create_index('ix_deadline_failed', 'deadline', ['id'], unique=False, sqlite_where=failed,
                    postgresql_where=failed)


def downgrade() -> None:
    op.drop_index('ix_deadline_failed', table_name='deadline')
    op.drop_index('ix_mail_failed', table_name='mail')
    op.drop_index('ix_cases_process_state_office', table_name='cases')
    op.drop_index('ix_web_attempt_key_at', table_name='web_attempt')
    op.drop_table('web_attempt')
    op.drop_index('ix_web_session_person', table_name='web_session')
    op.drop_table('web_session')
    op.drop_index('ix_web_link_source', table_name='web_link')
    op.drop_table('web_link')
