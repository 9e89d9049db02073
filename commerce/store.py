"""Queries of the commerce set, one small function each. Every read is scoped to a project."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from commerce.faults import Fault, FaultKind, FaultSpec, expiry
from commerce.models import (
    ApiClient,
    AuditEntry,
    Cart,
    CommerceRegion,
    Endpoint,
    FaultRow,
    ImportJob,
    LineItem,
    Message,
    Order,
    Product,
    Project,
)
from commerce.tokens import client_secret_for, hash_secret
from core.errors import Conflict, NotFound
from core.signals import CommitSignal

PROBE_PROJECT = "bellwether-probe"

#: Fired when a transaction that queued a message or an import commits: the commerce
#: worker wakes at once instead of polling (core.signals).
WORK_ARRIVED = CommitSignal("commerce work")


def stored_region_secret(session: Session, region: str) -> str | None:
    """The region's signing secret if it was made (a read: no write lock)."""
    return session.scalar(select(CommerceRegion.signing_secret).where(
        CommerceRegion.name == region))


def region_secret(session: Session, region: str, now: datetime) -> str:
    """The region's signing secret, made on first use."""
    row = session.get(CommerceRegion, region)
    if row is None:
        row = CommerceRegion(name=region, signing_secret=secrets.token_hex(32), created_at=now)
        session.add(row)
        session.flush()
    return row.signing_secret


def create_project(session: Session, region: str, key: str, now: datetime,
                   name: str = "") -> tuple[Project, str, str]:
    """A new project with one API client; returns the project, client id and secret."""
    if session.scalar(select(Project.id).where(Project.region == region, Project.key == key)):
        raise Conflict(f"project {key!r} exists in {region} already")
    project = Project(region=region, key=key, name=name or key, created_at=now)
    session.add(project)
    session.flush()
    client_id = f"{key}-{secrets.token_hex(4)}"
    secret = client_secret_for(region_secret(session, region, now), client_id)
    session.add(ApiClient(region=region, client_id=client_id, secret_hash=hash_secret(secret),
                          project_id=project.id, created_at=now))
    session.flush()
    return project, client_id, secret


def probe_credentials(session: Session, region: str, now: datetime) -> tuple[str, str]:
    """Client id and secret of Bellwether's own probe project in a region (made on first use)."""
    project = project_by_key(session, region, PROBE_PROJECT)
    if project is None:
        _, client_id, secret = create_project(session, region, PROBE_PROJECT, now,
                                              name="Bellwether synthetic probes")
        return client_id, secret
    first_client = session.scalars(select(ApiClient.client_id).where(
        ApiClient.project_id == project.id).order_by(ApiClient.id)).first()
    assert first_client is not None, "every project is made with a client"
    return first_client, client_secret_for(region_secret(session, region, now), first_client)


def project_for_client(session: Session, region: str, client_id: str,
                       secret: str) -> Project | None:
    return session.scalar(select(Project).join(ApiClient).where(
        ApiClient.region == region, ApiClient.client_id == client_id,
        ApiClient.secret_hash == hash_secret(secret)))


def ensure_probe_product(session: Session, region: str, now: datetime) -> None:
    """The probe project's one product, which the order and transaction probes put in carts."""
    probe_credentials(session, region, now)
    project = project_by_key(session, region, PROBE_PROJECT)
    assert project is not None
    if not session.scalar(select(Product.id).where(Product.project_id == project.id).limit(1)):
        create_product(session, project, {"sku": "probe-item", "name": "Probe item",
                                          "description": "", "price_cents": 100,
                                          "currency": "EUR"}, now)


def project_by_key(session: Session, region: str, key: str) -> Project | None:
    return session.scalar(select(Project).where(Project.region == region, Project.key == key))


def audit(session: Session, project: Project, service: str, action: str, resource_type: str,
          resource_id: str, now: datetime) -> None:
    """Record a change; the audit log is written in the same transaction as the change."""
    session.add(AuditEntry(project_id=project.id, service=service, action=action,
                           resource_type=resource_type, resource_id=resource_id, at=now))


def product_json(product: Product) -> dict[str, Any]:
    return {"id": product.id, "sku": product.sku, "name": product.name,
            "description": product.description, "price_cents": product.price_cents,
            "currency": product.currency, "created_at": product.created_at.isoformat()}


def create_product(session: Session, project: Project, fields: dict[str, Any], now: datetime,
                   service: str = "products") -> Product:
    if session.scalar(select(Product.id).where(Product.project_id == project.id,
                                               Product.sku == fields["sku"])):
        raise Conflict(f"a product with sku {fields['sku']!r} exists already")
    product = Product(id=str(uuid.uuid4()), project_id=project.id, created_at=now, **fields)
    session.add(product)
    audit(session, project, service, "create", "product", product.id, now)
    return product


def list_products(session: Session, project: Project, limit: int, offset: int,
                  text: str | None = None) -> tuple[list[Product], int]:
    query = select(Product).where(Product.project_id == project.id)
    if text:
        pattern = f"%{text.lower()}%"
        query = query.where(or_(func.lower(Product.name).like(pattern),
                                func.lower(Product.description).like(pattern),
                                func.lower(Product.sku).like(pattern)))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Product.created_at, Product.id)
                           .limit(limit).offset(offset)).all()
    return list(rows), total


def get_product(session: Session, project: Project, product_id: str) -> Product:
    product = session.get(Product, product_id)
    if product is None or product.project_id != project.id:
        raise NotFound(f"no product {product_id}")
    return product


def cart_json(session: Session, cart: Cart) -> dict[str, Any]:
    items = session.scalars(select(LineItem).where(LineItem.cart_id == cart.id)
                            .order_by(LineItem.id)).all()
    return {"id": cart.id, "currency": cart.currency, "state": cart.state,
            "line_items": [{"id": i.id, "product_id": i.product_id, "quantity": i.quantity,
                            "price_cents": i.price_cents} for i in items],
            "total_cents": sum(i.price_cents * i.quantity for i in items),
            "created_at": cart.created_at.isoformat()}


def create_cart(session: Session, project: Project, currency: str, now: datetime) -> Cart:
    cart = Cart(id=str(uuid.uuid4()), project_id=project.id, currency=currency, created_at=now)
    session.add(cart)
    audit(session, project, "carts", "create", "cart", cart.id, now)
    return cart


def get_cart(session: Session, project: Project, cart_id: str) -> Cart:
    cart = session.get(Cart, cart_id)
    if cart is None or cart.project_id != project.id:
        raise NotFound(f"no cart {cart_id}")
    return cart


def add_line_item(session: Session, project: Project, cart: Cart, product_id: str,
                  quantity: int, now: datetime) -> None:
    if cart.state != "active":
        raise Conflict(f"cart {cart.id} is {cart.state}; line items can be added to active carts")
    product = get_product(session, project, product_id)
    if product.currency != cart.currency:
        raise Conflict(f"product is priced in {product.currency}, the cart in {cart.currency}")
    session.add(LineItem(cart_id=cart.id, product_id=product.id, quantity=quantity,
                         price_cents=product.price_cents))
    audit(session, project, "carts", "add_line_item", "cart", cart.id, now)


def order_json(order: Order) -> dict[str, Any]:
    return {"id": order.id, "cart_id": order.cart_id, "total_cents": order.total_cents,
            "currency": order.currency, "created_at": order.created_at.isoformat()}


def create_order(session: Session, project: Project, cart: Cart, now: datetime) -> Order:
    """Order a cart; the OrderCreated message is queued and delivered later (eventually)."""
    if cart.state != "active":
        raise Conflict(f"cart {cart.id} is {cart.state} and cannot be ordered again")
    items = session.scalars(select(LineItem).where(LineItem.cart_id == cart.id)).all()
    if not items:
        raise Conflict(f"cart {cart.id} has no line items")
    order = Order(id=str(uuid.uuid4()), project_id=project.id, cart_id=cart.id,
                  total_cents=sum(i.price_cents * i.quantity for i in items),
                  currency=cart.currency, created_at=now)
    cart.state = "ordered"
    session.add(order)
    session.add(Message(project_id=project.id, type="OrderCreated", resource_id=order.id,
                        payload=order_json(order), created_at=now))
    WORK_ARRIVED.mark(session)
    audit(session, project, "orders", "create", "order", order.id, now)
    return order


def get_order(session: Session, project: Project, order_id: str) -> Order:
    order = session.get(Order, order_id)
    if order is None or order.project_id != project.id:
        raise NotFound(f"no order {order_id}")
    return order


def has_pending_messages(session: Session) -> bool:
    return session.scalar(select(Message.id).where(Message.delivered_at.is_(None))
                          .limit(1)) is not None


def deliver_messages(session: Session, now: datetime, limit: int = 500) -> int:
    """Make queued messages visible: the asynchronous half of the CQRS write path."""
    pending = session.scalars(select(Message.id).where(Message.delivered_at.is_(None))
                              .order_by(Message.id).limit(limit)).all()
    if pending:
        session.execute(update(Message).where(Message.id.in_(pending)).values(delivered_at=now))
    return len(pending)


def list_messages(session: Session, project: Project, after_id: int, resource_id: str | None,
                  limit: int) -> list[Message]:
    query = select(Message).where(Message.project_id == project.id,
                                  Message.delivered_at.is_not(None), Message.id > after_id)
    if resource_id:
        query = query.where(Message.resource_id == resource_id)
    return list(session.scalars(query.order_by(Message.id).limit(limit)).all())


def list_audit(session: Session, project: Project, resource_type: str | None,
               limit: int) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.project_id == project.id)
    if resource_type:
        query = query.where(AuditEntry.resource_type == resource_type)
    return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)).all())


def create_import(session: Session, project: Project, items: list[dict[str, Any]],
                  now: datetime) -> ImportJob:
    job = ImportJob(id=str(uuid.uuid4()), project_id=project.id, region=project.region,
                    state="queued", items=items, total=len(items), errors=[],
                    next_attempt_at=now, created_at=now, updated_at=now)
    session.add(job)
    WORK_ARRIVED.mark(session)
    audit(session, project, "import", "create", "import", job.id, now)
    return job


def get_import(session: Session, project: Project, job_id: str) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None or job.project_id != project.id:
        raise NotFound(f"no import {job_id}")
    return job


def due_imports(session: Session, regions: Sequence[str], now: datetime) -> list[str]:
    return list(session.scalars(select(ImportJob.id).where(
        ImportJob.state.in_(("queued", "processing")), ImportJob.region.in_(regions),
        ImportJob.next_attempt_at <= now).order_by(ImportJob.created_at)).all())


def fault_from_row(row: FaultRow) -> Fault:
    spec = FaultSpec(kind=FaultKind(row.kind), region=row.region, zone=row.zone,
                     service=row.service, location=row.location, value=row.value,
                     duration_s=row.duration_s)
    return Fault(id=row.id, spec=spec, created_at=row.created_at, expires_at=row.expires_at)


def add_fault(session: Session, spec: FaultSpec, now: datetime) -> Fault:
    row = FaultRow(kind=spec.kind.value, region=spec.region, zone=spec.zone, service=spec.service,
                   location=spec.location, value=spec.value, duration_s=spec.duration_s,
                   created_at=now, expires_at=expiry(spec, now))
    session.add(row)
    session.flush()
    return fault_from_row(row)


def fault_version(session: Session) -> tuple[int, int]:
    """A cheap fingerprint of the fault table: the newest id and how many were cleared.

    An inject raises the first, a clear the second (faults are never deleted or uncleared),
    so two equal fingerprints mean the same stored faults; expiry is time, not a change.
    """
    newest, cleared = session.execute(select(func.coalesce(func.max(FaultRow.id), 0),
                                             func.count(FaultRow.cleared_at))).one()
    return int(newest), int(cleared)


def active_faults(session: Session, now: datetime) -> list[Fault]:
    rows = session.scalars(select(FaultRow).where(
        FaultRow.cleared_at.is_(None),
        or_(FaultRow.expires_at.is_(None), FaultRow.expires_at > now)).order_by(FaultRow.id))
    return [fault_from_row(row) for row in rows]


def clear_fault(session: Session, fault_id: int, now: datetime) -> None:
    row = session.get(FaultRow, fault_id)
    if row is None or row.cleared_at is not None or (row.expires_at and row.expires_at <= now):
        raise NotFound(f"no active fault {fault_id}")
    row.cleared_at = now


def clear_all_faults(session: Session, now: datetime) -> int:
    result = session.execute(update(FaultRow).where(FaultRow.cleared_at.is_(None))
                             .values(cleared_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


def replace_endpoints(session: Session, instance: str, endpoints: list[tuple[str, str | None, str]],
                      now: datetime) -> None:
    """Record the listeners of a fleet: (region, zone or None for the router, url)."""
    session.execute(delete(Endpoint).where(Endpoint.instance == instance))
    session.add_all(Endpoint(instance=instance, region=region, zone=zone, url=url, updated_at=now)
                    for region, zone, url in endpoints)


def list_endpoints(session: Session) -> list[Endpoint]:
    return list(session.scalars(select(Endpoint).order_by(Endpoint.region, Endpoint.zone)).all())


def retry_time(attempts: int, now: datetime) -> datetime:
    """Backoff for a failed import batch: 0.2 s, 0.4 s, … capped at 5 s."""
    return now + timedelta(seconds=min(5.0, 0.2 * 2 ** max(0, attempts - 1)))
