"""initial schema: organisation, cases, hash-chained history, deadlines, mail outbox, off-site days, holidays, meta

Revision ID: 0001
Revises: 
Create Date: 2026-11-28
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('holiday',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('workday', sa.Boolean(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_holiday'))
    )
    with op.batch_alter_table('holiday', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_holiday_year'), ['year'], unique=False)

    op.create_table('meta',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('value', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_meta'))
    )
    op.create_table('office',
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('city', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('covers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_office'))
    )
    op.create_table('person',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('office', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['office'], ['office.code'], name=op.f('fk_person_office_office')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person'))
    )
    op.create_table('cases',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('process', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('definition_version', sa.Integer(), nullable=False),
    sa.Column('office', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('history_count', sa.Integer(), nullable=False),
    sa.Column('history_head', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['office'], ['office.code'], name=op.f('fk_cases_office_office')),
    sa.ForeignKeyConstraint(['opened_by'], ['person.id'], name=op.f('fk_cases_opened_by_person')),
    sa.ForeignKeyConstraint(['subject'], ['person.id'], name=op.f('fk_cases_subject_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('process', 'office', 'period', name=op.f('uq_cases_process_office_period'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_office'), ['office'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_process'), ['process'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_subject'), ['subject'], unique=False)

    op.create_table('person_role',
    sa.Column('person', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.ForeignKeyConstraint(['person'], ['person.id'], name=op.f('fk_person_role_person_person')),
    sa.PrimaryKeyConstraint('person', 'role', name=op.f('pk_person_role'))
    )
    op.create_table('deadline',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
    sa.Column('for_state', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_seq', sa.Integer(), nullable=False),
    sa.Column('occurrence', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rule_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('why', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('lock_owner', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('lock_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_deadline_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deadline')),
    sa.UniqueConstraint('case_id', 'kind', 'occurrence', 'for_state', 'created_seq', name=op.f('uq_deadline_case_id_kind_occurrence_for_state_created_seq'))
    )
    with op.batch_alter_table('deadline', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deadline_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_deadline_pending_due', ['due_at'], unique=False, sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))

    op.create_table('history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('from_state', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('to_state', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('override_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('definition_version', sa.Integer(), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_history_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_history')),
    sa.UniqueConstraint('case_id', 'seq', name=op.f('uq_history_case_id_seq'))
    )
    op.create_table('mail',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('recipients', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('lang', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('lock_owner', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('lock_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_mail_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_mail_dedupe_key'))
    )
    with op.batch_alter_table('mail', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mail_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_mail_queued_next', ['next_attempt_at'], unique=False, sqlite_where=sa.text("status = 'queued'"), postgresql_where=sa.text("status = 'queued'"))

    op.create_table('off_site',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('person', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('start', sa.Date(), nullable=False),
    sa.Column('end', sa.Date(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_off_site_case_id_cases')),
    sa.ForeignKeyConstraint(['person'], ['person.id'], name=op.f('fk_off_site_person_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_off_site'))
    )
    with op.batch_alter_table('off_site', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_off_site_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_off_site_person'), ['person'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('off_site', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_off_site_person'))
        batch_op.drop_index(batch_op.f('ix_off_site_case_id'))

    op.drop_table('off_site')
    with op.batch_alter_table('mail', schema=None) as batch_op:
        batch_op.drop_index('ix_mail_queued_next', sqlite_where=sa.text("status = 'queued'"), postgresql_where=sa.text("status = 'queued'"))
        batch_op.drop_index(batch_op.f('ix_mail_case_id'))

    op.drop_table('mail')
    op.drop_table('history')
    with op.batch_alter_table('deadline', schema=None) as batch_op:
        batch_op.drop_index('ix_deadline_pending_due', sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_deadline_case_id'))

    op.drop_table('deadline')
    op.drop_table('person_role')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_subject'))
        batch_op.drop_index(batch_op.f('ix_cases_process'))
        batch_op.drop_index(batch_op.f('ix_cases_office'))

    op.drop_table('cases')
    op.drop_table('person')
    op.drop_table('office')
    op.drop_table('meta')
    with op.batch_alter_table('holiday', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_holiday_year'))

    op.drop_table('holiday')
    
