"""DNS checks through the runner against a real DNS server on loopback UDP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from core.clock import SystemClock
from probes.checks import CheckResult
from probes.dns_check import location_resolvers, normalise
from probes.runner import RunContext, make_client, run_check
from probes.specs import InvalidProbe, ProbeSpec, parse_probe, resolver_address
from tests.probes.dns_server import DnsServer

RECORDS = {
    ("shop.example.test.", "A"): ["192.0.2.10", "192.0.2.11"],
    ("shop.example.test.", "AAAA"): ["2001:db8::10"],
    ("shop.example.test.", "MX"): ["10 Mail.Example.TEST."],
    ("shop.example.test.", "TXT"): ['"v=spf1 -all"'],
    ("www.example.test.", "CNAME"): ["shop.example.test."],
}


@pytest.fixture
def server() -> Iterator[DnsServer]:
    with DnsServer(RECORDS) as running:
        yield running


def dns_probe(**fields: Any) -> ProbeSpec:
    return parse_probe({"name": "shop-dns", "component": "storefront", "region": "eu",
                        "kind": "dns", "target": "shop.example.test", "timeout_s": 2,
                        **fields}, ["eu"])


def run(spec: ProbeSpec, resolver: tuple[str, int] | None = None,
        location: str = "loc-a") -> CheckResult:
    async def once() -> CheckResult:
        ctx = RunContext(location, lambda _r: None, lambda _r: None, SystemClock(),
                         resolver=resolver)
        async with make_client(location, lambda _loc, _region: False) as client:
            return await run_check(spec, ctx, client, datetime.now(UTC))

    return asyncio.run(once())


def test_a_dns_check_passes_when_the_expected_answers_are_there(server: DnsServer) -> None:
    result = run(dns_probe(answers=["192.0.2.11"], resolver=server.address))
    assert result.ok, result.error
    assert server.queries == [("shop.example.test.", "A")]
    assert result.figures["answers"] == 2
    assert 0 < result.timings["dns_ms"] <= result.timings["total_ms"]
    assert result.status_code is None
    assert not result.degraded


def test_a_missing_expected_answer_fails_the_check_naming_what_came(server: DnsServer) -> None:
    result = run(dns_probe(answers=["192.0.2.99"], resolver=server.address))
    assert not result.ok
    assert "expected 192.0.2.99 among the answers" in (result.error or "")
    assert "192.0.2.10, 192.0.2.11" in (result.error or "")


@pytest.mark.parametrize(("record", "expected"), [
    ("AAAA", "2001:DB8:0::10"), ("MX", "10 mail.example.test."), ("TXT", "v=spf1 -all")])
def test_record_types_compare_in_their_canonical_form(server: DnsServer, record: str,
                                                      expected: str) -> None:
    result = run(dns_probe(record=record, answers=[expected], resolver=server.address))
    assert result.ok, result.error


def test_a_cname_query_sees_the_alias_target(server: DnsServer) -> None:
    result = run(dns_probe(target="www.example.test", record="CNAME",
                           answers=["shop.example.test"], resolver=server.address))
    assert result.ok, result.error


def test_an_unknown_name_fails_unless_the_probe_asserts_nxdomain(server: DnsServer) -> None:
    failed = run(dns_probe(target="gone.example.test", resolver=server.address))
    assert not failed.ok
    assert "NXDOMAIN" in (failed.error or "")
    expected_gone = run(dns_probe(target="gone.example.test", resolver=server.address,
                                  **{"assert": ["rcode == NXDOMAIN"]}))
    assert expected_gone.ok, expected_gone.error


def test_a_name_without_records_of_the_type_fails(server: DnsServer) -> None:
    result = run(dns_probe(target="www.example.test", record="A", resolver=server.address))
    assert not result.ok
    assert "no A records" in (result.error or "")


def test_conditions_judge_answers_and_response_time(server: DnsServer) -> None:
    passing = run(dns_probe(resolver=server.address, **{"assert": [
        "answers contains 192.0.2.10", "answers == [\"192.0.2.11\", \"192.0.2.10\"]",
        "response_time < 2000"]}))
    assert passing.ok, passing.error
    failing = run(dns_probe(resolver=server.address,
                            **{"assert": ["answers contains 192.0.2.12"]}))
    assert not failing.ok
    assert "asserted answers contains 192.0.2.12" in (failing.error or "")
    too_slow = run(dns_probe(resolver=server.address, **{"assert": ["response_time < 0"]}))
    assert not too_slow.ok
    assert "response_time" in (too_slow.error or "")


def test_the_location_s_resolver_is_asked_unless_the_probe_names_one() -> None:
    other = {("shop.example.test.", "A"): ["198.51.100.7"]}
    with DnsServer(RECORDS) as location_server, DnsServer(other) as probe_server:
        by_location = run(dns_probe(answers=["192.0.2.10"]), resolver=resolver_address(
            location_server.address))
        by_probe = run(dns_probe(answers=["198.51.100.7"], resolver=probe_server.address),
                       resolver=resolver_address(location_server.address))
    assert by_location.ok, by_location.error
    assert by_probe.ok, by_probe.error
    assert len(location_server.queries) == 1
    assert len(probe_server.queries) == 1


def test_a_silent_resolver_fails_the_check_within_its_timeout() -> None:
    with DnsServer(RECORDS, silent=True) as silent:
        result = run(dns_probe(resolver=silent.address, timeout_s=0.5))
    assert not result.ok
    assert "no answer" in (result.error or "") or "timed out" in (result.error or "")
    assert result.latency_ms < 2000


def test_locations_name_their_resolvers_in_the_config_file() -> None:
    extra = {"locations": {"loc-a": {"resolver": "127.0.0.1:5353"},
                           "loc-b": {"resolver": "[::1]:53"}, "loc-c": {}}}
    assert location_resolvers(extra) == {"loc-a": ("127.0.0.1", 5353), "loc-b": ("::1", 53)}
    with pytest.raises(ValueError, match=r"locations\.loc-a\.resolver"):
        location_resolvers({"locations": {"loc-a": {"resolver": "dns.example.test"}}})


@pytest.mark.parametrize(("fields", "message"), [
    ({"record": "BOGUS"}, "'record' must be one of"),
    ({"target": "a name"}, "needs 'target'"),
    ({"target": "shop..example.test"}, "labels of 1 to 63 characters"),
    ({"target": "x" * 64 + ".example.test"}, "labels of 1 to 63 characters"),
    ({"target": "192.0.2.1:53"}, "must be a DNS name"),
    ({"answers": "192.0.2.1"}, "'answers' must be a list"),
    ({"resolver": "resolver.example.test"}, "'resolver' must be an IP address"),
    ({"assert": ["status == 200"]}, "the subject must be one of response_time, rcode"),
])
def test_bad_dns_probes_are_refused_saying_why(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidProbe, match=message):
        dns_probe(**fields)


def test_answers_normalise_names_and_addresses() -> None:
    assert normalise("NS", "NS1.Example.TEST.") == "ns1.example.test"
    assert normalise("A", " 192.0.2.1 ") == "192.0.2.1"
    assert normalise("TXT", "Case Kept") == "Case Kept"
