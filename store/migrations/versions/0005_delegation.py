"""delegation: dated delegations (issue 15.4), "李明 acting for 王建国, 1–14 March"

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('delegation',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('absent', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('acting', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('start', sa.Date(), nullable=False),
    sa.Column('end', sa.Date(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('set_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.ForeignKeyConstraint(['absent'], ['person.id'], name=op.f('fk_delegation_absent_person')),
    sa.ForeignKeyConstraint(['acting'], ['person.id'], name=op.f('fk_delegation_acting_person')),
    sa.ForeignKeyConstraint(['ended_by'], ['person.id'], name=op.f('fk_delegation_ended_by_person')),
    sa.ForeignKeyConstraint(['set_by'], ['person.id'], name=op.f('fk_delegation_set_by_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delegation'))
    )
    with op.batch_alter_table('delegation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delegation_absent'), ['absent'], unique=False)
        batch_op.create_index(batch_op.f('ix_delegation_acting'), ['acting'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('delegation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delegation_acting'))
        batch_op.drop_index(batch_op.f('ix_delegation_absent'))
    op.drop_table('delegation')
