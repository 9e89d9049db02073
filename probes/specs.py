"""Probe definitions as values: what to call, how often, and what counts as passing.

A probe names its component and region, an interval and timeout, and either HTTP steps
(run in order, each with assertions, later steps may use values captured by earlier ones)
or a TCP-connect / TLS-expiry target. The default catalogue exercises every commerce
service in every region, plus one shop transaction per region; operators add their own in
a config file (config as code) or through the admin API, in the same shape.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import BellwetherError

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,119}$")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


class InvalidProbe(BellwetherError):
    code = "invalid_probe"


class UnknownRegion(InvalidProbe):
    code = "unknown_region"


class ProbeKind(enum.StrEnum):
    HTTP = "http"
    TCP = "tcp"
    TLS = "tls"


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

    def describe(self) -> str:
        parts = [f"status in {self.status}"]
        if self.json_field:
            parts.append(f"JSON field {self.json_field}"
                         + ("" if self.json_equals is None else f" == {self.json_equals!r}"))
        if self.keyword:
            parts.append(f"body contains {self.keyword!r}")
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


def _assertion_from(raw: Any, where: str) -> Assertion:
    if raw is None:
        return Assertion()
    if not isinstance(raw, Mapping):
        raise InvalidProbe(f"{where}: 'expect' must be an object")
    status = raw.get("status", [200])
    status = [status] if isinstance(status, int) else status
    if not isinstance(status, list) or not all(isinstance(s, int) and 100 <= s < 600
                                                 for s in status) or not status:
        raise InvalidProbe(f"{where}: 'expect.status' must be HTTP status codes")
    return Assertion(status=tuple(status), json_field=_optional_text(raw, "json_field", where),
                     json_equals=raw.get("json_equals"),
                     keyword=_optional_text(raw, "keyword", where))


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
                expect=_assertion_from(raw.get("expect"), where), until=bool(raw.get("until")),
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
        raise InvalidProbe(f"{where}: 'kind' must be http, tcp or tls") from None
    base_url, target = raw.get("base_url"), raw.get("target")
    if region not in set(regions) and not (base_url or target):
        raise UnknownRegion(f"{where}: unknown region {region!r} (and no base_url or target)")
    steps = raw.get("steps", [])
    if kind is ProbeKind.HTTP and (not isinstance(steps, list) or not steps):
        raise InvalidProbe(f"{where}: an http probe needs a list of 'steps'")
    if kind is not ProbeKind.HTTP and not (isinstance(target, str) and ":" in target):
        raise InvalidProbe(f"{where}: a {kind} probe needs 'target' as host:port")
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
        enabled=bool(raw.get("enabled", True)), source=source)


def probe_to_json(spec: ProbeSpec) -> dict[str, Any]:
    """The probe in the shape `parse_probe` reads (config files, API answers, storage)."""
    return {
        "name": spec.name, "component": spec.component, "region": spec.region,
        "kind": spec.kind.value, "interval_s": spec.interval_s, "timeout_s": spec.timeout_s,
        "degraded_ms": spec.degraded_ms, "target": spec.target, "base_url": spec.base_url,
        "tls_warn_days": spec.tls_warn_days, "ca_file": spec.ca_file, "enabled": spec.enabled,
        "source": spec.source,
        "steps": [{"method": s.method, "path": s.path, "body": s.body, "auth": s.auth,
                   "form": s.form, "capture": dict(s.capture), "until": s.until,
                   "figure": s.figure,
                   "expect": {"status": list(s.expect.status), "json_field": s.expect.json_field,
                              "json_equals": s.expect.json_equals,
                              "keyword": s.expect.keyword}} for s in spec.steps],
    }
