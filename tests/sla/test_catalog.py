from __future__ import annotations

from decimal import Decimal

import pytest

from sla.catalog import PREMIUM, STANDARD, plan_named, tier_of
from sla.model import UnknownPlan


@pytest.mark.parametrize("component", ["auth", "products", "carts", "orders", "search",
                                       "messages"])
def test_the_shop_components_are_tier_1(component: str) -> None:
    assert tier_of(component) == 1


@pytest.mark.parametrize("component", ["audit-log", "import"])
def test_audit_log_and_import_are_tier_2(component: str) -> None:
    assert tier_of(component) == 2


def test_a_component_outside_the_catalogue_is_tier_1() -> None:
    assert tier_of("inventory") == 1


def test_the_plans_carry_the_spec_targets() -> None:
    assert [STANDARD.target_for(1), STANDARD.target_for(2)] == [Decimal("99.9"),
                                                                Decimal("99.5")]
    assert [PREMIUM.target_for(1), PREMIUM.target_for(2)] == [Decimal("99.99"),
                                                              Decimal("99.9")]
    assert STANDARD.target_for(3) == Decimal("99.9")


def test_it_finds_plans_by_name() -> None:
    assert plan_named("premium") is PREMIUM
    with pytest.raises(UnknownPlan, match="unknown plan 'gold'"):
        plan_named("gold")
