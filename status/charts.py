"""Plotly figure dicts for the public page (pure values; plotly.js draws them in the page)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

_DASH = {"p50": "solid", "p95": "dot"}


def latency_figure(title: str, series: Mapping[str, Sequence[tuple[int, float, float]]],
                   ) -> dict[str, Any]:
    """p50 and p95 latency per location over time (minutes since the epoch on the x axis)."""
    traces = []
    for location, points in sorted(series.items()):
        times = [datetime.fromtimestamp(minute * 60, UTC).isoformat() for minute, _, _ in points]
        for name, index in (("p50", 1), ("p95", 2)):
            traces.append({"type": "scatter", "mode": "lines", "name": f"{location} {name}",
                           "x": times, "y": [point[index] for point in points],
                           "line": {"dash": _DASH[name]}})
    return {"data": traces,
            "layout": {"title": {"text": title}, "height": 260,
                       "margin": {"l": 50, "r": 10, "t": 40, "b": 40},
                       "yaxis": {"title": {"text": "ms"}, "rangemode": "tozero"},
                       "xaxis": {"type": "date"}, "legend": {"orientation": "h"}}}
