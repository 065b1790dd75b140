"""process records: facts a process keeps that belong to no case (an office's budget for a year, R-7.2)

Appended, never updated: the newest row of a (process, kind, key) is in force, the older ones are its
history (who set what, when and why).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('process_record',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('process', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor'], ['person.id'], name=op.f('fk_process_record_actor_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_process_record'))
    )
    with op.batch_alter_table('process_record', schema=None) as batch_op:
        batch_op.create_index('ix_process_record_process_kind_key', ['process', 'kind', 'key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('process_record', schema=None) as batch_op:
        batch_op.drop_index('ix_process_record_process_kind_key')
    op.drop_table('process_record')
