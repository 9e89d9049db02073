"""The fault model, as values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from commerce.faults import Fault, FaultKind, FaultSpec, FaultView, InvalidFault, parse_fault

REGIONS = ("europe-west1.gcp", "us-central1.gcp")
NOW = datetime(2026, 10, 1, tzinfo=UTC)


def view(*specs: FaultSpec) -> FaultView:
    return FaultView(tuple(Fault(i, spec, NOW, None) for i, spec in enumerate(specs)))


@pytest.mark.parametrize(("body", "message"), [
    ({"kind": "meteor"}, "'kind' must be one of"),
    ({"kind": "zone_down", "region": "europe-west1.gcp"}, "needs 'zone'"),
    ({"kind": "zone_down", "region": "mars-1", "zone": "a"}, "unknown region 'mars-1'"),
    ({"kind": "zone_down", "region": "europe-west1.gcp", "zone": "d"}, "unknown zone 'd'"),
    ({"kind": "service_down", "region": "europe-west1.gcp", "service": "cms"},
     "unknown service 'cms'"),
    ({"kind": "latency"}, "needs 'value'"),
    ({"kind": "latency", "value": -5}, "added ms"),
    ({"kind": "error_rate", "value": 1.5}, "fraction from 0 to 1"),
    ({"kind": "error_rate", "value": "0.3"}, "'value' must be a number"),
    ({"kind": "partition", "region": "europe-west1.gcp"}, "needs 'location'"),
    ({"kind": "region_down", "region": "europe-west1.gcp", "duration_s": 0}, "at least 1"),
    ({"kind": "region_down", "region": 7}, "'region' must be a non-empty string"),
])
def test_it_refuses_faults_that_make_no_sense(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidFault, match=message):
        parse_fault(body, REGIONS)


def test_it_accepts_every_kind_with_its_scope() -> None:
    spec = parse_fault({"kind": "latency", "region": "us-central1.gcp", "service": "orders",
                        "value": 250, "duration_s": 30}, REGIONS)
    assert spec == FaultSpec(FaultKind.LATENCY, region="us-central1.gcp", service="orders",
                             value=250.0, duration_s=30)


def test_a_region_failure_takes_its_zones_down() -> None:
    faults = view(FaultSpec(FaultKind.REGION_DOWN, region="europe-west1.gcp"))
    assert faults.region_down("europe-west1.gcp")
    assert all(faults.zone_down("europe-west1.gcp", zone) for zone in "abc")
    assert not faults.zone_down("us-central1.gcp", "a")


def test_a_zone_failure_touches_one_zone() -> None:
    faults = view(FaultSpec(FaultKind.ZONE_DOWN, region="europe-west1.gcp", zone="b"))
    assert faults.zone_down("europe-west1.gcp", "b")
    assert not faults.zone_down("europe-west1.gcp", "a")
    assert not faults.region_down("europe-west1.gcp")


def test_auth_down_and_auth_service_down_mean_the_same() -> None:
    assert view(FaultSpec(FaultKind.AUTH_DOWN, region="r")).auth_down("r")
    assert view(FaultSpec(FaultKind.SERVICE_DOWN, region="r", service="auth")).auth_down("r")
    assert not view(FaultSpec(FaultKind.SERVICE_DOWN, region="r", service="orders")).auth_down("r")


def test_latency_and_error_rates_are_scoped_and_combine() -> None:
    faults = view(FaultSpec(FaultKind.LATENCY, region="r", value=100),
                  FaultSpec(FaultKind.LATENCY, service="orders", value=50),
                  FaultSpec(FaultKind.ERROR_RATE, region="r", zone="a", value=0.5),
                  FaultSpec(FaultKind.ERROR_RATE, region="r", value=0.5))
    assert faults.added_latency_ms("r", "a", "orders") == 150
    assert faults.added_latency_ms("r", "a", "carts") == 100
    assert faults.added_latency_ms("s", "a", "carts") == 0
    assert faults.error_rate("r", "a", "carts") == pytest.approx(0.75)
    assert faults.error_rate("r", "b", "carts") == pytest.approx(0.5)


def test_a_partition_cuts_one_location_from_one_region() -> None:
    faults = view(FaultSpec(FaultKind.PARTITION, region="r", location="loc-a"))
    assert faults.partitioned("loc-a", "r")
    assert not faults.partitioned("loc-b", "r")
    assert not faults.partitioned("loc-a", "s")


def test_a_fault_with_a_duration_expires() -> None:
    fault = Fault(1, FaultSpec(FaultKind.DATABASE_DOWN, region="r", duration_s=60), NOW,
                  NOW + timedelta(seconds=60))
    assert FaultView.at([fault], NOW + timedelta(seconds=59)).database_down("r")
    assert not FaultView.at([fault], NOW + timedelta(seconds=60)).database_down("r")
