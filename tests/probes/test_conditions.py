"""Assertions with operators: parsed from their text, judged as values, and run in HTTP steps
against a real server on loopback."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from core.clock import SystemClock
from probes.assertions import judge
from probes.checks import CheckResult
from probes.conditions import Observation, Operator, failed_condition, holds, parse_condition
from probes.runner import RunContext, make_client, run_check
from probes.specs import HTTP_SUBJECTS, InvalidProbe, ProbeSpec, parse_probe, probe_to_json

DOCUMENT = {"state": "ready", "results": [{"id": "p1", "price": 1999}], "ok": True}


@pytest.mark.parametrize(("text", "subject", "operator", "value"), [
    ("status == 200", "status", Operator.EQUALS, 200),
    ("status < 500", "status", Operator.LESS, 500),
    ("response_time > 0.5", "response_time", Operator.GREATER, 0.5),
    ("header.Content-Type contains json", "header.Content-Type", Operator.CONTAINS, "json"),
    ('json.state == "ready"', "json.state", Operator.EQUALS, "ready"),
    ("json.ok == true", "json.ok", Operator.EQUALS, True),
    ("body matches ^\\{", "body", Operator.MATCHES, "^\\{"),
    ("body matches 200", "body", Operator.MATCHES, "200"),
    ("body contains two words", "body", Operator.CONTAINS, "two words"),
])
def test_conditions_are_read_from_their_text(text: str, subject: str, operator: Operator,
                                             value: Any) -> None:
    condition = parse_condition(text, HTTP_SUBJECTS)
    assert (condition.subject, condition.operator, condition.value) == (subject, operator,
                                                                        value)
    assert parse_condition(str(condition), HTTP_SUBJECTS) == condition


@pytest.mark.parametrize(("text", "message"), [
    ("status", "is not 'subject operator value'"),
    ("status != 200", "is not 'subject operator value'"),
    ("latency < 5", "the subject must be one of"),
    ("json. == 1", "the subject must be one of"),
    ("status < fast", "compares numbers"),
    ("body matches (", "not a regular expression"),
])
def test_bad_conditions_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_condition(text, HTTP_SUBJECTS)


@pytest.mark.parametrize(("operator", "actual", "expected", "result"), [
    (Operator.EQUALS, 200, 200, True), (Operator.EQUALS, "15", 15, True),
    (Operator.EQUALS, "ready", "ready", True), (Operator.EQUALS, "Ready", "ready", False),
    (Operator.EQUALS, ["b", "a"], ["a", "b"], True), (Operator.EQUALS, ["a", "b"], "a", False),
    (Operator.EQUALS, True, True, True), (Operator.EQUALS, True, 1, False),
    (Operator.LESS, 120.5, 250, True), (Operator.LESS, 250, 250, False),
    (Operator.LESS, "12", 13, True), (Operator.LESS, "soon", 13, False),
    (Operator.GREATER, 0, -1, True), (Operator.GREATER, None, 0, False),
    (Operator.CONTAINS, "application/json", "json", True),
    (Operator.CONTAINS, ["192.0.2.1", "192.0.2.2"], "192.0.2.2", True),
    (Operator.CONTAINS, ["192.0.2.1"], "192.0.2.9", False),
    (Operator.CONTAINS, {"id": 1}, "id", True),
    (Operator.MATCHES, "order-42", r"^order-\d+$", True),
    (Operator.MATCHES, "order-x", r"^order-\d+$", False),
    (Operator.MATCHES, ["x", "v=spf1 -all"], "^v=spf1", True),
])
def test_operators_compare_as_documented(operator: Operator, actual: Any, expected: Any,
                                         result: bool) -> None:
    assert holds(operator, actual, expected) is result


def test_the_first_failing_condition_is_the_reason() -> None:
    seen = Observation({"status": 200}, headers={"content-type": "text/html"},
                       document=DOCUMENT)
    conditions = [parse_condition(text, HTTP_SUBJECTS) for text in (
        "status == 200", "json.results.0.price > 1000", "header.content-type contains json",
        "json.missing == 1")]
    assert failed_condition(conditions, seen) == (
        "header.content-type is 'text/html', asserted header.content-type contains json")
    assert failed_condition(conditions[3:], seen) == (
        "json.missing is missing (asserted json.missing == 1)")
    assert failed_condition(conditions[:2], seen) is None


def test_a_condition_on_status_replaces_the_default_status_200() -> None:
    spec = parse_probe({"name": "p", "component": "c", "region": "eu", "base_url": "http://x",
                        "steps": [{"path": "/", "assert": ["status < 500"]}]}, ["eu"])
    expect = spec.steps[0].expect
    assert expect.status == ()
    assert judge(expect, 404, "", None) is None
    assert judge(expect, 503, "", None) == "status is 503, asserted status < 500"
    again = parse_probe(probe_to_json(spec), ["eu"])
    assert again == spec
    listed = parse_probe({"name": "p", "component": "c", "region": "eu",
                          "base_url": "http://x", "steps": [{
                              "path": "/", "expect": {"status": [200]},
                              "assert": ["status < 500"]}]}, ["eu"])
    assert judge(listed.steps[0].expect, 404, "", None) == "HTTP 404, expected 200"


def test_an_http_probe_asserts_in_its_steps() -> None:
    with pytest.raises(InvalidProbe, match="asserts per step"):
        parse_probe({"name": "p", "component": "c", "region": "eu", "base_url": "http://x",
                     "assert": ["status == 200"], "steps": [{"path": "/"}]}, ["eu"])
    with pytest.raises(InvalidProbe, match="'assert' goes in the step, beside 'expect'"):
        parse_probe({"name": "p", "component": "c", "region": "eu", "base_url": "http://x",
                     "steps": [{"path": "/", "expect": {"assert": ["status == 200"]}}]},
                    ["eu"])
    with pytest.raises(InvalidProbe, match="step 1: 'assert'"):
        parse_probe({"name": "p", "component": "c", "region": "eu", "base_url": "http://x",
                     "steps": [{"path": "/", "assert": ["rcode == NOERROR"]}]}, ["eu"])


class Shop(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(DOCUMENT).encode()
        self.send_response(200 if self.path == "/ready" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Shop-Version", "2.4.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def shop_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def http_probe(base_url: str, path: str, conditions: list[str]) -> ProbeSpec:
    return parse_probe({"name": "shop-ready", "component": "storefront", "region": "eu",
                        "base_url": base_url, "timeout_s": 5,
                        "steps": [{"path": path, "auth": "none", "assert": conditions}]},
                       ["eu"])


def run(spec: ProbeSpec) -> CheckResult:
    async def once() -> CheckResult:
        ctx = RunContext("loc-a", lambda _r: None, lambda _r: None, SystemClock())
        async with make_client("loc-a", lambda _loc, _region: False) as client:
            return await run_check(spec, ctx, client, datetime.now(UTC))

    return asyncio.run(once())


def test_http_steps_assert_on_status_headers_json_and_time(shop_url: str) -> None:
    conditions = ["status == 200", "header.x-shop-version matches ^2\\.", "json.state == \"ready\"",
                  "json.results.0.price < 2000", "body contains p1", "response_time < 5000"]
    result = run(http_probe(shop_url, "/ready", conditions))
    assert result.ok, result.error
    assert result.status_code == 200
    assert result.timings["connect_ms"] > 0


@pytest.mark.parametrize(("path", "condition", "reason"), [
    ("/ready", "header.X-Shop-Version == \"3.0\"", "header.X-Shop-Version is '2.4.1'"),
    ("/ready", "json.results.0.price > 5000", "json.results.0.price is 1999"),
    ("/ready", "response_time < 0", "asserted response_time < 0"),
    ("/gone", "status < 400", "status is 404, asserted status < 400"),
])
def test_a_failed_assertion_is_a_failed_check(shop_url: str, path: str, condition: str,
                                              reason: str) -> None:
    result = run(http_probe(shop_url, path, [condition]))
    assert not result.ok
    assert reason in (result.error or "")
    assert (result.error or "").startswith(f"GET {path}: ")


def test_tcp_probes_assert_on_their_connect_time(shop_url: str) -> None:
    target = shop_url.removeprefix("http://")

    def tcp_probe(condition: str) -> ProbeSpec:
        return parse_probe({"name": "shop-port", "component": "storefront", "region": "eu",
                            "kind": "tcp", "target": target, "assert": [condition]}, ["eu"])

    assert run(tcp_probe("response_time < 5000")).ok
    slow = run(tcp_probe("response_time < 0"))
    assert not slow.ok
    assert f"{target}: response_time is" in (slow.error or "")
