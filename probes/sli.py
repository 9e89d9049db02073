"""An SLI imported from Prometheus: good and total requests, each one PromQL query.

A component whose service exports its own request metrics can take its SLI from them
instead of from probes. `promql_sli` runs both queries at one instant through
prometheus-api-client and returns the two numbers and their ratio; `SliReading.since` turns
two readings of cumulative counters into the SLI over the span between them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from core.errors import BellwetherError

DEFAULT_TIMEOUT_S = 10


class SliUnavailable(BellwetherError):
    """The SLI could not be read: Prometheus did not answer, refused a query, or answered
    something that is not a request count. `code` says which."""

    status = 502
    code = "sli_unavailable"


@dataclass(frozen=True, slots=True)
class PromqlSli:
    """How to read a component's SLI: two PromQL queries, each answering one number.

    >>> PromqlSli(
    ...     good='sum(increase(commerce_requests_total{service="orders",code!~"5.."}[5m]))',
    ...     total='sum(increase(commerce_requests_total{service="orders"}[5m]))')
    """

    good: str
    total: str


@dataclass(frozen=True, slots=True)
class SliReading:
    """Good and total requests; `ratio` is good / total, None when nothing was counted.

    >>> SliReading(good=693.0, total=700.0).ratio
    0.99
    """

    good: float
    total: float

    def __post_init__(self) -> None:
        if not 0 <= self.good <= self.total:
            raise SliUnavailable(f"good {self.good:g} is not between 0 and total "
                                 f"{self.total:g}: check the two queries",
                                 code="sli_inconsistent")

    @property
    def ratio(self) -> float | None:
        # No traffic is no evidence either way; the caller decides what that means.
        return self.good / self.total if self.total else None

    def since(self, earlier: SliReading) -> SliReading:
        """The SLI between two readings of cumulative counters (no counter reset between)."""
        return SliReading(good=self.good - earlier.good, total=self.total - earlier.total)


def sample_value(result: Any, query: str) -> float:
    """The one number in an instant query's `result`; an empty vector counts as 0.

    prometheus-api-client drops `resultType`: a vector is a list of {"metric", "value"}
    objects, a scalar a bare [timestamp, "value"] pair; values are strings.
    """
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        return _finite(result[1], query)
    if not isinstance(result, list) or not all(isinstance(s, dict) for s in result):
        raise SliUnavailable(f"unexpected answer to {query!r}: {result!r}",
                             code="promql_unexpected_result")
    if not result:
        return 0.0
    if len(result) > 1:
        raise SliUnavailable(f"{query!r} answered {len(result)} series; aggregate it to one "
                             "(sum(...))", code="promql_unexpected_result")
    sample = result[0]
    if "value" not in sample:
        raise SliUnavailable(f"{query!r} answered a range vector; an instant query needs an "
                             "instant vector (wrap it in increase(...))",
                             code="promql_unexpected_result")
    return _finite(sample["value"][1], query)


def _finite(text: Any, query: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise SliUnavailable(f"{query!r} answered {text!r}, not a number",
                             code="promql_unexpected_result") from None
    if not math.isfinite(value):
        raise SliUnavailable(f"{query!r} answered {text}, not a finite count",
                             code="promql_unexpected_result")
    return value


def promql_sli(url: str, sli: PromqlSli, at: datetime, *,
               timeout_s: int = DEFAULT_TIMEOUT_S) -> SliReading:
    """Evaluate both queries at `at` (aware) against the Prometheus at `url`.

    No retries: a failed read raises `SliUnavailable`, and the caller's next run reads again.
    """
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()} (times are UTC and aware)")
    params = {"time": f"{at.timestamp():.3f}"}
    with PrometheusConnect(url=url, retry=Retry(total=0), timeout=timeout_s) as prometheus:
        good = sample_value(_query(prometheus, url, sli.good, params), sli.good)
        total = sample_value(_query(prometheus, url, sli.total, params), sli.total)
    return SliReading(good=good, total=total)


def _query(prometheus: PrometheusConnect, url: str, query: str, params: dict[str, str]) -> Any:
    try:
        return prometheus.custom_query(query=query, params=params)
    except PrometheusApiClientException as exc:
        raise SliUnavailable(f"Prometheus at {url} refused {query!r}: {exc}",
                             code="promql_rejected") from exc
    except (OSError, KeyError, TypeError) as exc:  # requests' errors are OSErrors
        raise SliUnavailable(f"no usable answer from Prometheus at {url} to {query!r}: {exc}",
                             code="prometheus_unavailable") from exc
