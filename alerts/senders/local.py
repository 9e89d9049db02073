"""Senders that never leave the process: for switched-off channels and for tests."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from alerts.senders import Delivery, DeliveryError


class NullSender:
    """Accepts everything and sends nothing."""

    def send(self, delivery: Delivery) -> None:
        return None


class OffSender:
    """A channel that is not configured: every delivery fails for good, saying why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def send(self, delivery: Delivery) -> None:
        raise DeliveryError(self.reason, permanent=True)


class RecordingSender:
    """Records what it was asked to send; `failures` are raised, one per send, first.

    >>> sender = RecordingSender([DeliveryError("503", permanent=False)])
    """

    def __init__(self, failures: Iterable[DeliveryError | None] = ()) -> None:
        self.sent: list[Delivery] = []
        self.attempts: list[Delivery] = []
        self._failures = list(failures)
        self._lock = threading.Lock()

    def send(self, delivery: Delivery) -> None:
        with self._lock:
            self.attempts.append(delivery)
            failure = self._failures.pop(0) if self._failures else None
            if failure is not None:
                raise failure
            self.sent.append(delivery)
