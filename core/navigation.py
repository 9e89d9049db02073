"""Where each role lands after logging in, and the navigation it sees: only the pages its
role may open (the views' `require_user(...)` decide; tests/core/test_navigation.py opens
every link as every role, so this table and the views cannot drift apart).

Endpoints are named, not imported: core is what every package leans on, so it may not
import the packages whose pages it lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Role

ADMIN, SUPPORT, MANAGER = Role.ADMIN, Role.SUPPORT, Role.ACCOUNT_MANAGER


@dataclass(frozen=True, slots=True)
class NavLink:
    """One link of the web UI's navigation and the roles that may open it.

    >>> NavLink("Incidents", "status_admin.incidents", (ADMIN, SUPPORT)).shown_to(SUPPORT)
    True
    """

    label: str
    endpoint: str
    roles: tuple[Role, ...]

    def shown_to(self, role: Role) -> bool:
        return role in self.roles


#: Every page of the web UI a person logs in for, in the order the navigation shows them;
#: each role's first link is its home.
LINKS = (
    NavLink("Admin home", "admin_area.home", (ADMIN,)),
    NavLink("Backups", "admin_area.backups", (ADMIN,)),
    NavLink("Agents", "admin_area.agents", (ADMIN,)),
    NavLink("Probes", "admin_area.probes", (ADMIN,)),
    NavLink("Deliveries", "alerts.deliveries_page", (ADMIN,)),
    NavLink("Incidents", "status_admin.incidents", (ADMIN, SUPPORT)),
    NavLink("Maintenance", "status_admin.maintenance", (ADMIN, SUPPORT)),
    NavLink("Customers", "reports.customers_page", (ADMIN, MANAGER)),
    NavLink("Error budgets", "reports.budgets_page", (ADMIN, MANAGER)),
    NavLink("Public status page", "public.overview", (ADMIN, SUPPORT, MANAGER)),
)


def links_for(role: Role) -> list[NavLink]:
    """The links `role` sees, in order (an agent has no web pages: none)."""
    return [link for link in LINKS if link.shown_to(role)] if role is not Role.AGENT else []


def home_endpoint(role: Role | None) -> str:
    """Where `role` lands after logging in: its first link, or the public status page."""
    links = links_for(role) if role is not None else []
    return links[0].endpoint if links else "public.overview"
