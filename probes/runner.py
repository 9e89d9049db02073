"""The async edge that runs one check: HTTP steps, TCP connect, TLS expiry, a DNS query
(probes/dns_check.py) or an ICMP echo (probes/icmp_check.py), timed and judged.

Each check opens new connections (no keep-alive), so connect and TLS time are really
measured, as blackbox_exporter does; httpx's pooled client also slows down as concurrency
grows (encode/httpx#3215). A location's network is its client's transport: a `partition`
fault cuts it off from a region there, before any byte is sent.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from core.clock import Clock
from probes import dns_check, icmp_check
from probes.assertions import is_missing, json_lookup, judge
from probes.checks import CheckResult
from probes.conditions import Observation, failed_condition
from probes.http1 import PlainHttpTransport
from probes.network import asyncio_transport
from probes.specs import ProbeKind, ProbeSpec, Step, resolver_address

REGION_EXTENSION = "bellwether_region"
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class CheckFailed(Exception):
    """A step failed: why, and the HTTP status when there was one."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class Credentials:
    client_id: str
    client_secret: str
    project_key: str


@dataclass
class RunContext:
    """What a location knows: where each region is, its credentials, its cached tokens,
    and the DNS resolver it asks (None: the system's)."""

    location: str
    base_url_for: Callable[[str], str | None]
    credentials_for: Callable[[str], Credentials | None]
    clock: Clock
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    resolver: tuple[str, int] | None = None


class PartitionTransport(httpx.AsyncBaseTransport):
    """A location's network: refuses requests to a region that a partition cuts it off from."""

    def __init__(self, inner: httpx.AsyncBaseTransport, location: str,
                 is_cut: Callable[[str, str], bool]) -> None:
        self.inner, self.location, self.is_cut = inner, location, is_cut

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        region = request.extensions.get(REGION_EXTENSION)
        if region and self.is_cut(self.location, str(region)):
            raise httpx.ConnectError(f"{self.location} cannot reach {region} (partition)",
                                     request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def make_client(location: str, is_cut: Callable[[str, str], bool],
                concurrency: int = 32) -> httpx.AsyncClient:
    """A location's HTTP client: a new connection per request, partitions applied; plain
    http by `PlainHttpTransport` (probes/http1.py says why), https by httpcore on plain
    asyncio sockets (probes/network.py)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    plain = PlainHttpTransport(asyncio_transport(limits), concurrency)
    transport = PartitionTransport(plain, location, is_cut)
    return httpx.AsyncClient(transport=transport, follow_redirects=False,
                             headers={"Connection": "close",
                                      "User-Agent": "bellwether-probe/0.1"})


class _Timings:
    """Collects httpx trace events into connect / TLS / first-byte milliseconds."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {"connect_ms": 0.0, "tls_ms": 0.0}
        self.first_byte_ms: float | None = None
        self._started: dict[str, float] = {}
        self._sent_at = 0.0

    async def trace(self, name: str, _info: Mapping[str, Any]) -> None:
        now = time.perf_counter()  # a duration inside one check, not a wall-clock reading
        event, _, phase = name.rpartition(".")
        if phase == "started":
            self._started[event] = now
            if event == "http11.send_request_headers":
                self._sent_at = now
            return
        began = self._started.pop(event, now)
        if event == "connection.connect_tcp":
            self.totals["connect_ms"] += (now - began) * 1000
        elif event == "connection.start_tls":
            self.totals["tls_ms"] += (now - began) * 1000
        elif event == "http11.receive_response_headers" and self.first_byte_ms is None:
            self.first_byte_ms = (now - self._sent_at) * 1000

    def as_dict(self, total_ms: float) -> dict[str, float]:
        result = {k: round(v, 3) for k, v in self.totals.items()}
        if self.first_byte_ms is not None:
            result["first_byte_ms"] = round(self.first_byte_ms, 3)
        result["total_ms"] = round(total_ms, 3)
        return result


def fill(value: Any, variables: Mapping[str, str]) -> Any:
    """Replace `{name}` placeholders in strings, lists and objects with captured values."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: variables.get(m[1], m[0]), value)
    if isinstance(value, list):
        return [fill(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, variables) for key, item in value.items()}
    return value


async def run_check(spec: ProbeSpec, ctx: RunContext, client: httpx.AsyncClient,
                    intended_at: datetime) -> CheckResult:
    """Run `spec` once from `ctx.location`; never raises for a failing target."""
    started_at = ctx.clock.now()
    began = ctx.clock.monotonic()
    timings = _Timings()
    figures: dict[str, float] = {}
    status: int | None = None
    error: str | None = None
    warning: str | None = None
    measured: float | None = None  # ICMP: the average round trip is the check's latency
    try:
        async with asyncio.timeout(spec.timeout_s):
            if spec.kind is ProbeKind.HTTP:
                status = await _run_steps(spec, ctx, client, timings, figures)
            elif spec.kind is ProbeKind.DNS:
                await _run_dns(spec, ctx, timings, figures)
            elif spec.kind is ProbeKind.ICMP:
                measured = await _run_icmp(spec, timings, figures)
            else:
                warning = await _run_socket(spec, ctx.clock, timings, figures)
    except CheckFailed as failed:
        error, status = failed.reason, failed.status or status
    except TimeoutError:
        error = f"timed out after {spec.timeout_s:g} s"
    except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    total_ms = (ctx.clock.monotonic() - began) * 1000
    latency_ms = total_ms if measured is None else measured
    ok = error is None
    return CheckResult(
        probe=spec.name, component=spec.component, region=spec.region, location=ctx.location,
        intended_at=intended_at, started_at=started_at, ok=ok, latency_ms=latency_ms,
        interval_s=spec.interval_s, degraded=ok and latency_ms > spec.degraded_ms,
        status_code=status, error=error, warning=warning,
        timings=timings.as_dict(total_ms), figures=figures)


async def _run_steps(spec: ProbeSpec, ctx: RunContext, client: httpx.AsyncClient,
                     timings: _Timings, figures: dict[str, float]) -> int | None:
    base_url = spec.base_url or ctx.base_url_for(spec.region)
    if base_url is None:
        raise CheckFailed(f"no endpoint known for region {spec.region}")
    credentials = ctx.credentials_for(spec.region)
    variables = {"project": credentials.project_key if credentials else ""}
    status = None
    for step in spec.steps:
        began = ctx.clock.monotonic()
        status, document = await _run_step(step, spec, ctx, client, base_url, variables, timings)
        for name, path in step.capture.items():
            value = json_lookup(document, path)
            if is_missing(value):
                raise CheckFailed(f"nothing at {path!r} to capture as {name}", status)
            variables[name] = str(value)
        if step.figure:
            figures[step.figure] = round((ctx.clock.monotonic() - began) * 1000, 3)
    return status


async def _run_step(step: Step, spec: ProbeSpec, ctx: RunContext, client: httpx.AsyncClient,
                    base_url: str, variables: dict[str, str], timings: _Timings,
                    ) -> tuple[int, Any]:
    pause = 0.02
    while True:
        began = ctx.clock.monotonic()
        response = await _send(step, spec, ctx, client, base_url, variables, timings)
        if response.status_code == 401 and step.auth == "token":
            ctx.tokens.pop(spec.region, None)
            response = await _send(step, spec, ctx, client, base_url, variables, timings)
        document = _json_or_none(response)
        reason = judge(step.expect, response.status_code, response.text, document,
                       response.headers, (ctx.clock.monotonic() - began) * 1000)
        if reason is None:
            return response.status_code, document
        if not step.until or response.status_code >= 400:
            raise CheckFailed(f"{step.method} {fill(step.path, variables)}: {reason}",
                              response.status_code)
        await asyncio.sleep(pause)  # eventual consistency: ask again until the timeout
        pause = min(pause * 2, 0.25)


def _json_or_none(response: httpx.Response) -> Any:
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        return response.json()
    except ValueError:
        return None


async def _send(step: Step, spec: ProbeSpec, ctx: RunContext, client: httpx.AsyncClient,
                base_url: str, variables: dict[str, str], timings: _Timings) -> httpx.Response:
    headers: dict[str, str] = {}
    auth: tuple[str, str] | None = None
    credentials = ctx.credentials_for(spec.region)
    if step.auth == "token":
        headers["Authorization"] = "Bearer " + await _token(spec, ctx, client, base_url, timings)
    elif step.auth == "client" and credentials is not None:
        auth = (credentials.client_id, credentials.client_secret)
    extensions = {"trace": timings.trace, REGION_EXTENSION: spec.region}
    return await client.request(
        step.method, base_url.rstrip("/") + fill(step.path, variables), headers=headers,
        auth=auth, json=fill(dict(step.body), variables) if step.body is not None else None,
        data=dict(step.form) if step.form else None, extensions=extensions,
        # The probe's timeout bounds each operation too (httpx's default cut reads at 5 s,
        # so a probe allowed 15 s failed a 6 s answer as a read timeout).
        timeout=spec.timeout_s)


async def _token(spec: ProbeSpec, ctx: RunContext, client: httpx.AsyncClient, base_url: str,
                 timings: _Timings) -> str:
    """A bearer token for the region, cached per location until shortly before it expires."""
    cached = ctx.tokens.get(spec.region)
    if cached is not None and cached[1] > ctx.clock.monotonic():
        return cached[0]
    credentials = ctx.credentials_for(spec.region)
    if credentials is None:
        raise CheckFailed(f"no probe credentials for region {spec.region}")
    response = await client.post(
        base_url.rstrip("/") + "/oauth/token", data={"grant_type": "client_credentials"},
        auth=(credentials.client_id, credentials.client_secret),
        extensions={"trace": timings.trace, REGION_EXTENSION: spec.region})
    document = _json_or_none(response)
    if response.status_code != 200 or not isinstance(document, dict):
        raise CheckFailed(f"token: HTTP {response.status_code}", response.status_code)
    token = str(document["access_token"])
    lifetime = float(document.get("expires_in", 300))
    ctx.tokens[spec.region] = (token, ctx.clock.monotonic() + lifetime * 0.8)
    return token


async def _run_socket(spec: ProbeSpec, clock: Clock, timings: _Timings,
                      figures: dict[str, float]) -> str | None:
    """TCP connect, or a TLS handshake whose certificate's days left become a figure."""
    target = spec.target or ""
    host, _, port = target.rpartition(":")
    began = clock.monotonic()
    context = (ssl.create_default_context(cafile=spec.ca_file)
               if spec.kind is ProbeKind.TLS else None)
    reader, writer = await asyncio.open_connection(host, int(port), ssl=context,
                                                   server_hostname=host if context else None)
    timings.totals["connect_ms"] = round((clock.monotonic() - began) * 1000, 3)
    try:
        _assert(spec, Observation({"response_time": timings.totals["connect_ms"]}))
        if context is None:
            return None
        cert = writer.get_extra_info("peercert") or {}
        expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), UTC)
        days_left = (expires - clock.now()).total_seconds() / 86400
        figures["tls_days_left"] = round(days_left, 2)
        figures["tls_not_after"] = expires.timestamp()  # which certificate (probes/tls.py)
        if days_left < spec.tls_warn_days:
            return f"the certificate of {target} expires in {days_left:.1f} days"
        return None
    finally:
        writer.close()
        await writer.wait_closed()
        del reader


def _assert(spec: ProbeSpec, seen: Observation) -> None:
    """The probe's own conditions (non-HTTP kinds): a failing one fails the check."""
    reason = failed_condition(spec.conditions, seen)
    if reason is not None:
        raise CheckFailed(f"{spec.target}: {reason}")


def _resolvers(spec: ProbeSpec, ctx: RunContext) -> list[tuple[str, int]]:
    """The probe's resolver, else the location's, else the system's."""
    if spec.resolver is not None:
        return [resolver_address(spec.resolver)]
    if ctx.resolver is not None:
        return [ctx.resolver]
    return dns_check.system_resolvers()


async def _run_dns(spec: ProbeSpec, ctx: RunContext, timings: _Timings,
                   figures: dict[str, float]) -> None:
    """One DNS query, judged by the probe's expectations and conditions."""
    try:
        answer = await dns_check.query(spec, _resolvers(spec, ctx), ctx.clock, spec.timeout_s)
    except dns_check.DnsFailed as exc:
        raise CheckFailed(f"{spec.record} {spec.target}: {exc}") from None
    timings.totals = {"dns_ms": round(answer.response_ms, 3)}
    figures["answers"] = float(len(answer.answers))
    reason = dns_check.failure(spec, answer)
    if reason is not None:
        raise CheckFailed(reason)
    _assert(spec, answer.observation())


async def _run_icmp(spec: ProbeSpec, timings: _Timings, figures: dict[str, float]) -> float:
    """Echo requests; at least one reply (unless conditions ask more). The average round
    trip is the latency."""
    try:
        result = await icmp_check.ping(spec.target or "", spec.ping_count, spec.timeout_s)
    except icmp_check.IcmpFailed as exc:
        raise CheckFailed(f"ping {spec.target}: {exc}") from None
    timings.totals = result.timings()
    figures.update(result.figures())
    if result.average_ms is None:
        raise CheckFailed(f"ping {spec.target}: no reply to {result.sent} echo requests")
    _assert(spec, result.observation())
    return result.average_ms
