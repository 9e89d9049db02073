"""Helpers shared by the benchmarks: pinning, child processes, CPU time, percentiles.

Every child process a benchmark starts goes through `Child`, which stops it (SIGTERM, then
SIGKILL) when the `with` block ends, whatever happened inside.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
HOST = "127.0.0.1"
#: Clock ticks per second, for utime/stime in /proc/<pid>/stat.
TICKS = os.sysconf("SC_CLK_TCK")


def cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def pin(cpu: int | None, pid: int = 0) -> bool:
    """Pin a process (this one by default) to one CPU; False when it is not possible."""
    if cpu is None or cpu not in os.sched_getaffinity(0):
        return False
    os.sched_setaffinity(pid, {cpu})
    return True


def client_and_server_cpus() -> tuple[int | None, int | None]:
    """The CPU the measured side gets and the CPU the target gets (None: not pinned)."""
    available = cpus()
    if len(available) < 2:
        return None, None
    return available[0], available[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {HOST}:{port} after {timeout:g} s")


def up_env(data_dir: Path, port: int, **settings: str) -> dict[str, str]:
    """The environment for a benchmark's own `bellwether up`: every BELLWETHER_* variable of
    the caller dropped (so defaults are measured), its data dir and port, then `settings`
    (e.g. BELLWETHER_ADMIN_TOKEN=..., BELLWETHER_PROBE_INTERVAL_S="1")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BELLWETHER_")}
    env.update(BELLWETHER_DATA_DIR=str(data_dir), BELLWETHER_HTTP_PORT=str(port), **settings)
    return env


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads, from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)


def cpu_busy_seconds(cpu: int | None) -> float:
    """Seconds CPU `cpu` has been busy (anything but idle and iowait), from /proc/stat."""
    if cpu is None:
        return float("nan")
    for line in Path("/proc/stat").read_text(encoding="ascii").splitlines():
        name, *ticks = line.split()
        if name == f"cpu{cpu}":
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, ticks[:8])
            return (user + nice + system + irq + softirq + steal) / TICKS
    return float("nan")


def peak_rss_mb(pid: int) -> float:
    """VmHWM (the peak resident set) of a running process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen backlog was full."""
    lines = Path("/proc/net/netstat").read_text(encoding="ascii").splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=True))
            return int(table.get("ListenOverflows", 0))
    return 0


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (fraction 0..1)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _pinner(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None:
        return None

    def pin_child() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin_child


def _dump_stacks(pid: int) -> None:
    """Print where a child that ignored SIGTERM is stuck (py-spy, when it is installed)."""
    spy = shutil.which("py-spy") or next(
        (p for p in (str(ROOT / ".venv" / "bin" / "py-spy"), "/tmp/pyspy/bin/py-spy")
         if Path(p).is_file()), None)
    if spy is None:
        return
    dump = subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True, text=True,
                          timeout=60, check=False)
    print(f"pid {pid} did not stop on SIGTERM; its threads:\n{dump.stdout}{dump.stderr}",
          file=sys.stderr)


class Child:
    """A child process that is always stopped: `with Child([...]) as child: ...`."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None,
                 cpu: int | None = None, quiet: bool = True) -> None:
        self.argv, self.env, self.cpu = list(argv), env, cpu
        output = subprocess.DEVNULL if quiet else None
        # Pinned before exec, so every thread the child starts (Go's too) inherits the CPU.
        self.process = subprocess.Popen(self.argv, env=env, cwd=ROOT, stdout=output,
                                        stderr=output, start_new_session=True,
                                        preexec_fn=_pinner(cpu))

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, wait, then SIGKILL; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _dump_stacks(self.pid)
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def target_server(port: int, cpu: int | None, kind: str = "zone", backlog: int = 1024,
                  ) -> Child:
    """The probe target (bench/target_server.py) in its own process, pinned to `cpu`."""
    argv = [PYTHON, str(ROOT / "bench" / "target_server.py"), "--port", str(port),
            "--kind", kind, "--backlog", str(backlog)]
    child = Child(argv, cpu=cpu)
    try:
        wait_for_port(port)
    except TimeoutError:
        child.stop()
        raise
    return child


def sniffio_installed() -> bool:
    return importlib.util.find_spec("sniffio") is not None


@contextlib.contextmanager
def failed_sniffio_import_cached() -> Iterator[None]:
    """Make `import sniffio` fail at once instead of searching sys.path every time.

    httpcore 1.0.9 runs `import sniffio` in `current_async_library()` for every lock,
    semaphore and event it sets up (several per request); anyio ≥ 4.11 no longer installs
    sniffio, and a failed import is not cached, so each one walks sys.path. A `None` in
    sys.modules is Python's cached failure: what encode/httpcore#1103 does by importing
    once, and close to what installing sniffio gives.
    """
    if sniffio_installed():
        yield
        return
    sys.modules["sniffio"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        del sys.modules["sniffio"]


def exit_on_sigterm() -> None:
    """Turn SIGTERM (and SIGINT, which a background job may have ignored) into SystemExit, so
    that `finally` blocks and `with` exits run: children stopped, databases dropped."""

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)


def say(line: str = "") -> None:
    print(line, flush=True)


def python_version() -> str:
    return sys.version.split()[0]
