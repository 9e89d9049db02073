"""A real Prometheus on a free loopback port, scraping the given targets every second.

The Debian `prometheus` binary is started by the test itself (its service never runs in a
container). Under CI=true a missing binary fails the test; elsewhere it skips, saying how to
install it (`./dev test` does).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from core.servers import free_port
from tests.support.waiting import wait_until

SCRAPE_JOB = "commerce"


def prometheus_binary() -> str:
    """The path of `prometheus`; fails under CI=true and skips elsewhere when it is missing."""
    path = shutil.which("prometheus")
    if path is not None:
        return path
    reason = ("the prometheus binary is not installed (apt-get install prometheus; "
              "./dev test installs it)")
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI=true that fails the run", pytrace=False)
    pytest.skip(reason)


def write_config(path: Path, targets: Sequence[str]) -> None:
    """prometheus.yml scraping `targets` (host:port) every second; JSON is valid YAML."""
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "scrape_configs": [{"job_name": SCRAPE_JOB, "scrape_timeout": "1s",
                                  "static_configs": [{"targets": list(targets)}]}]}
    path.write_text(json.dumps(config, indent=2))


class PrometheusServer:
    """One Prometheus process with its own config, data directory and log in `work_dir`."""

    def __init__(self, binary: str, work_dir: Path, targets: Sequence[str]) -> None:
        self.binary = binary
        self.work_dir = work_dir
        self.targets = tuple(targets)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait for /-/ready."""
        config = self.work_dir / "prometheus.yml"
        write_config(config, self.targets)
        self._log = (self.work_dir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={config}",
             f"--storage.tsdb.path={self.work_dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_until(self._ready, timeout=timeout, message=f"Prometheus at {self.url} to be ready")

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{self.log()}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return (self.work_dir / "prometheus.log").read_text(errors="replace")[-4000:]

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait (it exits at once); kill only if it does not."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's vector result, read with plain HTTP."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        response.raise_for_status()
        return list(response.json()["data"]["result"])

    def wait_for_scrapes_after(self, moment: float, timeout: float = 15.0) -> None:
        """Wait until every target was scraped after `moment` (Unix seconds): every count a
        target made before then is in Prometheus."""
        promql = f'count(timestamp(up{{job="{SCRAPE_JOB}"}}) > {moment:.3f})'

        def all_scraped() -> bool:
            result = self.query(promql)
            return bool(result) and int(result[0]["value"][1]) == len(self.targets)

        wait_until(all_scraped, timeout=timeout, interval=0.1,
                   message=f"a scrape of all {len(self.targets)} targets after {moment:.3f}")


@contextmanager
def running_prometheus(work_dir: Path, targets: Sequence[str]) -> Iterator[PrometheusServer]:
    """A started Prometheus scraping `targets`, stopped on exit."""
    server = PrometheusServer(prometheus_binary(), work_dir, targets)
    try:
        server.start()
        yield server
    finally:
        server.stop()
