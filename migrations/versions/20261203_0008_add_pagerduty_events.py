"""add pagerduty_events: PagerDuty V3 webhook events, by id

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 12:45:00.000000

A migration must work while the previous release is still running, must not hold long
locks, and splits destructive changes across releases.

One new table, written only by the new PagerDuty webhook endpoint and its follow-up job
(alerts.pagerduty_timeline): the previous release never reads it.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


import core.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('pagerduty_events',
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('pd_incident', sa.String(length=64), nullable=True),
    sa.Column('agent', sa.String(length=200), nullable=False),
    sa.Column('occurred_at', core.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('received_at', core.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_pagerduty_events'))
    )
    with op.batch_alter_table('pagerduty_events', schema=None) as batch_op:
        batch_op.create_index('ix_pagerduty_events_outcome', ['outcome', 'received_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pagerduty_events', schema=None) as batch_op:
        batch_op.drop_index('ix_pagerduty_events_outcome')
    op.drop_table('pagerduty_events')
