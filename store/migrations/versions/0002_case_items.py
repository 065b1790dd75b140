"""case items: information items, investments, audit findings and handovers logged against a case

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('case_item',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_item_case_id_cases')),
    sa.ForeignKeyConstraint(['created_by'], ['person.id'], name=op.f('fk_case_item_created_by_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_item'))
    )
    with op.batch_alter_table('case_item', schema=None) as batch_op:
        batch_op.create_index('ix_case_item_case_id_kind', ['case_id', 'kind'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('case_item', schema=None) as batch_op:
        batch_op.drop_index('ix_case_item_case_id_kind')

    op.drop_table('case_item')

