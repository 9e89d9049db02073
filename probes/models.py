"""Tables of the probes package: probes, raw checks, minute rollups, live state and its history,
agents and the re-check requests relayed between them.

Raw checks are kept for a bounded time; rollups forever. Reports read whole UTC days from
the day summaries (`rollup_days`, rewritten with the minute rollups they count) and the
minutes of partial days from the minute rollups, by the primary key (component, region,
minute) and by a partial index on the few rollups that are not plainly up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class Probe(Base):
    """A probe definition (default catalogue, config file or admin API), stored as JSON."""

    __tablename__ = "probes"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    component: Mapped[str] = mapped_column(String(120))
    region: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(default=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class CheckRow(Base):
    """One check. `rolled_up` is false until the minutes it touches are rolled up."""

    __tablename__ = "probe_checks"
    __table_args__ = (
        Index("ix_probe_checks_series", "component", "region", "started_at"),
        Index("ix_probe_checks_unrolled", "rolled_up", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    probe: Mapped[str] = mapped_column(String(120))
    component: Mapped[str] = mapped_column(String(120))
    region: Mapped[str] = mapped_column(String(100))
    location: Mapped[str] = mapped_column(String(64))
    intended_at: Mapped[datetime]
    started_at: Mapped[datetime]
    ok: Mapped[bool]
    degraded: Mapped[bool] = mapped_column(default=False)
    latency_ms: Mapped[float] = mapped_column(Float)
    interval_s: Mapped[int] = mapped_column(Integer, default=30)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(String(500), default=None)
    warning: Mapped[str | None] = mapped_column(String(500), default=None)
    timings: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    figures: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    rolled_up: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime]


class LocationMinute(Base):
    """A (component, region, location) minute: counts, latency and the location's status."""

    __tablename__ = "rollup_location_minutes"

    component: Mapped[str] = mapped_column(String(120), primary_key=True)
    region: Mapped[str] = mapped_column(String(100), primary_key=True)
    location: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    checks: Mapped[int]
    failures: Mapped[int]
    degraded: Mapped[int]
    latency_p50_ms: Mapped[float] = mapped_column(Float)
    latency_p95_ms: Mapped[float] = mapped_column(Float)
    latency_max_ms: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))


#: The rollups a report looks at one by one: all but those `up` from two or more locations.
#: Queries must repeat it literally (see `probes.rollup_reads.NOTABLE`) for the planners to use it.
NOTABLE_ROLLUPS = "verdict <> 'up' OR locations = 1"


class ComponentMinute(Base):
    """A (component, region) minute: the spec's minute verdict and what it was made of."""

    __tablename__ = "rollup_minutes"
    __table_args__ = (
        # About 1 % of the rows: without it, finding them visits every row of a month.
        Index("ix_rollup_minutes_notable", "component", "region", "minute",
              sqlite_where=text(NOTABLE_ROLLUPS), postgresql_where=text(NOTABLE_ROLLUPS)),
    )

    component: Mapped[str] = mapped_column(String(120), primary_key=True)
    region: Mapped[str] = mapped_column(String(100), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    checks: Mapped[int]
    failures: Mapped[int]
    degraded: Mapped[int]
    locations: Mapped[int]
    locations_down: Mapped[int]
    latency_p50_ms: Mapped[float] = mapped_column(Float)
    latency_p95_ms: Mapped[float] = mapped_column(Float)
    latency_max_ms: Mapped[float] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(16))


class ComponentDay(Base):
    """A (component, region) UTC day of minute rollups, counted: what reports add up per day.

    `day` is the day number since 1970-01-01 (`minute // 1440`). Written in the transaction
    that writes the day's minute rollups, by recounting the day from them, so it always
    equals what counting `rollup_minutes` would give (`probes.store.recount_rollup_days`).
    A rollup whose verdict is `maintenance` counts there and not as single-location.
    """

    __tablename__ = "rollup_days"

    component: Mapped[str] = mapped_column(String(120), primary_key=True)
    region: Mapped[str] = mapped_column(String(100), primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    minutes: Mapped[int]
    down_minutes: Mapped[int]
    single_location_minutes: Mapped[int]
    maintenance_minutes: Mapped[int]
    no_data_minutes: Mapped[int]


class ComponentState(Base):
    """The live state of a (component, region) and since when it holds."""

    __tablename__ = "component_states"

    component: Mapped[str] = mapped_column(String(120), primary_key=True)
    region: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    since: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(500), default="")
    #: When the stored evaluation (state or reason) last changed; a pass that finds the
    #: same writes nothing.
    evaluated_at: Mapped[datetime]


class StateChange(Base):
    """Every change of a live state, with its time: the history incidents build on."""

    __tablename__ = "component_state_changes"
    __table_args__ = (Index("ix_component_state_changes_series", "component", "region", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    component: Mapped[str] = mapped_column(String(120))
    region: Mapped[str] = mapped_column(String(100))
    from_state: Mapped[str] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(500), default="")
    handled: Mapped[bool] = mapped_column(default=False, index=True)


class Agent(Base):
    """A remote probe location process (`bellwether agent`), as its heartbeats tell it.

    `silent_since` is set when it has been silent for 3 probe intervals (and paged once),
    and cleared when it reports again.
    """

    __tablename__ = "probe_agents"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    location: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(100), default="")
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    silent_since: Mapped[datetime | None] = mapped_column(default=None)


class RecheckRow(Base):
    """A live request that the other locations re-check a pair (`probes.relay`): written at
    ingest, read by every web process for every agent's answer, gone once expired."""

    __tablename__ = "probe_recheck_requests"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    component: Mapped[str] = mapped_column(String(120))
    region: Mapped[str] = mapped_column(String(100))
    location: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
