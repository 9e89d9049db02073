"""Regions, zones and services of the commerce set, as values.

Tier 1 services are what a shop needs to sell; Tier 2 can fail without stopping a sale (the
paper's Import API and Audit Log example). Every service depends on auth, the single point of
failure the paper names.
"""

from __future__ import annotations

from dataclasses import dataclass

ZONES = ("a", "b", "c")


@dataclass(frozen=True, slots=True)
class Service:
    """A commerce service: its name on the status page, its URL segment, tier and dependencies.

    >>> SERVICES["orders"].depends_on
    ('auth', 'carts')
    """

    name: str
    segment: str
    tier: int
    depends_on: tuple[str, ...]
    writes: bool


SERVICES: dict[str, Service] = {
    service.name: service
    for service in (
        Service("auth", "oauth", 1, (), writes=False),
        Service("products", "products", 1, ("auth",), writes=True),
        Service("search", "search", 1, ("auth", "products"), writes=False),
        Service("carts", "carts", 1, ("auth", "products"), writes=True),
        Service("orders", "orders", 1, ("auth", "carts"), writes=True),
        Service("messages", "messages", 1, ("auth", "orders"), writes=False),
        Service("audit-log", "audit-log", 2, ("auth",), writes=False),
        Service("import", "imports", 2, ("auth", "products"), writes=True),
    )
}

SERVICE_BY_SEGMENT = {service.segment: service for service in SERVICES.values()}


def tier_of(component: str) -> int:
    """The tier of a component; one outside the catalogue is Tier 1 (the SLA spec's default)."""
    service = SERVICES.get(component)
    return service.tier if service else 1


def service_for_path(path: str) -> Service | None:
    """Which service a request path belongs to: /oauth/token → auth, /{project}/carts → carts."""
    parts = [part for part in path.split("/") if part]
    if not parts:
        return None
    if parts[0] == "oauth":
        return SERVICES["auth"]
    if len(parts) >= 2:
        return SERVICE_BY_SEGMENT.get(parts[1])
    return None
