"""add probe_recheck_requests: re-checks the server relays from one agent to the others

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 20:10:00.000000

A migration must work while the previous release is still running, must not hold long
locks, and splits destructive changes across releases.

A new, empty table: the previous release never reads or writes it. Rows live for about one
probe interval (`probes.relay`), so the table stays small; `expires_at` is indexed for the
read every agent's ingest answer makes and for the pruning.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('probe_recheck_requests',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('component', sa.String(length=120), nullable=False),
    sa.Column('region', sa.String(length=100), nullable=False),
    sa.Column('location', sa.String(length=64), nullable=False),
    sa.Column('requested_at', core.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', core.db.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_probe_recheck_requests'))
    )
    with op.batch_alter_table('probe_recheck_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_probe_recheck_requests_expires_at'),
                              ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('probe_recheck_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_probe_recheck_requests_expires_at'))
    op.drop_table('probe_recheck_requests')
