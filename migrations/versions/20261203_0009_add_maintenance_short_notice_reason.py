"""add maintenances.short_notice_reason: why a window was announced with less than 7 days

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 15:45:00.000000

A migration must work while the previous release is still running, must not hold long
locks, and splits destructive changes across releases.

One nullable column: NULL is a window announced at least 7 days ahead (every existing row,
since the previous release refused anything sooner). The previous release never reads it.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('maintenances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('short_notice_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('maintenances', schema=None) as batch_op:
        batch_op.drop_column('short_notice_reason')
