"""Probe definitions as values: what to call, how often, and what counts as passing.

A probe names its component and region, an interval and timeout, and either HTTP steps
(run in order, each with assertions, later steps may use values captured by earlier ones)
or a target: TCP connect, TLS expiry, a DNS name (record type, expected answers, resolver)
or an ICMP echo. Any kind may add conditions with operators (probes/conditions.py). The
default catalogue exercises every commerce service in every region, plus one shop
transaction per region; operators add their own in a config file (config as code) or
through the admin API, in the same shape.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import BellwetherError
from probes.conditions import Condition, parse_condition

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,119}$")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "SRV", "PTR", "CAA")
_HOST = re.compile(r"^[A-Za-z0-9_.:-]{1,253}$")


class InvalidProbe(BellwetherError):
    code = "invalid_probe"


class UnknownRegion(InvalidProbe):
    code = "unknown_region"


class ProbeKind(enum.StrEnum):
    HTTP = "http"
    TCP = "tcp"
    TLS = "tls"
    DNS = "dns"
    ICMP = "icmp"


#: What a condition may read, per kind; a name ending in '.' is a prefix (`json.results.0`).
HTTP_SUBJECTS = ("status", "response_time", "body", "header.", "json.")
SUBJECTS = {ProbeKind.HTTP: HTTP_SUBJECTS, ProbeKind.TCP: ("response_time",),
            ProbeKind.TLS: ("response_time",),
            ProbeKind.DNS: ("response_time", "rcode", "answers"),
            ProbeKind.ICMP: ("response_time", "packet_loss")}


@dataclass(frozen=True, slots=True)
class Assertion:
    """One thing a response must show: a status, a JSON field, a keyword.

    >>> Assertion(status=(200,), json_field="results").describe()
    'status in (200,), JSON field results'
    """

    status: tuple[int, ...] = (200,)
    json_field: str | None = None
    json_equals: Any = None
    keyword: str | None = None
    conditions: tuple[Condition, ...] = ()

    def describe(self) -> str:
        parts = [f"status in {self.status}"] if self.status else []
        if self.json_field:
            parts.append(f"JSON field {self.json_field}"
                         + ("" if self.json_equals is None else f" == {self.json_equals!r}"))
        if self.keyword:
            parts.append(f"body contains {self.keyword!r}")
        parts += [str(condition) for condition in self.conditions]
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Step:
    """One HTTP request of a probe. `path` and `body` may use `{project}` and `{captured}`.

    `auth` is "token" (a bearer token from the region's auth, cached per location),
    "client" (client credentials: the auth probe itself), or "none". `until` repeats the
    step until its assertion holds or the probe's timeout runs out (eventual consistency).
    """

    method: str
    path: str
    body: Mapping[str, Any] | None = None
    form: Mapping[str, str] | None = None
    auth: str = "token"
    expect: Assertion = field(default_factory=Assertion)
    capture: Mapping[str, str] = field(default_factory=dict)
    until: bool = False
    figure: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """A probe of one component in one region.

    `target` is host:port (tcp, tls), a name to resolve (dns) or a host to ping (icmp).
    A dns probe asks for `record` records and expects each of `answers` among them, from
    `resolver` (host or host:port) or else its location's resolver; an icmp probe sends
    `ping_count` echo requests. `conditions` are the probe's own assertions (non-HTTP kinds;
    an HTTP step carries its own in `expect`).

    >>> default_catalogue(("europe-west1.gcp",))[0].name
    'auth.europe-west1.gcp'
    """

    name: str
    component: str
    region: str
    kind: ProbeKind = ProbeKind.HTTP
    interval_s: int = 30
    timeout_s: float = 10.0
    degraded_ms: float = 1000.0
    steps: tuple[Step, ...] = ()
    target: str | None = None
    base_url: str | None = None
    tls_warn_days: int = 14
    ca_file: str | None = None
    enabled: bool = True
    source: str = "default"
    record: str = "A"
    answers: tuple[str, ...] = ()
    resolver: str | None = None
    ping_count: int = 3
    conditions: tuple[Condition, ...] = ()


def _project(path: str) -> str:
    return "/{project}" + path


def _service_steps(component: str) -> tuple[Step, ...]:
    results = Assertion(status=(200,), json_field="results")
    steps: dict[str, tuple[Step, ...]] = {
        "auth": (Step("POST", "/oauth/token", form={"grant_type": "client_credentials"},
                      auth="client", expect=Assertion(json_field="access_token")),),
        "products": (Step("GET", _project("/products?limit=5"), expect=results),),
        "search": (Step("GET", _project("/search?q=probe"), expect=results),),
        "carts": (Step("POST", _project("/carts"), body={"currency": "EUR"},
                       expect=Assertion(status=(201,), json_field="id")),),
        "orders": _order_steps(),
        "messages": (Step("GET", _project("/messages?limit=5"), expect=results),),
        "audit-log": (Step("GET", _project("/audit-log?limit=5"), expect=results),),
        "import": (
            Step("POST", _project("/imports"), expect=Assertion(status=(202,), json_field="id"),
                 body={"items": [{"sku": "probe-import", "name": "Probe import",
                                  "price_cents": 1}]}, capture={"job": "id"}),
            Step("GET", _project("/imports/{job}"), expect=Assertion(json_field="state")),
        ),
    }
    return steps[component]


def _order_steps() -> tuple[Step, ...]:
    """A cart with one line item, ordered: placing an order is what `orders` is for."""
    return (
        Step("GET", _project("/products?limit=1"), expect=Assertion(json_field="results.0.id"),
             capture={"product": "results.0.id"}),
        Step("POST", _project("/carts"), body={"currency": "EUR"},
             expect=Assertion(status=(201,)), capture={"cart": "id"}),
        Step("POST", _project("/carts/{cart}/line-items"),
             body={"product_id": "{product}", "quantity": 1}, expect=Assertion(status=(201,))),
        Step("POST", _project("/orders"), body={"cart_id": "{cart}"},
             expect=Assertion(status=(201,), json_field="id"), capture={"order": "id"}),
    )


def _transaction_steps() -> tuple[Step, ...]:
    """Token → cart → line item → order → the order's message arrives (its lag is a figure)."""
    wait_for_message = Step("GET", _project("/messages?resource_id={order}"),
                            expect=Assertion(json_field="results.0.id"), until=True,
                            figure="message_lag_ms")
    return (*_order_steps(), wait_for_message)


def default_catalogue(regions: Iterable[str], interval_s: int = 30) -> list[ProbeSpec]:
    """A probe per (service, region) of the commerce set, and a transaction per region."""
    from commerce.catalog import SERVICES

    probes = []
    for region in regions:
        for component in SERVICES:
            probes.append(ProbeSpec(name=f"{component}.{region}", component=component,
                                    region=region, interval_s=interval_s,
                                    steps=_service_steps(component)))
        probes.append(ProbeSpec(name=f"transaction.{region}", component="transaction",
                                region=region, interval_s=interval_s, timeout_s=15.0,
                                degraded_ms=3000.0, steps=_transaction_steps()))
    return probes


def _conditions_from(raw: Any, subjects: Iterable[str], where: str) -> tuple[Condition, ...]:
    """The `assert` list: strings like "status < 500" (probes/conditions.py)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidProbe(f"{where}: 'assert' must be a list of conditions like "
                           "\"response_time < 500\"")
    try:
        return tuple(parse_condition(text, subjects) for text in raw)
    except ValueError as exc:
        raise InvalidProbe(f"{where}: 'assert' {exc}") from None


def _assertion_from(raw: Any, conditions: tuple[Condition, ...], where: str) -> Assertion:
    """A step's `expect`, with its `assert` conditions; a condition on the status replaces
    the default "status 200" unless `expect.status` is given too."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InvalidProbe(f"{where}: 'expect' must be an object")
    if "assert" in raw:
        raise InvalidProbe(f"{where}: 'assert' goes in the step, beside 'expect'")
    on_status = any(condition.subject == "status" for condition in conditions)
    status = raw.get("status", [] if on_status else [200])
    status = [status] if isinstance(status, int) else status
    if not isinstance(status, list) or not all(isinstance(s, int) and 100 <= s < 600
                                                 for s in status) or not (status or on_status):
        raise InvalidProbe(f"{where}: 'expect.status' must be HTTP status codes")
    return Assertion(status=tuple(status), json_field=_optional_text(raw, "json_field", where),
                     json_equals=raw.get("json_equals"),
                     keyword=_optional_text(raw, "keyword", where), conditions=conditions)


def _optional_text(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidProbe(f"{where}: {key!r} must be a non-empty string")
    return value


def _step_from(raw: Any, where: str) -> Step:
    if not isinstance(raw, Mapping):
        raise InvalidProbe(f"{where} must be an object")
    method = str(raw.get("method", "GET")).upper()
    path = raw.get("path")
    if method not in METHODS:
        raise InvalidProbe(f"{where}: 'method' must be one of {', '.join(METHODS)}")
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidProbe(f"{where}: 'path' must start with '/'")
    auth = raw.get("auth", "none")
    if auth not in ("token", "client", "none"):
        raise InvalidProbe(f"{where}: 'auth' must be token, client or none")
    body = raw.get("body")
    capture = raw.get("capture", {})
    if body is not None and not isinstance(body, Mapping):
        raise InvalidProbe(f"{where}: 'body' must be an object")
    if not isinstance(capture, Mapping) or not all(isinstance(v, str) for v in capture.values()):
        raise InvalidProbe(f"{where}: 'capture' maps names to JSON paths")
    form = raw.get("form")
    if form is not None and not (isinstance(form, Mapping)
                                 and all(isinstance(v, str) for v in form.values())):
        raise InvalidProbe(f"{where}: 'form' maps field names to strings")
    return Step(method=method, path=path, body=body, form=form, auth=auth, capture=dict(capture),
                expect=_assertion_from(raw.get("expect"),
                                       _conditions_from(raw.get("assert"), HTTP_SUBJECTS, where),
                                       where),
                until=bool(raw.get("until")),
                figure=_optional_text(raw, "figure", where))


def _number(raw: Mapping[str, Any], key: str, default: float, low: float, high: float,
            where: str) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidProbe(f"{where}: {key!r} must be a number from {low:g} to {high:g}")
    return float(value)


def parse_probe(raw: Any, regions: Iterable[str], default_interval_s: int = 30,
                source: str = "config") -> ProbeSpec:
    """A probe from a config file entry or an API body; says what is wrong with it."""
    if not isinstance(raw, Mapping):
        raise InvalidProbe("a probe must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidProbe("'name' must be lower-case letters, digits, '.', '_' or '-'")
    where = f"probe {name}"
    component, region = raw.get("component"), raw.get("region")
    if not isinstance(component, str) or not NAME_PATTERN.match(component):
        raise InvalidProbe(f"{where}: 'component' must be a lower-case name")
    if not isinstance(region, str) or not region:
        raise InvalidProbe(f"{where}: 'region' is required")
    try:
        kind = ProbeKind(raw.get("kind", "http"))
    except ValueError:
        raise InvalidProbe(f"{where}: 'kind' must be http, tcp, tls, dns or icmp") from None
    base_url, target = raw.get("base_url"), raw.get("target")
    if region not in set(regions) and not (base_url or target):
        raise UnknownRegion(f"{where}: unknown region {region!r} (and no base_url or target)")
    steps = raw.get("steps", [])
    if kind is ProbeKind.HTTP and (not isinstance(steps, list) or not steps):
        raise InvalidProbe(f"{where}: an http probe needs a list of 'steps'")
    return ProbeSpec(
        name=name, component=component, region=region, kind=kind,
        interval_s=int(_number(raw, "interval_s", default_interval_s, 1, 86400, where)),
        timeout_s=_number(raw, "timeout_s", 10, 0.1, 120, where),
        degraded_ms=_number(raw, "degraded_ms", 1000, 1, 120_000, where),
        steps=tuple(_step_from(s, f"{where} step {i + 1}") for i, s in enumerate(steps))
        if kind is ProbeKind.HTTP else (),
        target=target, base_url=base_url,
        tls_warn_days=int(_number(raw, "tls_warn_days", 14, 0, 365, where)),
        ca_file=_optional_text(raw, "ca_file", where),
        enabled=bool(raw.get("enabled", True)), source=source,
        **_target_fields(kind, raw, where))


def _target_fields(kind: ProbeKind, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The target and the kind's own fields, checked: what a non-HTTP probe aims at."""
    target = raw.get("target")
    if kind is ProbeKind.HTTP:
        if raw.get("assert"):
            raise InvalidProbe(f"{where}: an http probe asserts per step ('assert' in a step)")
        return {}
    fields: dict[str, Any] = {
        "conditions": _conditions_from(raw.get("assert"), SUBJECTS[kind], where)}
    if kind in (ProbeKind.TCP, ProbeKind.TLS):
        if not (isinstance(target, str) and ":" in target):
            raise InvalidProbe(f"{where}: a {kind} probe needs 'target' as host:port")
        return fields
    if not isinstance(target, str) or not _HOST.match(target) or target.strip(".") == "":
        what = "the name to resolve" if kind is ProbeKind.DNS else "the host to ping"
        raise InvalidProbe(f"{where}: a {kind} probe needs 'target', {what}")
    if kind is ProbeKind.ICMP:
        fields["ping_count"] = int(_number(raw, "count", 3, 1, 20, where))
        return fields
    return {**fields, **_dns_fields(raw, where)}


def _dns_fields(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    labels = str(raw["target"]).rstrip(".").split(".")
    if ":" in raw["target"] or not all(0 < len(label) <= 63 for label in labels):
        raise InvalidProbe(f"{where}: 'target' must be a DNS name, labels of 1 to 63 "
                           "characters between dots")
    record = str(raw.get("record", "A")).upper()
    if record not in RECORD_TYPES:
        raise InvalidProbe(f"{where}: 'record' must be one of {', '.join(RECORD_TYPES)}")
    answers = raw.get("answers", [])
    if not isinstance(answers, list) or not all(isinstance(a, str) and a for a in answers):
        raise InvalidProbe(f"{where}: 'answers' must be a list of expected answers (strings)")
    resolver = _optional_text(raw, "resolver", where)
    if resolver is not None:
        try:
            resolver_address(resolver)
        except ValueError as exc:
            raise InvalidProbe(f"{where}: 'resolver' {exc}") from None
    return {"record": record, "answers": tuple(answers), "resolver": resolver}


def resolver_address(text: str) -> tuple[str, int]:
    """A resolver as (address, port) from "192.0.2.53", "192.0.2.53:5353", "2001:db8::53"
    or "[2001:db8::53]:5353"; ValueError when it is none of these.

    >>> resolver_address("127.0.0.1:5353"), resolver_address("::1")
    (('127.0.0.1', 5353), ('::1', 53))
    """
    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"must be an IP address, optionally with :port, not {text!r}") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"has no valid port: {text!r}")
    return host, int(port)


def probe_to_json(spec: ProbeSpec) -> dict[str, Any]:
    """The probe in the shape `parse_probe` reads (config files, API answers, storage)."""
    return {
        "name": spec.name, "component": spec.component, "region": spec.region,
        "kind": spec.kind.value, "interval_s": spec.interval_s, "timeout_s": spec.timeout_s,
        "degraded_ms": spec.degraded_ms, "target": spec.target, "base_url": spec.base_url,
        "tls_warn_days": spec.tls_warn_days, "ca_file": spec.ca_file, "enabled": spec.enabled,
        "source": spec.source, "record": spec.record, "answers": list(spec.answers),
        "resolver": spec.resolver, "count": spec.ping_count,
        "assert": [str(condition) for condition in spec.conditions],
        "steps": [{"method": s.method, "path": s.path, "body": s.body, "auth": s.auth,
                   "form": s.form, "capture": dict(s.capture), "until": s.until,
                   "figure": s.figure, "assert": [str(c) for c in s.expect.conditions],
                   "expect": {"status": list(s.expect.status), "json_field": s.expect.json_field,
                              "json_equals": s.expect.json_equals,
                              "keyword": s.expect.keyword}} for s in spec.steps],
    }
