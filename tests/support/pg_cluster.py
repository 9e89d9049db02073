"""A throwaway PostgreSQL cluster of the test's own (initdb in a temporary folder, its own
port), so a test may stop and restart the server without touching the shared one."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from core.servers import free_port

BIN = Path("/usr/lib/postgresql")


def _bin(name: str) -> str:
    found = sorted(BIN.glob(f"*/bin/{name}"))
    if not found:
        message = f"PostgreSQL's {name} is not installed (Debian package postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return str(found[-1])


class PgCluster:
    """initdb, start, stop and start again; `url` reaches its `postgres` database."""

    def __init__(self) -> None:
        # Under /tmp itself: pytest's own temporary folders are closed to other users.
        self.directory = Path(tempfile.mkdtemp(prefix="bellwether-pg-", dir="/tmp"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        shutil.chown(self.directory, "postgres", "postgres")
        self._as_postgres([_bin("initdb"), "-D", str(self.data), "-U", "postgres",
                           "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])

    def _as_postgres(self, command: list[str]) -> None:
        quoted = " ".join(f"'{part}'" for part in command)
        done = subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", quoted],
                              capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stderr.strip()[:500]}")

    def start(self) -> None:
        self._as_postgres([_bin("pg_ctl"), "-D", str(self.data), "-l",
                           str(self.directory / "server.log"), "-w", "-o",
                           f"-h 127.0.0.1 -p {self.port} -k {self.directory}", "start"])

    def stop(self) -> None:
        self._as_postgres([_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
