"""A zone's own request metrics, served at GET /metrics in the Prometheus exposition format.

Each zone app gets its own `CollectorRegistry` (never the process-wide default), so zones in
one process never share a series and a fresh app starts from zero. Counting happens in a WSGI
middleware around the whole Flask app, outside every hook and error handler: the code counted
is the status line the client got, injected faults included. /metrics itself is answered
before the app, so faults never break a scrape and scrapes are not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app

from commerce.catalog import service_for_path

METRICS_PATH = "/metrics"
#: The service label of a request outside the catalogue (/healthz, unknown paths).
NO_SERVICE = "none"
#: API latencies from 5 ms to 10 s; explicit edges, so a p95 read from them is not smeared
#: across prometheus_client's default buckets.
DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ZoneMetrics:
    """The registry of one zone and the two metrics in it.

    >>> metrics = ZoneMetrics("europe-west1.gcp", "a")
    >>> metrics.observe("products", 200, seconds=0.012)
    """

    def __init__(self, region: str, zone: str) -> None:
        self.region = region
        self.zone = zone
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "commerce_requests", "Requests a zone answered, by service and status code.",
            ("region", "zone", "service", "code"), registry=self.registry)
        self.duration = Histogram(
            "commerce_request_duration_seconds", "Time a zone took to answer, by service.",
            ("region", "zone", "service"), buckets=DURATION_BUCKETS_S, registry=self.registry)

    def observe(self, service: str, code: int, seconds: float) -> None:
        """Count one answered request and record how long it took."""
        self.requests.labels(self.region, self.zone, service, str(code)).inc()
        self.duration.labels(self.region, self.zone, service).observe(seconds)


class MetricsMiddleware:
    """WSGI middleware: answers GET /metrics, counts and times every other request."""

    def __init__(self, app: WsgiApp, metrics: ZoneMetrics,
                 monotonic: Callable[[], float]) -> None:
        self.app = app
        self.metrics = metrics
        self.monotonic = monotonic
        self.exposition: WsgiApp = make_wsgi_app(metrics.registry)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == METRICS_PATH:
            return self.exposition(environ, start_response)
        service = service_for_path(path)
        statuses: list[str] = []

        def recording_start_response(status: str, headers: list[tuple[str, str]],
                                     exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        started = self.monotonic()
        try:
            return self.app(environ, recording_start_response)
        finally:
            # An exception escaping the app becomes cheroot's 500, so count it as one.
            code = int(statuses[-1].split(" ", 1)[0]) if statuses else 500
            self.metrics.observe(service.name if service else NO_SERVICE, code,
                                 self.monotonic() - started)
