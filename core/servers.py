"""Production WSGI listeners (cheroot) that can stop and start again on the same port.

A zone or region failure is a listener that really stops listening, so clients see a refused
connection, not a simulated error. SO_REUSEPORT lets it bind its port again at once.
"""

from __future__ import annotations

import resource
import socket
import threading
from typing import Any

from cheroot import wsgi


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel says is free now (a stopped listener keeps the one it was given)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def default_keep_alive_limit() -> int:
    """How many kept-alive connections one listener holds open: a quarter of the process's
    file descriptors, at most 1024.

    cheroot keeps 10 and closes every further connection after its answer, so a rush of
    64 clients reconnected all the time: half the hello-world rate and twice its p99
    (docs/benchmarks.md, "Status page under load"). A kept-alive connection costs a
    descriptor and a selector entry, not a thread, and closes after 10 s idle (`timeout`);
    the bound keeps descriptors free for the database and the other listeners.
    """
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(10, min(1024, soft // 4))


class Listener:
    """One WSGI app on one host:port, started and stopped at will, keeping its port."""

    def __init__(self, name: str, app: Any, host: str = "127.0.0.1", port: int = 0,
                 threads: int = 8, keep_alive_limit: int | None = None) -> None:
        self.name = name
        self.app = app
        self.host = host
        self.port = port or free_port(host)
        self.threads = threads
        self.keep_alive_limit = (default_keep_alive_limit() if keep_alive_limit is None
                                 else keep_alive_limit)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Bind and serve in a background thread; a no-op when already running."""
        with self._lock:
            if self._server is not None:
                return
            # A listen backlog of 1024, not cheroot's 5: under a burst of new connections
            # the kernel otherwise drops SYNs and clients wait out a 1 s retransmit. The
            # keep-alive limit is a class attribute cheroot's wsgi.Server does not take.
            server = wsgi.Server((self.host, self.port), self.app, numthreads=self.threads,
                                 server_name=self.name, reuse_port=True, timeout=10,
                                 shutdown_timeout=2, request_queue_size=1024)
            server.keep_alive_conn_limit = self.keep_alive_limit
            server.prepare()
            thread = threading.Thread(target=server.serve, name=f"listener-{self.name}",
                                      daemon=True)
            thread.start()
            self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop listening (new connections are refused); a no-op when already stopped."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server, self._thread = None, None
        if server is not None:
            server.stop()
        if thread is not None:
            thread.join(timeout=5)

    def set_running(self, running: bool) -> None:
        if running:
            self.start()
        else:
            self.stop()


#: How often a process waiting to be stopped looks at its stop event.
STOP_POLL_S = 0.5


def wait_until_stopped(stop: threading.Event) -> None:
    """Wait for a signal handler to set `stop`.

    Never `stop.wait()` without a timeout in the main thread: Linux may deliver SIGTERM to
    any thread, and Python runs the handler only when the main thread runs bytecode, which
    it does not while blocked on a lock. Seen: `bellwether up` ignored SIGTERM for 60 s
    until SIGKILLed (bench/status_page), the main thread asleep in Event.wait."""
    while not stop.wait(STOP_POLL_S):
        pass
