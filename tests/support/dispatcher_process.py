"""A dispatcher in a process of its own, for crash tests: it loops `alerts.jobs.dispatch_once`
on the real clock until SIGTERM (or a SIGKILL from the test).

    python -m tests.support.dispatcher_process DATABASE_URL EVENTS_URL CA_BUNDLE [LEASE_S]
"""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import replace
from types import FrameType

from alerts.jobs import dispatch_once
from core.clock import SystemClock
from core.config import Settings
from core.db import make_engine, make_session_factory
from core.scheduler import JobContext


def main(argv: list[str]) -> int:
    database_url, events_url, ca_bundle = argv[:3]
    lease_s = float(argv[3]) if len(argv) > 3 else 60.0
    settings = replace(Settings(), database_url=database_url, pagerduty_events_url=events_url,
                       pagerduty_ca_bundle=ca_bundle, extra={"outbox_lease_s": lease_s})
    engine = make_engine(database_url)
    ctx = JobContext(settings, SystemClock(), make_session_factory(engine))
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    print("dispatcher ready", flush=True)
    try:
        while not stop.is_set():
            attempted = dispatch_once(ctx)
            if attempted:
                print(f"attempted {attempted}", flush=True)
            else:
                stop.wait(0.02)
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
