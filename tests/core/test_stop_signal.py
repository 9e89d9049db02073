"""A process stops on SIGTERM whichever of its threads the kernel hands the signal to."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import signal, sys, threading, time
    from core.servers import wait_until_stopped

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def signal_this_thread() -> None:
        # As Linux may do with a process-directed SIGTERM: delivered to another thread,
        # once the main thread is waiting.
        time.sleep(0.5)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    threading.Thread(target=signal_this_thread).start()
    {wait}
    print("stopped")
""")


def run(wait: str, timeout: float = 10) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run([sys.executable, "-c", CHILD.format(wait=wait)], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None


def test_a_sigterm_caught_by_another_thread_stops_the_wait() -> None:
    done = run("wait_until_stopped(stop)")
    assert done is not None, "the main thread never ran the handler"
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped"


def test_a_bare_event_wait_is_what_hung() -> None:
    """The way it was (`stop.wait()`) never wakes: the handler waits for the main thread."""
    assert run("stop.wait()", timeout=4) is None
