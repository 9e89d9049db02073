"""An SLI read from Prometheus: answers parsed into numbers, and every failure named."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from core.servers import Listener, free_port
from probes.sli import PromqlSli, SliReading, SliUnavailable, promql_sli, sample_value
from tests.support.prometheus import PrometheusServer, running_prometheus

Q = "sum(x)"


def vector(*values: str) -> list[dict[str, Any]]:
    return [{"metric": {"zone": str(i)}, "value": [1795542378.232, v]}
            for i, v in enumerate(values)]


@pytest.mark.parametrize(("result", "expected"), [
    (vector("693"), 693.0),
    (vector("0.25"), 0.25),
    ([], 0.0),
    ([1795542378.232, "12"], 12.0),
])
def test_it_reads_the_one_number_of_an_answer(result: Any, expected: float) -> None:
    assert sample_value(result, Q) == expected


@pytest.mark.parametrize(("result", "says"), [
    (vector("1", "2"), "answered 2 series"),
    ([{"metric": {}, "values": [[1795542378.232, "1"]]}], "range vector"),
    (vector("NaN"), "not a finite count"),
    (vector("+Inf"), "not a finite count"),
    (vector("many"), "not a number"),
    ([1795542378.232, "hello"], "not a number"),
    ({"status": "success"}, "unexpected answer"),
    ([vector("1")[0], "odd"], "unexpected answer"),
])
def test_it_refuses_an_answer_that_is_not_one_count(result: Any, says: str) -> None:
    with pytest.raises(SliUnavailable, match=says) as caught:
        sample_value(result, Q)
    assert caught.value.code == "promql_unexpected_result"


def test_a_reading_knows_its_ratio() -> None:
    assert SliReading(good=693.0, total=700.0).ratio == pytest.approx(0.99)
    assert SliReading(good=0.0, total=0.0).ratio is None


@pytest.mark.parametrize(("good", "total"), [(701.0, 700.0), (-1.0, 700.0)])
def test_a_reading_refuses_good_outside_zero_to_total(good: float, total: float) -> None:
    with pytest.raises(SliUnavailable, match="not between 0 and total") as caught:
        SliReading(good=good, total=total)
    assert caught.value.code == "sli_inconsistent"


def test_two_readings_of_counters_give_the_sli_between_them() -> None:
    window = SliReading(good=980.0, total=1300.0).since(SliReading(good=700.0, total=900.0))
    assert window == SliReading(good=280.0, total=400.0)
    assert window.ratio == pytest.approx(0.7)


def test_it_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        promql_sli("http://127.0.0.1:9", PromqlSli("vector(1)", "vector(1)"),
                   datetime(2026, 1, 1))  # noqa: DTZ001


def test_nothing_listening_is_unavailable_at_once() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SliUnavailable, match="no usable answer") as caught:
        promql_sli(url, PromqlSli("vector(1)", "vector(1)"), datetime.now(UTC), timeout_s=2)
    assert caught.value.code == "prometheus_unavailable"
    assert caught.value.status == 502


def _not_prometheus(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"<html>a login page</html>"]


def test_a_server_that_is_not_prometheus_is_unavailable() -> None:
    listener = Listener("not-prometheus", _not_prometheus, threads=1)
    listener.start()
    try:
        with pytest.raises(SliUnavailable) as caught:
            promql_sli(listener.url, PromqlSli("vector(1)", "vector(1)"), datetime.now(UTC))
    finally:
        listener.stop()
    assert caught.value.code == "prometheus_unavailable"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A real Prometheus scraping nothing: PromQL's own functions give known answers."""
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), targets=[]) as server:
        yield server


@pytest.mark.e2e
def test_it_reads_good_and_total_from_a_real_prometheus(prometheus: PrometheusServer) -> None:
    reading = promql_sli(prometheus.url, PromqlSli(good="vector(693)", total="scalar(vector(700))"),
                         datetime.now(UTC))
    assert reading == SliReading(good=693.0, total=700.0)
    assert reading.ratio == pytest.approx(0.99)


@pytest.mark.e2e
def test_it_evaluates_both_queries_at_the_given_time(prometheus: PrometheusServer) -> None:
    at = datetime(2026, 10, 1, 12, 0, 30, tzinfo=UTC)
    reading = promql_sli(prometheus.url, PromqlSli(good="time()", total="time() * 2"), at)
    assert reading == SliReading(good=at.timestamp(), total=2 * at.timestamp())


@pytest.mark.e2e
def test_a_query_prometheus_refuses_says_so(prometheus: PrometheusServer) -> None:
    with pytest.raises(SliUnavailable, match=r"refused 'sum\(': HTTP Status Code 400") as caught:
        promql_sli(prometheus.url, PromqlSli(good="sum(", total="vector(1)"), datetime.now(UTC))
    assert caught.value.code == "promql_rejected"
    assert "bad_data" in caught.value.detail


@pytest.mark.e2e
def test_an_unaggregated_query_is_refused(prometheus: PrometheusServer) -> None:
    two = 'label_replace(vector(1), "z", "a", "", "") or label_replace(vector(2), "z", "b", "", "")'
    with pytest.raises(SliUnavailable, match="answered 2 series"):
        promql_sli(prometheus.url, PromqlSli(good=two, total="vector(3)"), datetime.now(UTC))
