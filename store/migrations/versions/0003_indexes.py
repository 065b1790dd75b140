"""indexes: cases by (subject, process); two indexes that repeated a unique key's first column dropped

A person's cases of one process are read on every leave request (R-2.1, R-2.5, R-2.6) and every
departure audit opened (R-4.1). With single-column indexes on process and on subject, SQLite chose the
process one and read every leave case in the database; the pair finds the person's few directly.

`ix_cases_process` and `ix_deadline_case_id` indexed the first column of a unique key that already
serves those lookups (cases: process, office, period; deadline: case_id, kind, …). They only cost
writes: one more index page per case opened and per deadline set or cancelled.

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
    op.drop_index('ix_cases_process', table_name='cases')
    op.drop_index('ix_deadline_case_id', table_name='deadline')


def downgrade() -> None:
    op.create_index('ix_deadline_case_id', 'deadline', ['case_id'], unique=False)
    op.create_index('ix_cases_process', 'cases', ['process'], unique=False)
    op.create_index('ix_cases_subject', 'cases', ['subject'], unique=False)
    op.drop_index('ix_cases_subject_process', table_name='cases')
