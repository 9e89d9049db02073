"""Tables of the commerce set. Every row carries its region and project key: regions are
independent, and one project never sees another's data (the paper's multi-tenancy).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class CommerceRegion(Base):
    """A region's own secret, which signs its access tokens (stateless, like a JWT)."""

    __tablename__ = "commerce_regions"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    signing_secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class Project(Base):
    __tablename__ = "commerce_projects"
    __table_args__ = (UniqueConstraint("region", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]


class ApiClient(Base):
    """OAuth2 client credentials of one project; the secret is stored as a SHA-256."""

    __tablename__ = "commerce_api_clients"
    __table_args__ = (UniqueConstraint("region", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region: Mapped[str] = mapped_column(String(100))
    client_id: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[int] = mapped_column(ForeignKey("commerce_projects.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]


class Product(Base):
    __tablename__ = "commerce_products"
    __table_args__ = (UniqueConstraint("project_id", "sku"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("commerce_projects.id", ondelete="CASCADE"),
                                            index=True)
    sku: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    price_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]


class Cart(Base):
    __tablename__ = "commerce_carts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("commerce_projects.id", ondelete="CASCADE"),
                                            index=True)
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime]


class LineItem(Base):
    __tablename__ = "commerce_line_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("commerce_carts.id", ondelete="CASCADE"),
                                         index=True)
    product_id: Mapped[str] = mapped_column(String(36))
    quantity: Mapped[int]
    price_cents: Mapped[int]


class Order(Base):
    __tablename__ = "commerce_orders"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("commerce_projects.id", ondelete="CASCADE"),
                                            index=True)
    cart_id: Mapped[str] = mapped_column(String(36), unique=True)
    total_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]


class Message(Base):
    """An event a change produced. Visible only once delivered: eventual consistency (CQRS)."""

    __tablename__ = "commerce_messages"
    __table_args__ = (Index("ix_commerce_messages_pending", "delivered_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("commerce_projects.id", ondelete="CASCADE"),
                                            index=True)
    type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(36), index=True)
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEntry(Base):
    __tablename__ = "commerce_audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("commerce_projects.id", ondelete="CASCADE"),
                                            index=True)
    service: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(36))
    at: Mapped[datetime]


class ImportJob(Base):
    """A batch of products accepted at once and processed in the background in small batches."""

    __tablename__ = "commerce_imports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("commerce_projects.id", ondelete="CASCADE"),
                                            index=True)
    region: Mapped[str] = mapped_column(String(100), index=True)
    state: Mapped[str] = mapped_column(String(20))
    items: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    total: Mapped[int]
    processed: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    batches_done: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FaultRow(Base):
    """An injected fault; kept after it is cleared, so drills can show what happened when."""

    __tablename__ = "commerce_faults"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(100), default=None)
    zone: Mapped[str | None] = mapped_column(String(8), default=None)
    service: Mapped[str | None] = mapped_column(String(32), default=None)
    location: Mapped[str | None] = mapped_column(String(100), default=None)
    value: Mapped[float | None] = mapped_column(default=None)
    duration_s: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    cleared_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


class Endpoint(Base):
    """A listener the running fleet serves, so any process can list what is in use."""

    __tablename__ = "commerce_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance: Mapped[str] = mapped_column(String(64), index=True)
    region: Mapped[str] = mapped_column(String(100))
    zone: Mapped[str | None] = mapped_column(String(8), default=None)
    url: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]
