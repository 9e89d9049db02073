"""Default tiers, plans and recovery objectives (spec §6 and §9), as values."""

from __future__ import annotations

from decimal import Decimal

from sla.model import Plan, RecoveryObjective, UnknownPlan

# Tier 2 can fail without stopping a sale; everything else, and anything unknown, is Tier 1.
DEFAULT_TIERS: dict[str, int] = {
    "auth": 1, "products": 1, "carts": 1, "orders": 1, "search": 1, "messages": 1,
    "audit-log": 2, "import": 2,
}

RPO_MINUTES = 120  # commercetools backs up every two hours

STANDARD = Plan(
    name="standard",
    targets={1: Decimal("99.9"), 2: Decimal("99.5")},
    recovery={1: RecoveryObjective(ack_minutes=60, resolve_minutes=60, rpo_minutes=RPO_MINUTES),
              2: RecoveryObjective(ack_minutes=180, resolve_minutes=240,
                                   rpo_minutes=RPO_MINUTES)},
)

PREMIUM = Plan(
    name="premium",
    targets={1: Decimal("99.99"), 2: Decimal("99.9")},
    recovery={1: RecoveryObjective(ack_minutes=20, resolve_minutes=60, rpo_minutes=RPO_MINUTES),
              2: RecoveryObjective(ack_minutes=90, resolve_minutes=240,
                                   rpo_minutes=RPO_MINUTES)},
)

PLANS: dict[str, Plan] = {plan.name: plan for plan in (STANDARD, PREMIUM)}


def tier_of(component: str) -> int:
    """The component's default tier; one outside the catalogue is Tier 1 (spec §6)."""
    return DEFAULT_TIERS.get(component, 1)


def plan_named(name: str) -> Plan:
    """The catalogue's plan of that name."""
    try:
        return PLANS[name]
    except KeyError:
        known = ", ".join(sorted(PLANS))
        raise UnknownPlan(f"unknown plan {name!r} (known: {known})") from None
