"""Bellwether as a real process: `bellwether up` with its own data directory and database."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from core.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


class BellwetherProcess:
    """`python app.py up` (or another long-running command) in a child process; its output
    is read line by line as it comes."""

    def __init__(self, data_dir: Path, database_url: str, admin_token: str,
                 extra_env: dict[str, str] | None = None, port: int | None = None,
                 args: tuple[str, ...] = ("up",), ready: str = r"Press Ctrl\+C") -> None:
        self.args, self.ready = args, re.compile(ready)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_token = admin_token
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "BELLWETHER_DATA_DIR": str(data_dir),
                    "BELLWETHER_DATABASE_URL": database_url,
                    "BELLWETHER_HTTP_PORT": str(self.port),
                    "BELLWETHER_ADMIN_TOKEN": admin_token,
                    **(extra_env or {})}
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60.0) -> list[str]:
        """Start and wait until it says it is serving; the lines printed until then."""
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), *self.args], cwd=ROOT,
                                     env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()
        return self.wait_for_line(self.ready, timeout)

    def _pump(self, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, pattern: re.Pattern[str], timeout: float) -> list[str]:
        seen: list[str] = []
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern.pattern!r} in {timeout} s; "
                                     f"output so far: {self.lines}") from None
            if line is None:
                raise AssertionError(f"process ended; output: {self.lines}")
            self.lines.append(line)
            seen.append(line)
            if pattern.search(line):
                return seen

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send `sig` and wait; the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        while (line := self._drain()) is not None:
            self.lines.append(line)
        return code

    def _drain(self) -> str | None:
        try:
            return self._queue.get(timeout=2)
        except queue.Empty:
            return None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
