"""A customer as the API and the web form accept and show it; who may see and change which
customer (pure).

Admins create, edit and see every customer and assign its account manager; an account
manager creates, edits and deletes only the customers they look after, which stay theirs;
nobody else sees any. The web form is turned into the API's JSON body (`form_body`), so
one function (`parse_customer`) checks both and says which field is wrong and why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from core.errors import BellwetherError, Forbidden
from core.models import Role
from reports.models import Customer
from sla.catalog import PLANS
from sla.model import PeriodBasis

PROJECT_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_PROJECTS = 200
FIELDS = ("name", "plan", "period_basis", "account_manager_id", "monthly_fee_cents",
          "projects")


class InvalidCustomer(BellwetherError):
    code = "invalid_customer"


@dataclass(frozen=True, slots=True)
class CustomerInput:
    """A customer as an admin sent it, checked."""

    name: str
    plan: str
    period_basis: PeriodBasis
    account_manager_id: int | None
    monthly_fee_cents: int | None
    projects: tuple[tuple[str, str], ...]  # (project key, region)


def _whole(body: Mapping[str, Any], key: str, minimum: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidCustomer(f"'{key}' must be a whole number ≥ {minimum}, or null")
    return value


def _choice(body: Mapping[str, Any], key: str, allowed: Sequence[str], default: str) -> str:
    value = body.get(key, default)
    if value not in allowed:
        raise InvalidCustomer(f"'{key}' must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _projects(raw: Any, regions: Sequence[str]) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list) or len(raw) > MAX_PROJECTS:
        raise InvalidCustomer(f"'projects' must be a list of at most {MAX_PROJECTS} projects")
    projects = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != {"project_key", "region"}:
            raise InvalidCustomer(f"project {index} must be an object with exactly "
                                  "'project_key' and 'region'")
        key, region = item["project_key"], item["region"]
        if not isinstance(key, str) or not PROJECT_KEY.match(key):
            raise InvalidCustomer(f"project {index}: 'project_key' must be 1-64 of a-z, 0-9, "
                                  f"'-' and '_', starting with a letter or digit, not {key!r}")
        if region not in regions:
            raise InvalidCustomer(f"project {index}: unknown region {region!r} "
                                  f"(known: {', '.join(regions)})")
        projects.append((key, str(region)))
    if len(set(projects)) != len(projects):
        raise InvalidCustomer("'projects' lists the same project twice")
    return tuple(projects)


def parse_customer(body: Mapping[str, Any], regions: Sequence[str]) -> CustomerInput:
    """A whole customer from its JSON form; says which field is wrong."""
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise InvalidCustomer(f"unknown field(s): {', '.join(unknown)}")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        raise InvalidCustomer("'name' must be a string of 1..200 characters")
    if "projects" not in body:
        raise InvalidCustomer("'projects' is required (it may be an empty list)")
    return CustomerInput(
        name=name.strip(), plan=_choice(body, "plan", list(PLANS), "standard"),
        period_basis=PeriodBasis(_choice(body, "period_basis", [b.value for b in PeriodBasis],
                                         PeriodBasis.CALENDAR.value)),
        account_manager_id=_whole(body, "account_manager_id", 1),
        monthly_fee_cents=_whole(body, "monthly_fee_cents", 0),
        projects=_projects(body["projects"], regions))


def customer_json(customer: Customer) -> dict[str, Any]:
    """A customer as the API shows it."""
    projects = [{"project_key": p.project_key, "region": p.region} for p in customer.projects]
    return {"id": customer.id, "name": customer.name, "plan": customer.plan,
            "period_basis": customer.period_basis,
            "account_manager_id": customer.account_manager_id,
            "monthly_fee_cents": customer.monthly_fee_cents, "projects": projects,
            "regions": sorted({p.region for p in customer.projects}),
            "created_at": customer.created_at.isoformat()}


def may_see(role: Role, user_id: int, customer: Customer) -> bool:
    """Admins see (and change) every customer; account managers their own; nobody else any."""
    if role is Role.ADMIN:
        return True
    return role is Role.ACCOUNT_MANAGER and customer.account_manager_id == user_id


def manager_filter(role: Role, user_id: int) -> int | None:
    """Whose customers a listing shows: None (all) for admins, else the caller's own."""
    return None if role is Role.ADMIN else user_id


def owner_for(role: Role, user_id: int, requested: int | None) -> int | None:
    """The account manager a saved customer gets: admins assign anyone (or nobody); an
    account manager's customers are theirs, and only an admin hands one to someone else."""
    if role is Role.ADMIN:
        return requested
    if requested is not None and requested != user_id:
        raise Forbidden("only an admin assigns a customer to another account manager")
    return user_id


def _fee_cents(text: str) -> int | str | None:
    """An amount like `2,500.00` in cents; text that is no amount goes on as it is, for
    `parse_customer` to refuse with the API's words."""
    cleaned = text.strip().replace(",", "").replace(" ", "")
    if not cleaned:
        return None
    try:
        amount = Decimal(cleaned) * 100
    except InvalidOperation:
        return text
    if not amount.is_finite() or amount != amount.to_integral_value():
        return text
    return int(amount)


def project_keys(text: str) -> list[str]:
    """Project keys as typed in the form: one per line, or separated by commas or spaces."""
    return [key for key in re.split(r"[\s,]+", text) if key]


def form_body(form: Mapping[str, str], regions: Sequence[str]) -> dict[str, Any]:
    """The API's JSON body from the web form: `projects-<region>` text areas of keys, a fee
    in currency units, an `account_manager_id` select ('' for nobody) when an admin edits."""
    body: dict[str, Any] = {
        "name": form.get("name", ""), "plan": form.get("plan", "standard"),
        "period_basis": form.get("period_basis", PeriodBasis.CALENDAR.value),
        "monthly_fee_cents": _fee_cents(form.get("monthly_fee", "")),
        "projects": [{"project_key": key, "region": region} for region in regions
                     for key in project_keys(form.get(f"projects-{region}", ""))]}
    manager = form.get("account_manager_id")
    if manager is not None:
        body["account_manager_id"] = int(manager) if manager.strip().isdigit() else (
            None if not manager.strip() else manager)
    return body


def form_values(customer: Customer | None, regions: Sequence[str]) -> dict[str, str]:
    """A customer as the web form shows it (the inverse of `form_body`)."""
    if customer is None:
        return {"plan": "standard", "period_basis": PeriodBasis.CALENDAR.value}
    fee = customer.monthly_fee_cents
    values = {"name": customer.name, "plan": customer.plan,
              "period_basis": customer.period_basis,
              "monthly_fee": "" if fee is None else f"{fee / 100:.2f}",
              "account_manager_id": str(customer.account_manager_id or "")}
    for region in regions:
        values[f"projects-{region}"] = "\n".join(
            p.project_key for p in customer.projects if p.region == region)
    return values
