"""A region's router: forwards each request to a healthy zone, retrying on refused connects.

It checks its zones about every second; a connect that is refused also marks a zone down at
once, and since the request never arrived the router sends it to the next zone.
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from commerce.router import zones_to_try

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "content-length"}
CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 150.0
HEALTH_TIMEOUT_S = 0.5

StartResponse = Callable[..., Any]


def _request_headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {key[5:].replace("_", "-").title(): value
               for key, value in environ.items() if key.startswith("HTTP_")}
    for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
        if environ.get(key):
            headers[name] = environ[key]
    headers.pop("Connection", None)
    headers["Connection"] = "close"
    headers["X-Forwarded-For"] = environ.get("REMOTE_ADDR", "")
    return headers


def _json_answer(start_response: StartResponse, status: str, code: str,
                 detail: str) -> list[bytes]:
    body = json.dumps({"error": code, "detail": detail}).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


class RegionRouter:
    """The WSGI app in front of a region's zones, with its own health checks."""

    def __init__(self, region: str, zones: dict[str, int], max_body_bytes: int) -> None:
        self.region = region
        self.zone_ports = zones
        self.max_body_bytes = max_body_bytes
        self.healthy: frozenset[str] = frozenset(zones)
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def zone_names(self) -> Sequence[str]:
        return sorted(self.zone_ports)

    def mark(self, zone: str, healthy: bool) -> None:
        with self._lock:
            self.healthy = self.healthy | {zone} if healthy else self.healthy - {zone}

    def check_health(self, everything: bool = True) -> None:
        """GET /healthz on every zone (or, with `everything` false, only on those marked
        unhealthy, to bring them back); what answers 200 in time is healthy. A zone that
        stops accepting connections is marked at the first refused forward anyway."""
        for zone in self.zone_names():
            if everything or zone not in self.healthy:
                self.mark(zone, _answers_health(self.zone_ports[zone]))

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            return self._own_health(start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > self.max_body_bytes:
            return _json_answer(start_response, "413 Request Entity Too Large",
                                "request_entity_too_large",
                                f"bodies are limited to {self.max_body_bytes} bytes")
        body = environ["wsgi.input"].read(length) if length else b""
        path = environ.get("PATH_INFO", "/")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        headers = _request_headers(environ)
        for zone in zones_to_try(self.zone_names(), self.healthy, next(self._turn)):
            try:
                status, out_headers, out_body = _forward(
                    self.zone_ports[zone], environ["REQUEST_METHOD"], path, headers, body)
            except (ConnectionRefusedError, _ConnectTimeout):
                self.mark(zone, False)
                continue
            except OSError as exc:
                return _json_answer(start_response, "502 Bad Gateway", "bad_gateway",
                                    f"zone {zone} failed mid-request: {exc}")
            start_response(status, out_headers)
            return [out_body]
        return _json_answer(start_response, "503 Service Unavailable", "no_healthy_zone",
                            f"no zone of {self.region} accepts connections")

    def _own_health(self, start_response: StartResponse) -> list[bytes]:
        body = json.dumps({"region": self.region, "healthy_zones": sorted(self.healthy)}).encode()
        status = "200 OK" if self.healthy else "503 Service Unavailable"
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
        return [body]


class _ConnectTimeout(Exception):
    """The zone did not accept the connection in time: the request never left."""


def _connect(port: int, timeout: float) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.connect()
    except TimeoutError:
        conn.close()
        raise _ConnectTimeout() from None
    return conn


def _forward(port: int, method: str, path: str, headers: dict[str, str],
             body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    conn = _connect(port, CONNECT_TIMEOUT_S)
    try:
        if conn.sock is not None:
            conn.sock.settimeout(READ_TIMEOUT_S)
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        out_headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
        out_headers.append(("Content-Length", str(len(payload))))
        return f"{response.status} {response.reason}", out_headers, payload
    finally:
        conn.close()


def _answers_health(port: int) -> bool:
    try:
        conn = _connect(port, HEALTH_TIMEOUT_S)
    except (OSError, _ConnectTimeout):
        return False
    try:
        conn.request("GET", "/healthz", headers={"Connection": "close"})
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()
