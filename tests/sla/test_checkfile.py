from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sla.checkfile import CANONICAL_LINE, InstantReader, check_fields, read_checks
from sla.collect import MonthCollector
from sla.model import InvalidCheck
from sla.period import micros_of, month_period

OCTOBER = month_period("2026-10")
LINE = ('{"component": "orders", "region": "us-central1.gcp", "location": "loc-b", '
        '"at": "2026-10-03T12:00:30Z", "ok": false, "latency_ms": 5000}')


def collected(lines: list[bytes]) -> list[tuple[tuple[str, str, str], list[int]]]:
    collector = MonthCollector(OCTOBER, confirmations=2)
    read_checks(lines, "checks.jsonl", collector)
    return list(collector.series())


def test_the_probes_line_takes_the_fast_path() -> None:
    match = CANONICAL_LINE.fullmatch(LINE + "\n")
    assert match is not None
    assert match.group(1, 2, 3, 4, 5) == ("orders", "us-central1.gcp", "loc-b",
                                          "2026-10-03T12:00:30Z", "false")


def test_other_shapes_of_the_same_check_read_the_same() -> None:
    record = json.loads(LINE)
    compact = json.dumps(record, separators=(",", ":"))
    shuffled = json.dumps(dict(reversed(record.items())))
    offset = LINE.replace("12:00:30Z", "14:00:30+02:00")
    fraction = LINE.replace("12:00:30Z", "12:00:30.000000Z")
    no_latency = json.dumps({k: v for k, v in record.items() if k != "latency_ms"})
    variants = [compact, shuffled, offset, fraction, no_latency]
    assert all(CANONICAL_LINE.fullmatch(v) is None for v in variants[:2])
    expected = collected([LINE.encode()])
    for variant in variants:
        assert collected([variant.encode()]) == expected


def test_it_skips_blank_lines_and_counts_checks() -> None:
    collector = MonthCollector(OCTOBER, confirmations=2)
    lines = [LINE.encode() + b"\r\n", b"\n", b"  \t\r\n", LINE.encode()]
    assert read_checks(lines, "checks.jsonl", collector) == 2


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{", "not JSON"),
        ("[1, 2]", "a check must be a JSON object"),
        (LINE.replace('"at": "2026-10-03T12:00:30Z", ', ""), 'missing field "at"'),
        (LINE.replace('"ok": false, ', ""), 'missing field "ok"'),
        (LINE.replace('"region": "us-central1.gcp", ', ""), 'missing field "region"'),
        (LINE.replace("2026-10-03T12:00:30Z", "2026-10-03T12:00:30"), '"at" '),
        (LINE.replace("2026-10-03T12:00:30Z", "2026-10-03T12:00:60Z"), '"at" '),
        (LINE.replace("2026-10-03T12:00:30Z", "2026-02-30T12:00:30Z"),
         "\"at\" '2026-02-30T12:00:30Z' is not an ISO 8601 time"),
        (LINE.replace("2026-10-03T12:00:30Z", "yesterday"), '"at" '),
        (LINE.replace('"ok": false', '"ok": 0'), '"ok" must be true or false'),
        (LINE.replace('"orders"', '""'), '"component" must be a non-empty string'),
        (LINE.replace('"loc-b"', "7"), '"location" must be a non-empty string'),
        (LINE.replace("5000", '"slow"'), '"latency_ms" must be a number or null'),
        (LINE.replace("5000", "true"), '"latency_ms" must be a number or null'),
    ],
)
def test_it_names_the_file_and_line_of_a_bad_check(line: str, reason: str) -> None:
    with pytest.raises(InvalidCheck) as caught:
        collected([LINE.encode(), b"", line.encode()])
    assert caught.value.detail.startswith(f"checks.jsonl, line 3: {reason}")


def test_it_refuses_bytes_that_are_not_utf8() -> None:
    with pytest.raises(InvalidCheck, match=r"checks\.jsonl, line 2: not UTF-8"):
        collected([LINE.encode(), b'{"component": "\xff"}'])


def test_it_refuses_json_nested_too_deeply() -> None:
    with pytest.raises(InvalidCheck, match="line 1: not JSON"):
        collected([b"[" * 100_000])


def test_the_instant_cache_starts_over_when_full() -> None:
    reader = InstantReader(max_cached=2)
    texts = [f"2026-10-03T12:0{minute}:30Z" for minute in range(5)]
    assert [reader.micros(text) for text in texts] == [
        micros_of(datetime.fromisoformat(text)) for text in texts]


offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))
# hypothesis takes naive bounds and adds the zone itself.
instants = st.datetimes(min_value=datetime(2000, 1, 2),  # noqa: DTZ001
                        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
                        timezones=offsets)
spellings = st.sampled_from(["seconds", "micro", "z", "milliseconds"])


def spell(at: datetime, how: str) -> str:
    if how == "micro":
        return at.isoformat()
    if how == "milliseconds":
        return at.isoformat(timespec="milliseconds")
    text = at.isoformat(timespec="seconds")
    return text.replace("+00:00", "Z") if how == "z" else text


@settings(max_examples=300, deadline=None)
@given(instants, spellings)
def test_the_cached_instant_reader_agrees_with_fromisoformat(at: datetime, how: str) -> None:
    text = spell(at, how)
    reader = InstantReader()
    expected = micros_of(datetime.fromisoformat(text))
    assert reader.micros(text) == expected
    assert reader.micros(text) == expected  # the second time from the cache


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                     r"(Z|[+-][0-9]{2}:[0-9]{2})", fullmatch=True))
def test_the_cached_reader_refuses_what_fromisoformat_refuses(text: str) -> None:
    try:
        expected: int | None = micros_of(datetime.fromisoformat(text))
    except ValueError:
        expected = None
    reader = InstantReader()
    for _ in range(2):
        if expected is None:
            with pytest.raises(InvalidCheck):
                reader.micros(text)
        else:
            assert reader.micros(text) == expected


names = st.text(min_size=1, max_size=12)
records = st.fixed_dictionaries({
    "component": names, "region": names, "location": names,
    "at": st.builds(spell, instants, spellings),
    "ok": st.booleans(),
    "latency_ms": st.one_of(st.none(), st.integers(-10, 10**6),
                            st.floats(allow_nan=False, allow_infinity=False)),
})


@settings(max_examples=300, deadline=None)
@given(records, st.booleans())
def test_the_fast_path_reads_exactly_what_json_reads(record: dict[str, object],
                                                     ascii_only: bool) -> None:
    line = json.dumps(record, ensure_ascii=ascii_only)
    match = CANONICAL_LINE.fullmatch(line)
    if match is not None:
        component, region, location, at, ok = match.group(1, 2, 3, 4, 5)
        assert (component, region, location, at, ok == "true") == check_fields(
            json.loads(line))


def test_utc_and_offsets_name_the_same_minute() -> None:
    reader = InstantReader()
    assert reader.micros("2026-10-03T14:00:30+02:00") == reader.micros("2026-10-03T12:00:30Z")
    assert reader.micros("2026-10-03T12:00:30Z") == micros_of(
        datetime(2026, 10, 3, 12, 0, 30, tzinfo=UTC))
