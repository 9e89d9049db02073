"""A customer as the API accepts and shows it; who may see which customer (pure).

Admins create, edit and see every customer; an account manager sees only the customers
they look after; nobody else sees any. Parsing says which field is wrong and why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import BellwetherError
from core.models import Role
from reports.models import Customer
from sla.catalog import PLANS
from sla.model import PeriodBasis

PROJECT_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_PROJECTS = 200
FIELDS = ("name", "plan", "period_basis", "account_manager_id", "monthly_fee_cents",
          "projects")

SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["name", "projects"], "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "plan": {"type": "string", "enum": list(PLANS), "default": "standard"},
        "period_basis": {"type": "string", "enum": [b.value for b in PeriodBasis],
                         "default": PeriodBasis.CALENDAR.value},
        "account_manager_id": {"type": "integer", "nullable": True},
        "monthly_fee_cents": {"type": "integer", "minimum": 0, "nullable": True},
        "projects": {"type": "array", "maxItems": MAX_PROJECTS, "items": {
            "type": "object", "required": ["project_key", "region"],
            "properties": {"project_key": {"type": "string", "pattern": PROJECT_KEY.pattern},
                           "region": {"type": "string"}}}},
    },
}


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
                                  "'-' and '_', starting with a letter or digit")
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
    """Admins see every customer; account managers their own; nobody else any."""
    if role is Role.ADMIN:
        return True
    return role is Role.ACCOUNT_MANAGER and customer.account_manager_id == user_id


def manager_filter(role: Role, user_id: int) -> int | None:
    """Whose customers a listing shows: None (all) for admins, else the caller's own."""
    return None if role is Role.ADMIN else user_id
