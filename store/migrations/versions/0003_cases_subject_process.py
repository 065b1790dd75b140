"""cases: one index on (subject, process) instead of subject alone

A person's cases of one process are read on every leave request (R-2.1, R-2.5, R-2.6) and every
departure audit opened (R-4.1). With single-column indexes on process and on subject, SQLite chose the
process one and read every leave case in the database; the pair finds the person's few directly.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain index statements on both dialects: no table is copied
    op.create_index('ix_cases_subject_process', 'cases', ['subject', 'process'], unique=False)
    op.drop_index('ix_cases_subject', table_name='cases')


def downgrade() -> None:
    op.create_index('ix_cases_subject', 'cases', ['subject'], unique=False)
    op.drop_index('ix_cases_subject_process', table_name='cases')
