"""Poll with a deadline instead of sleeping: the test moves on the moment work is done."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.05,
               message: str = "condition") -> T:
    """Return the first truthy value of `predicate`, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = predicate()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)
        last = predicate()
    assert last is not None
    return last
