"""A local stand-in for the PagerDuty Events API v2 over TLS (a self-signed certificate the
test makes; the client trusts it through `pagerduty_ca_bundle`).

POST /v2/enqueue answers 202 `{"status": "success", "message": "Event processed",
"dedup_key": ...}` as PagerDuty does. Every request is recorded; `events` are those it
accepted. It can be scripted to answer 5xx, 429 with Retry-After or 400, to hold requests
after a number of accepted events, or to be down (`stop()`, then `start()` on the same port).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.support.webhooks import LoopbackServer, answer, read_body


@dataclass(frozen=True)
class Scripted:
    status: int
    retry_after: str | None = None


class EventsApiStandIn(LoopbackServer):
    """The Events API on https://127.0.0.1:<port>."""

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__(cert, key)
        self.requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.held = 0
        self._script: deque[Scripted] = deque()
        self._hold_after: int | None = None
        self._released = threading.Event()
        self._lock = threading.Lock()

    def answer_next(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next `times` requests with `status` instead of accepting them."""
        with self._lock:
            self._script.extend([Scripted(status, retry_after)] * times)

    def hold_after(self, accepted: int) -> None:
        """Once `accepted` events were accepted, hold every further request unanswered until
        `release()`, which then hangs up on them (they are not accepted)."""
        self._hold_after = accepted

    def release(self) -> None:
        self._hold_after = None
        self._released.set()

    def accepted(self) -> list[tuple[str, str]]:
        """(dedup_key, event_action) of every accepted event, in arrival order."""
        with self._lock:
            return [(e.get("dedup_key", ""), e["event_action"]) for e in self.events]

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        event = json.loads(read_body(handler))
        with self._lock:
            self.requests.append(event)
            hold = self._hold_after is not None and len(self.events) >= self._hold_after
            self.held += hold
            scripted = None if hold or not self._script else self._script.popleft()
        if hold:
            self._released.wait(timeout=60)
            handler.close_connection = True
            return
        if handler.path != "/v2/enqueue":
            answer(handler, 404, {"status": "not found"})
        elif scripted is not None:
            headers = {"Retry-After": scripted.retry_after} if scripted.retry_after else {}
            answer(handler, scripted.status, {"status": "scripted", "message": "scripted"},
                   headers)
        else:
            self._accept(handler, event)

    def _accept(self, handler: BaseHTTPRequestHandler, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.append(event)
            key = event.get("dedup_key") or f"generated-{len(self.events)}"
        answer(handler, 202, {"status": "success", "message": "Event processed",
                              "dedup_key": key})

    def stop(self) -> None:
        self._released.set()
        super().stop()
        self._released.clear()
