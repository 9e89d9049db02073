"""The agent's disk spool: durable appends, rotation, drains that delete only what was accepted."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from probes.checks import CheckResult, check_from_json
from probes.spool import (
    DeliveryError,
    Spool,
    SpoolBusy,
    SpoolSink,
    batches,
    retry_delay,
)

START = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def make_check(n: int) -> CheckResult:
    at = START + timedelta(seconds=n)
    return CheckResult(probe="products.eu", component="products", region="europe-west1.gcp",
                       location="office", intended_at=at, started_at=at, ok=True,
                       latency_ms=12.5, interval_s=1, status_code=200, id=f"{n:032x}")


def make_checks(count: int, first: int = 0) -> list[CheckResult]:
    return [make_check(n) for n in range(first, first + count)]


class RecordingSender:
    """Accepts every batch and remembers it, in order."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def send(self, checks: Sequence[Mapping[str, Any]]) -> int:
        self.batches.append([str(check["id"]) for check in checks])
        return len(checks)

    @property
    def ids(self) -> list[str]:
        return [check_id for batch in self.batches for check_id in batch]


class FailingSender(RecordingSender):
    """Accepts `accept` batches, then fails every send."""

    def __init__(self, accept: int = 0, permanent: bool = False) -> None:
        super().__init__()
        self.accept, self.permanent = accept, permanent

    def send(self, checks: Sequence[Mapping[str, Any]]) -> int:
        if len(self.batches) >= self.accept:
            raise DeliveryError("connection refused", permanent=self.permanent)
        return super().send(checks)


def ids(checks: Sequence[CheckResult]) -> list[str]:
    return [check.id for check in checks]


def test_it_appends_checks_to_the_open_segment_as_json_lines(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(make_checks(3))
        assert spool.pending_checks == 3
        assert spool.sealed_segments == []
        (segment,) = tmp_path.glob("seg-*.open")
        lines = segment.read_text(encoding="utf-8").splitlines()
        assert [check_from_json(json.loads(line)) for line in lines] == make_checks(3)


def test_it_rotates_a_full_segment_and_keeps_the_order(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=1500) as spool:
        for check in make_checks(12):
            spool.append([check])
        sealed = spool.sealed_segments
        assert len(sealed) >= 2
        assert sealed == sorted(sealed)
        sender = RecordingSender()
        result = spool.drain(sender)
    assert result.sent == 12
    assert result.segments == len(sealed) + 1  # the open one is sealed once nothing is left
    assert sender.ids == ids(make_checks(12))


def test_it_deletes_a_segment_only_after_the_server_accepted_it(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(make_checks(4))
        result = spool.drain(RecordingSender())
        assert (result.sent, result.segments, result.failed) == (4, 1, False)
        assert spool.pending_checks == 0
    assert list(tmp_path.glob("seg-*")) == []


def test_a_failed_send_keeps_every_check(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=1000) as spool:
        spool.append(make_checks(10))
        before = sorted(path.name for path in tmp_path.glob("seg-*"))
        result = spool.drain(FailingSender())
        assert result.failed
        assert result.error == "connection refused"
        assert spool.pending_checks == 10
        assert sorted(path.name for path in tmp_path.glob("seg-*")) == before
        sender = RecordingSender()
        assert spool.drain(sender).sent == 10
    assert sender.ids == ids(make_checks(10))


def test_a_failure_midway_sends_the_whole_segment_again(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(make_checks(12))
        spool.seal()
        first = FailingSender(accept=1)
        result = spool.drain(first, batch_checks=5)
        assert result.failed
        assert result.sent == 0  # no segment was complete
        assert spool.pending_checks == 12
        again = RecordingSender()
        spool.drain(again, batch_checks=5)
    assert first.ids == ids(make_checks(5))
    assert again.ids == ids(make_checks(12))  # the server stores the first five once


def test_it_sends_in_batches_bounded_by_count_and_by_bytes(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(make_checks(12))
        by_count = RecordingSender()
        spool.drain(by_count, batch_checks=5)
        spool.append(make_checks(6, first=100))
        by_bytes = RecordingSender()
        spool.drain(by_bytes, batch_bytes=1)
    assert [len(batch) for batch in by_count.batches] == [5, 5, 2]
    assert [len(batch) for batch in by_bytes.batches] == [1] * 6


def test_a_restart_drains_what_an_earlier_run_left(tmp_path: Path) -> None:
    with Spool(tmp_path) as first:
        first.append(make_checks(3))
        first.drain(FailingSender())
        first.append(make_checks(2, first=3))
    with Spool(tmp_path) as second:
        assert second.pending_checks == 5
        second.append(make_checks(1, first=5))
        sender = RecordingSender()
        assert second.drain(sender).segments == 3
    assert sender.ids == ids(make_checks(6))


def test_a_crash_mid_write_leaves_a_torn_line_that_is_skipped(tmp_path: Path) -> None:
    lines = [json.dumps(check.to_json()) for check in make_checks(2)]
    crashed = tmp_path / "seg-000000000004.open"
    crashed.write_text("\n".join(lines) + '\n{"id": "00', encoding="utf-8")
    with Spool(tmp_path) as spool:
        assert crashed.with_suffix(".jsonl").exists()
        spool.append(make_checks(1, first=2))
        sender = RecordingSender()
        spool.drain(sender)
        assert spool.pending_checks == 0
    assert sender.ids == ids(make_checks(3))
    assert list(tmp_path.glob("seg-*")) == []


def test_a_batch_refused_for_good_is_set_aside_and_the_rest_still_goes(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(make_checks(2))
        spool.seal()
        spool.append(make_checks(2, first=2))
        spool.seal()
        refusing = FailingSender(permanent=True)
        result = spool.drain(refusing)
        assert (result.rejected, result.failed) == (2, False)
        spool.append(make_checks(1, first=4))
        sender = RecordingSender()
        assert spool.drain(sender).sent == 1
    assert sorted(path.name for path in tmp_path.glob("seg-*.rejected")) == [
        "seg-000000000001.rejected", "seg-000000000002.rejected"]


def test_a_second_spool_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    with Spool(tmp_path), pytest.raises(SpoolBusy):
        Spool(tmp_path)
    with Spool(tmp_path) as again:
        assert again.pending_checks == 0


def test_the_sink_reports_checks_once_they_are_on_disk(tmp_path: Path) -> None:
    heard: list[str] = []
    with Spool(tmp_path) as spool:
        sink = SpoolSink(spool, lambda checks: heard.extend(ids(checks)))
        sink.put(make_checks(2))
        assert spool.pending_checks == 2
    assert heard == ids(make_checks(2))


def test_batches_skip_blank_lines() -> None:
    lines = [b'{"id": "1"}\n', b"\n", b'{"id": "2"}\n']
    assert list(batches(lines, max_checks=10)) == [[{"id": "1"}, {"id": "2"}]]


@pytest.mark.parametrize(("failures", "delay"), [
    (0, 0.0), (1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 30.0), (500, 30.0),
])
def test_retry_delay_doubles_up_to_its_cap(failures: int, delay: float) -> None:
    assert retry_delay(failures) == delay
