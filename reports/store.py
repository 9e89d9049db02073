"""Queries of the reports package: customers, and reports' view of other packages' data.

Minute rollups are the probes package's tables, read through `probes.rollup_reads` (see
there for the four ways the SLA path reads them); `day_totals` turns its day summaries into
`reports.counts.DayTotals`. Maintenance windows and incidents come through status/'s own
query functions. Reports write only their own tables (customers).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session, selectinload

from commerce import store as commerce_store
from core.errors import Conflict, NotFound
from core.models import Role, User
from probes import rollup_reads
from reports.counts import DayTotals
from reports.customers import CustomerInput, InvalidCustomer
from reports.models import Customer, CustomerProject
from sla.model import MaintenanceWindow
from status import store as status_store
from status.maintenance import scope_matches
from status.store import IncidentTimeline

Pair = tuple[str, str]
#: Incidents the burn-rate job opens to page; never shown as a customer's incident.
BURN_RATE_ORIGIN = "burn_rate"


# --- minute rollups (probes/'s query functions) -------------------------------------------


def day_totals(session: Session, component: str, region: str, first_day: int, end_day: int,
               ) -> dict[int, DayTotals]:
    """The day summaries of a (component, region) for days [first, end) (`minute // 1440`).

    A day without a summary has no rollups.
    """
    return {day: DayTotals(row.minutes, row.down, row.single_location, row.maintenance,
                           row.no_data)
            for day, row in rollup_reads.day_summaries(session, component, region,
                                                       first_day, end_day).items()}


# --- maintenance and incidents (status/'s query functions) --------------------------------


def maintenance_windows(session: Session, start: datetime, end: datetime,
                        ) -> list[MaintenanceWindow]:
    """The SLA's maintenance windows for [start, end), as the status package keeps them."""
    return status_store.maintenance_windows_between(session, start, end)


@dataclass(frozen=True, slots=True)
class ShortNoticeWindow:
    """A maintenance window announced with less than the spec's 7 days (its reason kept):
    shown as maintenance, not excluded from the SLA. `affected` are the report's pairs."""

    id: int
    title: str
    start: datetime
    end: datetime
    reason: str
    affected: tuple[Pair, ...]


def short_notice_windows(session: Session, pairs: Iterable[Pair], start: datetime,
                         end: datetime) -> list[ShortNoticeWindow]:
    """The short-notice windows in [start, end) that cover any of `pairs`, by start."""
    wanted = sorted(pairs)
    found = []
    for window in status_store.windows_overlapping(session, start, end):
        if window.short_notice_reason is None or window.effective_end <= window.start:
            continue
        affected = tuple(pair for pair in wanted
                         if any(scope_matches(scope, *pair) for scope in window.scopes))
        if affected:
            found.append(ShortNoticeWindow(window.id, window.title, window.start,
                                           window.effective_end, window.short_notice_reason,
                                           affected))
    return found


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """An incident as a report needs it; `affected` are the report's pairs it touched."""

    id: int
    title: str
    impact: str
    origin: str
    first_failure_at: datetime | None
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    affected: tuple[Pair, ...]


def incidents_touching(session: Session, pairs: Iterable[Pair], start: datetime,
                       end: datetime) -> list[IncidentRecord]:
    """Incidents open at some time in [start, end) that affected one of `pairs`, oldest first.

    Burn-rate alerts are the job's own pages, not incidents of the service, and are left out.
    """
    found: dict[int, tuple[IncidentTimeline, list[Pair]]] = {}
    for component, region in sorted(set(pairs)):
        for item in status_store.incident_timelines(session, component, region, start, end):
            if item.origin != BURN_RATE_ORIGIN:
                found.setdefault(item.incident_id, (item, []))[1].append((component, region))
    records = [IncidentRecord(item.incident_id, item.title, item.impact, item.origin,
                              item.timeline.first_failure_at, item.timeline.opened_at,
                              item.timeline.acknowledged_at, item.timeline.resolved_at,
                              tuple(touched))
               for item, touched in found.values()]
    return sorted(records, key=lambda record: (record.opened_at, record.id))


def lock_burn_rates(session: Session) -> None:
    """One worker at a time decides burn-rate pages (SQLite has one writer anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('reports.burn_rates'))"))


# --- customers -----------------------------------------------------------------------------


def list_customers(session: Session, account_manager_id: int | None = None) -> list[Customer]:
    """Customers by name; only one account manager's when `account_manager_id` is given."""
    query = select(Customer).options(selectinload(Customer.projects)).order_by(Customer.name)
    if account_manager_id is not None:
        query = query.where(Customer.account_manager_id == account_manager_id)
    return list(session.scalars(query))


def get_customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer with id {customer_id}")
    return customer


def account_managers(session: Session) -> list[tuple[int, str]]:
    """Active account managers as (id, "name <email>"), for an admin's choice."""
    rows = session.execute(select(User.id, User.name, User.email).where(
        User.role == Role.ACCOUNT_MANAGER.value, User.active.is_(True)).order_by(User.email))
    return [(user_id, f"{name} <{email}>" if name else email) for user_id, name, email in rows]


def delete_customer(session: Session, customer: Customer) -> None:
    """Delete a customer and its projects (no archive: the schema has no column for it)."""
    session.delete(customer)
    session.flush()


def unknown_projects(session: Session, projects: Iterable[tuple[str, str]],
                     ) -> list[tuple[str, str]]:
    """The (project key, region)s the region's commerce store does not have (read through
    commerce's own query function)."""
    return [(key, region) for key, region in projects
            if commerce_store.project_by_key(session, region, key) is None]


def is_account_manager(session: Session, user_id: int) -> bool:
    user = session.get(User, user_id)
    return user is not None and user.active and user.role == Role.ACCOUNT_MANAGER.value


def ensure_unique(session: Session, name: str, projects: Iterable[tuple[str, str]],
                  customer_id: int | None) -> None:
    """Refuse a name or a (region, project key) another customer already has."""
    other = session.scalar(select(Customer.id).where(Customer.name == name))
    if other is not None and other != customer_id:
        raise Conflict(f"a customer named {name!r} exists already")
    for project_key, region in projects:
        owner = session.scalar(select(CustomerProject.customer_id).where(
            CustomerProject.project_key == project_key, CustomerProject.region == region))
        if owner is not None and owner != customer_id:
            raise Conflict(f"project {project_key!r} in {region} belongs to customer {owner}")


def customers_by_region(session: Session) -> dict[str, set[str]]:
    """The plans customers hold in each region."""
    rows = session.execute(select(CustomerProject.region, Customer.plan)
                           .join(Customer, Customer.id == CustomerProject.customer_id))
    plans: dict[str, set[str]] = {}
    for region, plan in rows:
        plans.setdefault(region, set()).add(plan)
    return plans


def save_customer(session: Session, data: CustomerInput, now: datetime,
                  customer: Customer | None = None) -> Customer:
    """Create a customer, or replace an existing one's fields and projects with `data`."""
    if data.account_manager_id is not None and not is_account_manager(
            session, data.account_manager_id):
        raise InvalidCustomer(f"'account_manager_id': user {data.account_manager_id} is not "
                              "an active account manager")
    missing = unknown_projects(session, data.projects)
    if missing:
        named = ", ".join(f"{key!r} in {region}" for key, region in missing)
        raise InvalidCustomer(f"no such commerce project: {named} (create it in the region "
                              "first: bellwether commerce create-project)")
    ensure_unique(session, data.name, data.projects, customer.id if customer else None)
    if customer is None:
        customer = Customer(created_at=now)
        session.add(customer)
    customer.name, customer.plan = data.name, data.plan
    customer.period_basis = data.period_basis.value
    customer.account_manager_id = data.account_manager_id
    customer.monthly_fee_cents = data.monthly_fee_cents
    # Keep the rows of projects that stay: deleting and re-adding one in a single flush
    # could insert before it deletes and trip the (region, project_key) constraint.
    wanted = set(data.projects)
    for project in list(customer.projects):
        if (project.project_key, project.region) not in wanted:
            customer.projects.remove(project)
    kept = {(p.project_key, p.region) for p in customer.projects}
    customer.projects.extend(CustomerProject(project_key=key, region=region)
                             for key, region in data.projects if (key, region) not in kept)
    session.flush()
    return customer
