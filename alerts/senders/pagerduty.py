"""PagerDuty Events API v2 through the official client, its own retries switched off:
the outbox does the backing off, so a sending thread is never held for minutes."""

from __future__ import annotations

import ssl

import pagerduty
from pagerduty.errors import Error as PagerDutyError

from alerts.senders import Delivery, DeliveryError, retry_after_seconds
from core.clock import Clock
from core.config import Settings

TIMEOUT_S = 10


class EventsApiPager:
    """Sends trigger / acknowledge / resolve events; `recipient` is the routing key."""

    def __init__(self, settings: Settings, clock: Clock, timeout_s: int = TIMEOUT_S) -> None:
        self.base_url = settings.pagerduty_events_url
        self.clock = clock
        self.timeout_s = timeout_s
        self.verify = ssl.create_default_context(cafile=settings.pagerduty_ca_bundle)

    def _client(self, routing_key: str) -> pagerduty.EventsApiV2Client:
        client = pagerduty.EventsApiV2Client(routing_key, base_url=self.base_url,
                                             verify=self.verify)
        # The client's defaults block the caller: 429 is retried forever, 5xx up to six
        # times with sleeps of 3..96 s. No status retries (a status mapped to 0 is returned),
        # and for 429 the only way to get zero retries in 7.2 is a one-retry budget with an
        # attempt cap already exceeded (`sum(attempts) > max_http_attempts` with -1).
        client.retry = {429: 1}
        client.max_http_attempts = -1
        client.max_network_attempts = 0
        client.timeout = self.timeout_s
        return client

    def send(self, delivery: Delivery) -> None:
        payload = delivery.payload
        if payload.get("action") not in ("trigger", "acknowledge", "resolve") or \
                not isinstance(payload.get("dedup_key"), str):
            raise DeliveryError("malformed PagerDuty payload: no action or dedup_key",
                                permanent=True)
        action = str(payload["action"])
        properties = {}
        if action == "trigger":
            properties = {
                "payload": {name: payload[name] for name in
                            ("summary", "source", "severity", "timestamp", "component",
                             "group", "class", "custom_details") if name in payload},
                "links": list(payload.get("links", [])),
            }
        with self._client(delivery.recipient) as client:
            try:
                client.send_event(action, dedup_key=str(payload["dedup_key"]), **properties)
            except PagerDutyError as exc:
                raise self._failure(exc) from exc

    def _failure(self, exc: PagerDutyError) -> DeliveryError:
        response = exc.response
        if response is None:  # no answer: refused, reset, timed out
            cause = exc.__cause__
            detail = f"{type(cause).__name__}: {cause}" if cause else str(exc)
            return DeliveryError(f"PagerDuty unreachable: {detail}", permanent=False)
        status = response.status_code
        text = f"PagerDuty answered {status}: {response.text[:200]}"
        if status == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"), self.clock.now())
            return DeliveryError(text, permanent=False, retry_after_s=wait)
        # 2xx with a body that is not the API's (no dedup_key), 408, 5xx: try again later.
        retryable = status >= 500 or status < 300 or status == 408
        return DeliveryError(text, permanent=not retryable)
