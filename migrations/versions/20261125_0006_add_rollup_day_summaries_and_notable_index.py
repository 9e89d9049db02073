"""add rollup day summaries and a partial index on notable rollups

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 12:30:00.000000

A migration must work while the previous release is still running, must not hold long
locks, and splits destructive changes across releases.

Reports read whole UTC days from `rollup_days` and only the partial days from
`rollup_minutes`, where the few rollups that are not `up` from two or more locations are
found through the partial index (see docs/benchmarks.md, "SLA reports from rollups").

The summaries are backfilled here from the existing rollups. Rollups the previous release
writes after the backfill are not counted until the new release's rollup job rewrites a
minute of their day, which recounts the whole day; only a day that ends between the
backfill and the new release starting can stay short, so deploy away from midnight UTC (or
recount it with `probes.store.recount_rollup_days`). On PostgreSQL the index is built
CONCURRENTLY, so the rollup job keeps writing meanwhile.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTABLE = "verdict <> 'up' OR locations = 1"

#: Every day of every (component, region) counted as `probes.store.recount_rollup_days` does.
BACKFILL = """
INSERT INTO rollup_days (component, region, day, minutes, down_minutes,
                         single_location_minutes, maintenance_minutes, no_data_minutes)
SELECT component, region, minute / 1440,
       count(*),
       sum(CASE WHEN verdict = 'down' THEN 1 ELSE 0 END),
       sum(CASE WHEN locations = 1 AND verdict <> 'maintenance' THEN 1 ELSE 0 END),
       sum(CASE WHEN verdict = 'maintenance' THEN 1 ELSE 0 END),
       sum(CASE WHEN verdict = 'no_data' THEN 1 ELSE 0 END)
FROM rollup_minutes
GROUP BY component, region, minute / 1440
"""


def upgrade() -> None:
    op.create_table('rollup_days',
    sa.Column('component', sa.String(length=120), nullable=False),
    sa.Column('region', sa.String(length=100), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('down_minutes', sa.Integer(), nullable=False),
    sa.Column('single_location_minutes', sa.Integer(), nullable=False),
    sa.Column('maintenance_minutes', sa.Integer(), nullable=False),
    sa.Column('no_data_minutes', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('component', 'region', 'day', name=op.f('pk_rollup_days'))
    )
    op.execute(BACKFILL)
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.create_index('ix_rollup_minutes_notable', 'rollup_minutes',
                            ['component', 'region', 'minute'], unique=False,
                            postgresql_where=sa.text(NOTABLE), postgresql_concurrently=True)
    else:
        op.create_index('ix_rollup_minutes_notable', 'rollup_minutes',
                        ['component', 'region', 'minute'], unique=False,
                        sqlite_where=sa.text(NOTABLE))


def downgrade() -> None:
    op.drop_index('ix_rollup_minutes_notable', table_name='rollup_minutes')
    op.drop_table('rollup_days')
