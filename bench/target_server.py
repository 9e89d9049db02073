"""A probe target for the benchmarks, in its own process: one zone of the commerce set.

`--kind zone` serves a real zone app (`commerce.zone.create_zone_app`, the Flask app of the
embedded commerce set) on the cheroot server the fleet's `Listener` builds; probes hit its
unauthenticated `GET /healthz`, which answers 200 with a small JSON body and touches no
database. `--kind tiny` serves a bare WSGI app (fixed 15-byte JSON) on the same server, for a
cheaper target. The listen backlog is 1024 unless `--backlog` says otherwise: with cheroot's
default of 5 (what the fleet's listeners get) concurrent new connections overflow it, the
kernel drops SYNs and clients wait 1 s for the retransmit, so the target, not the client,
sets the pace. Runs until SIGTERM.

    .venv/bin/python bench/target_server.py --port 18081 [--cpu 1] [--kind zone|tiny]
        [--backlog 1024]
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from cheroot import wsgi
from sqlalchemy import create_engine

from commerce.faults import FaultView
from commerce.zone import ZoneContext, create_zone_app
from core.clock import SystemClock
from core.db import make_session_factory

HOST = "127.0.0.1"
TINY_BODY = b'{"status":"ok"}'


def tiny_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(TINY_BODY)))])
    return [TINY_BODY]


def build_app(kind: str) -> Any:
    if kind == "tiny":
        return tiny_app
    # /healthz never opens a session; an in-memory engine stands in for the store.
    factory = make_session_factory(create_engine("sqlite://"))
    faults = FaultView()
    ctx = ZoneContext(region="europe-west1.gcp", zone="a", session_factory=factory,
                      clock=SystemClock(), faults=lambda: faults)
    return create_zone_app(ctx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("--kind", choices=("zone", "tiny"), default="zone")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--backlog", type=int, default=1024,
                        help="listen backlog; cheroot's default, which the fleet keeps, is 5")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    # The server core.servers.Listener builds, with the same arguments, plus the backlog.
    server = wsgi.Server((HOST, args.port), build_app(args.kind), numthreads=args.threads,
                         server_name=f"bench-{args.kind}", reuse_port=True, timeout=10,
                         shutdown_timeout=2, request_queue_size=args.backlog)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.prepare()
    thread = threading.Thread(target=server.serve, name="bench-target", daemon=True)
    thread.start()
    stop.wait()
    server.stop()
    thread.join(timeout=5)


if __name__ == "__main__":
    main()
