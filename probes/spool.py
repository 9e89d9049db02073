"""A remote agent's disk spool: every check is on disk before anyone tries to send it.

Checks are appended as JSON lines to the open segment (`seg-000000000007.open`); each batch
is flushed and fsynced before `append` returns. A segment is sealed (renamed to `.jsonl`)
when it is full, or when the drainer finds nothing older waiting, so fresh checks leave
within one drain pass while a backlog keeps its order. Draining sends the oldest sealed
segment in bounded batches and deletes it only once the server has accepted every batch. A
crash in between sends it again, and the server stores each check id once. Memory holds one
batch at a time, never a backlog.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from core.errors import BellwetherError
from probes.checks import CheckResult

log = logging.getLogger("bellwether.agent")

PREFIX = "seg-"
OPEN, SEALED, REJECTED = ".open", ".jsonl", ".rejected"
LOCK_FILE = "spool.lock"
BATCH_CHECKS = 500
BATCH_BYTES = 256 * 1024  # well under the server's default request body limit (1 MiB)


class SpoolBusy(BellwetherError):
    code = "spool_busy"


class DeliveryError(Exception):
    """A send failed. `permanent` says sending the same batch again cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class CheckSender(Protocol):
    """Delivers one batch of checks (their JSON form); raises DeliveryError when it cannot."""

    def send(self, checks: Sequence[Mapping[str, Any]]) -> int: ...


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What one drain pass did: checks and segments delivered, and why it stopped early.

    >>> DrainResult(sent=12, segments=1).failed
    False
    """

    sent: int = 0
    segments: int = 0
    rejected: int = 0
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def retry_delay(failures: int, base_s: float = 0.5, cap_s: float = 30.0) -> float:
    """Capped exponential backoff after `failures` failed tries in a row: 0.5, 1, 2 … cap_s."""
    if failures <= 0:
        return 0.0
    return min(cap_s, base_s * (1 << min(failures - 1, 30)))


def batches(lines: Iterable[bytes], max_checks: int = BATCH_CHECKS,
            max_bytes: int = BATCH_BYTES) -> Iterator[list[dict[str, Any]]]:
    """Group spooled lines into batches; a torn line (a crash mid-write) is skipped."""
    batch: list[dict[str, Any]] = []
    size = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            batch.append(json.loads(line))
        except ValueError:
            log.warning("skipping a torn line in the spool (%d bytes)", len(line))
            continue
        size += len(line)
        if len(batch) >= max_checks or size >= max_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _segment_name(sequence: int, suffix: str) -> str:
    return f"{PREFIX}{sequence:012d}{suffix}"


def _sequence(path: Path) -> int:
    return int(path.name[len(PREFIX):].split(".", 1)[0])


def _fsync_directory(directory: Path) -> None:
    """Make a create or rename itself durable, not only the file's bytes."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _count_lines(path: Path) -> int:
    with path.open("rb") as lines:
        return sum(1 for line in lines if line.strip())


def _lock(directory: Path) -> int:
    """Hold the spool for this process: two agents appending to one segment would corrupt it."""
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SpoolBusy(f"the spool {directory} is in use by another agent") from None
    return fd


class Spool:
    """Segment files in one directory: append checks, seal segments, drain them in order.

    `Spool(path)` locks the directory and seals what an earlier run left open; the agent's
    scheduler calls `append` (through `SpoolSink`), its sender thread calls `drain`.
    """

    def __init__(self, directory: Path, segment_bytes: int = 1 << 20) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd: int | None = _lock(directory)
        self._mutex = threading.Lock()
        self._sealed: dict[Path, int] = {}  # sealed segment → checks in it, oldest first
        self._open: Path | None = None
        self._open_bytes = 0
        self._open_checks = 0
        self._next = 1
        self._recover()

    def _recover(self) -> None:
        """Seal what an earlier run left open (a crash, a kill): it holds only fsynced lines."""
        for path in sorted(self.directory.glob(f"{PREFIX}*{OPEN}")):
            path.rename(path.with_suffix(SEALED))
        for path in sorted(self.directory.glob(f"{PREFIX}*{SEALED}")):
            self._sealed[path] = _count_lines(path)
        every = [_sequence(path) for path in self.directory.glob(f"{PREFIX}*")]
        self._next = max(every, default=0) + 1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    @property
    def pending_checks(self) -> int:
        """Checks on disk not yet delivered (torn lines included until their segment goes)."""
        with self._mutex:
            return sum(self._sealed.values()) + self._open_checks

    @property
    def sealed_segments(self) -> list[Path]:
        with self._mutex:
            return list(self._sealed)

    def append(self, checks: Sequence[CheckResult]) -> None:
        """Write `checks` to the open segment and fsync; seal the segment once it is full."""
        if not checks:
            return
        data = b"".join(json.dumps(check.to_json(), separators=(",", ":")).encode() + b"\n"
                        for check in checks)
        with self._mutex:
            created = self._open is None
            if self._open is None:
                self._open = self.directory / _segment_name(self._next, OPEN)
                self._next += 1
            with self._open.open("ab") as segment:
                segment.write(data)
                segment.flush()
                os.fsync(segment.fileno())
            if created:
                _fsync_directory(self.directory)
            self._open_bytes += len(data)
            self._open_checks += len(checks)
            if self._open_bytes >= self.segment_bytes:
                self._seal_locked()

    def seal(self) -> None:
        """Close the open segment for appends, so that the next drain sends it."""
        with self._mutex:
            self._seal_locked()

    def _seal_locked(self) -> None:
        if self._open is None:
            return
        sealed = self._open.with_suffix(SEALED)
        self._open.rename(sealed)
        _fsync_directory(self.directory)
        self._sealed[sealed] = self._open_checks
        self._open, self._open_bytes, self._open_checks = None, 0, 0

    def drain(self, sender: CheckSender, keep_going: Callable[[], bool] | None = None,
              max_segments: int | None = None, batch_checks: int = BATCH_CHECKS,
              batch_bytes: int = BATCH_BYTES) -> DrainResult:
        """Send sealed segments, oldest first, until none is left or a send fails.

        1. With nothing sealed left, seal the open segment, so fresh checks leave in this
           pass; while sends fail it stays open and grows, instead of splintering.
        2. Send the oldest segment in batches; delete it once every batch was accepted.
        3. A batch refused for good sets its segment aside (`.rejected`) for a person to read.
        4. Any other failure ends the pass; the segment stays and is sent again in full.
        """
        sent = segments = rejected = 0
        while (keep_going is None or keep_going()) and (max_segments is None
                                                        or segments < max_segments):
            segment = self._oldest()
            if segment is None:
                break
            try:
                sent += self._send_segment(segment, sender, batch_checks, batch_bytes)
            except DeliveryError as exc:
                if not exc.permanent:
                    return DrainResult(sent, segments, rejected, str(exc))
                log.error("the server refused %s for good (%s); set aside", segment.name, exc)
                self._retire(segment, keep_as=REJECTED)
                rejected += 1
                continue
            self._retire(segment)
            segments += 1
        return DrainResult(sent, segments, rejected)

    def _oldest(self) -> Path | None:
        with self._mutex:
            if not self._sealed:
                self._seal_locked()
            return next(iter(self._sealed), None)

    @staticmethod
    def _send_segment(segment: Path, sender: CheckSender, batch_checks: int,
                      batch_bytes: int) -> int:
        sent = 0
        with segment.open("rb") as lines:
            for batch in batches(lines, batch_checks, batch_bytes):
                sender.send(batch)
                sent += len(batch)
        return sent

    def _retire(self, segment: Path, keep_as: str | None = None) -> None:
        """Delete a delivered segment, or rename a refused one so it no longer blocks."""
        if keep_as is None:
            segment.unlink(missing_ok=True)
        else:
            segment.rename(segment.with_suffix(keep_as))
        with self._mutex:
            self._sealed.pop(segment, None)

    def close(self) -> None:
        """Seal the open segment and let go of the directory; a no-op the second time."""
        if self._lock_fd is None:
            return
        self.seal()
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        self._lock_fd = None


class SpoolSink:
    """A `CheckSink` that spools checks; `on_spooled` hears of each batch once it is on disk."""

    def __init__(self, spool: Spool,
                 on_spooled: Callable[[Sequence[CheckResult]], None] | None = None) -> None:
        self.spool = spool
        self.on_spooled = on_spooled

    def put(self, checks: Sequence[CheckResult]) -> None:
        self.spool.append(checks)
        if self.on_spooled is not None:
            self.on_spooled(checks)
