"""Tables of the status package: incidents and their updates, maintenance windows,
subscribers and what they subscribed to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base


class Incident(Base):
    """An incident, opened automatically from state changes or declared by support.

    Automatic incidents are grouped by root cause (`root_component`, with every affected
    component in `components`); `taken_over` marks one a support engineer now writes.
    Timeline figures come from `first_failure_at`, `opened_at`, `acknowledged_at`,
    `resolved_at`.
    """

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_open", "resolved_at", "opened_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    impact: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    origin: Mapped[str] = mapped_column(String(16))
    root_component: Mapped[str | None] = mapped_column(String(120), default=None)
    public_message: Mapped[str] = mapped_column(Text, default="")
    taken_over: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    first_failure_at: Mapped[datetime | None] = mapped_column(default=None)
    opened_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    last_bad_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime]
    #: When an automatic incident last came back from resolved (same episode, same pages).
    reopened_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The newest update subscribers have been told of, and when (notices are batched).
    notified_update_id: Mapped[int | None] = mapped_column(default=None)
    notified_at: Mapped[datetime | None] = mapped_column(default=None)

    components: Mapped[list[IncidentComponent]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentComponent.id")
    pages: Mapped[list[IncidentPageRow]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentPageRow.id")
    updates: Mapped[list[IncidentUpdate]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentUpdate.id")


class IncidentComponent(Base):
    """A (component, region) an incident affects, with the state it is in."""

    __tablename__ = "incident_components"
    __table_args__ = (Index("ix_incident_components_series", "component", "region"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"),
                                             index=True)
    component: Mapped[str] = mapped_column(String(120))
    region: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(32))
    first_affected_at: Mapped[datetime]
    recovered_at: Mapped[datetime | None] = mapped_column(default=None)

    incident: Mapped[Incident] = relationship(back_populates="components")


class IncidentUpdate(Base):
    """A public update of an incident; its body is stored as written, escaped where shown."""

    __tablename__ = "incident_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"),
                                             index=True)
    status: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    automatic: Mapped[bool] = mapped_column(default=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime]
    #: Shown to on-call only (e.g. a burn-rate alert attached to the outage): never public,
    #: never sent to subscribers.
    internal: Mapped[bool] = mapped_column(default=False, server_default=false())

    incident: Mapped[Incident] = relationship(back_populates="updates")


class IncidentPageRow(Base):
    """One PagerDuty alert of an incident: the dedup_key and the routing key its first
    trigger went to. Every later event of that dedup_key goes to the same routing key, and
    each one is resolved on its own when the incident resolves."""

    __tablename__ = "incident_pages"
    __table_args__ = (UniqueConstraint("incident_id", "dedup_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"),
                                             index=True)
    dedup_key: Mapped[str] = mapped_column(String(120))
    routing_key: Mapped[str] = mapped_column(String(200))
    tier: Mapped[int] = mapped_column(Integer)
    triggered_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)

    incident: Mapped[Incident] = relationship(back_populates="pages")


class Maintenance(Base):
    """A maintenance window: covered components show under_maintenance, nothing pages,
    and the SLA excludes its minutes when it was announced at least 7 days ahead."""

    __tablename__ = "maintenances"
    __table_args__ = (Index("ix_maintenances_window", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    #: Why it was announced with less than the SLA's 7 days' notice (None: announced in
    #: time). Such a window shows as maintenance but is not excluded from the SLA.
    short_notice_reason: Mapped[str | None] = mapped_column(Text, default=None)

    scopes: Mapped[list[MaintenanceScope]] = relationship(
        back_populates="maintenance", cascade="all, delete-orphan")


class MaintenanceScope(Base):
    """What a window covers: an empty component or region means all of them."""

    __tablename__ = "maintenance_scopes"

    id: Mapped[int] = mapped_column(primary_key=True)
    maintenance_id: Mapped[int] = mapped_column(
        ForeignKey("maintenances.id", ondelete="CASCADE"), index=True)
    component: Mapped[str] = mapped_column(String(120), default="")
    region: Mapped[str] = mapped_column(String(100), default="")

    maintenance: Mapped[Maintenance] = relationship(back_populates="scopes")


class Subscriber(Base):
    """A customer who wants notices: by email (double opt-in) or webhook (HMAC-signed)."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(default=None)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)

    scopes: Mapped[list[SubscriberScope]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan")


class SubscriberScope(Base):
    """A region a subscriber chose, optionally narrowed to one component ('' = all)."""

    __tablename__ = "subscriber_scopes"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    region: Mapped[str] = mapped_column(String(100))
    component: Mapped[str] = mapped_column(String(120), default="")

    subscriber: Mapped[Subscriber] = relationship(back_populates="scopes")
