"""What every Bellwether app says at `/metrics` beside its packages' own metrics: the
exposition (content negotiation, no `_created` series), build and process information,
and web requests by route and status. Each package adds its families to the same registry
(probes.metrics, status.metrics, alerts.metrics, reports.metrics); app.py wires them.

Values read from the database go through `cached()`: a scrape (or two Prometheus servers
scraping the same instance) runs each package's aggregate queries at most once per
`ttl_s`.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map
from werkzeug.wsgi import ClosingIterator

from core.clock import Clock

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

T = TypeVar("T")

#: The series prometheus_client adds to counters, histograms and summaries (the creation
#: time of each child). Its own switch (`disable_created_metrics()`) is process-wide; this
#: filter keeps the choice to Bellwether's registry.
CREATED_SUFFIXES = {"counter": ("_created",), "histogram": ("_created",),
                    "summary": ("_created",), "gaugehistogram": ("_gcreated",)}
#: Where the Flask hook leaves the matched route rule for the middleware.
ROUTE_KEY = "bellwether.route"
#: The route label of a request no rule matched (404, 405, a redirect to the slashed URL).
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# --- exposition -----------------------------------------------------------------------------

class WithoutCreated(Collector):
    """A registry's families without their `_created` samples."""

    def __init__(self, registry: Collector) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            suffixes = CREATED_SUFFIXES.get(family.type, ())
            dropped = {family.name + suffix for suffix in suffixes}
            if not dropped:
                yield family
                continue
            kept = Metric(family.name, family.documentation, family.type, family.unit)
            kept.samples = [s for s in family.samples if s.name not in dropped]
            yield kept


def exposition(registry: Collector, accept: str) -> tuple[bytes, str]:
    """The body and the Content-Type for a scrape that sent `accept`: OpenMetrics when the
    client asks for it, else the Prometheus text format (prometheus_client's
    `choose_encoder`, which also honours `escaping=`)."""
    encode, content_type = choose_encoder(accept)
    return encode(WithoutCreated(registry)), content_type


def metrics_response(registry: Collector) -> Response:
    """`/metrics` for the current request. The Content-Type is set as the encoder names it
    (Flask's `mimetype=` would append a second charset)."""
    body, content_type = exposition(registry, request.headers.get("Accept", ""))
    return Response(body, content_type=content_type)


# --- values read from the database ---------------------------------------------------------

class cached(Generic[T]):  # noqa: N801  (used like a function: cached(read, clock, ttl_s))
    """`read()`'s result, read again only once `ttl_s` seconds of `clock` have passed.
    Concurrent scrapes wait for one read instead of running the queries side by side."""

    def __init__(self, read: Callable[[], T], clock: Clock, ttl_s: float) -> None:
        self.read = read
        self.clock = clock
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._entry: tuple[float, T] | None = None  # when read, what was read

    def __call__(self) -> T:
        with self._lock:
            now = self.clock.monotonic()
            if self._entry is None or now - self._entry[0] >= self.ttl_s:
                self._entry = (now, self.read())
            return self._entry[1]


class FamilyCollector(Collector):
    """Yields the families `build()` makes at each collection (one class for every
    database-backed collector: the packages write only `build`)."""

    def __init__(self, build: Callable[[], Iterable[Metric]]) -> None:
        self.build = build

    def collect(self) -> Iterator[Metric]:
        yield from self.build()


# --- build and process ---------------------------------------------------------------------

def bellwether_version() -> str:
    try:
        return metadata.version("bellwether")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def build_info() -> GaugeMetricFamily:
    family = GaugeMetricFamily("bellwether_build_info",
                               "Always 1; the labels say which Bellwether and Python run",
                               labels=["version", "python"])
    family.add_metric([bellwether_version(), platform.python_version()], 1.0)
    return family


def watch_process(registry: CollectorRegistry) -> None:
    """`bellwether_build_info`, the process_* families (CPU, memory, open files, start
    time; Linux), `python_info` and the garbage collector's python_gc_* families."""
    info = build_info()
    registry.register(FamilyCollector(lambda: [info]))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


# --- web requests --------------------------------------------------------------------------

class RequestMetrics:
    """WSGI middleware counting and timing every answer, the static copy's included, by
    method, route rule (`/api/v1/incidents/<int:incident_id>`, never the raw path, so the
    label set stays bounded) and status code. The time runs until the body is closed."""

    def __init__(self, app: WSGIApplication, registry: CollectorRegistry, clock: Clock,
                 url_map: Map) -> None:
        self.app = app
        self.clock = clock
        self.url_map = url_map
        labels = ["method", "route", "status"]
        self.requests = Counter("bellwether_http_requests", "Web requests answered",
                                labels, registry=registry)
        self.duration = Histogram("bellwether_http_request_duration_seconds",
                                  "Time from a request's arrival until its answer was sent",
                                  labels, buckets=REQUEST_BUCKETS, registry=registry)

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        started = self.clock.monotonic()
        status: list[str] = []

        def recording_start(code: str, headers: Any, exc_info: Any = None) -> Any:
            status[:] = [code.split(" ", 1)[0]]
            return start_response(code, headers, exc_info)

        def finish() -> None:
            self.observe(environ, status[0] if status else "500",
                         self.clock.monotonic() - started)

        try:
            body = self.app(environ, recording_start)
        except BaseException:
            finish()
            raise
        return ClosingIterator(body, [finish])

    def observe(self, environ: WSGIEnvironment, status: str, seconds: float) -> None:
        method = str(environ.get("REQUEST_METHOD", "")).upper()
        labels = (method if method in METHODS else "other", self.route_of(environ), status)
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(max(0.0, seconds))

    def route_of(self, environ: WSGIEnvironment) -> str:
        """The rule Flask matched; for an answer from the static copy (Flask never saw
        it), the rule Flask would have matched."""
        route = environ.get(ROUTE_KEY)
        if isinstance(route, str):
            return route
        try:
            rule, _ = self.url_map.bind_to_environ(environ).match(return_rule=True)
        except HTTPException:
            return UNMATCHED
        return str(rule.rule)


def _note_route(response: Response) -> Response:
    rule = request.url_rule
    request.environ[ROUTE_KEY] = rule.rule if rule is not None else UNMATCHED
    return response


def watch_requests(app: Flask, registry: CollectorRegistry, clock: Clock) -> None:
    """Count and time `app`'s requests; call after every other WSGI wrapper is in place."""
    app.after_request(_note_route)
    app.wsgi_app = RequestMetrics(  # type: ignore[method-assign]
        app.wsgi_app, registry, clock, app.url_map)
