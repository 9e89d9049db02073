"""The latency charts' data for a region page, as its own JSON document (pure values).

The page fetches `/regions/<region>/latency.json` and plotly.js draws it
(static/status-charts.js): 24 h of points inline made a region page megabytes long. The
document is compact: one shared time axis (`start`, `step`, `points`), and per component and
location two arrays of numbers on it, `null` where a location has no rollup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import median_low
from typing import Any

#: Seconds between two chart points: 288 points cover 24 h, finer than a 260 px chart shows.
STEP_SECONDS = 300
_DECIMALS = 1  # tenths of a millisecond: finer than any chart can show

Series = Mapping[str, Sequence[tuple[int, float, float]]]


def latency_document(series: Mapping[str, Series], first_minute: int, last_minute: int,
                     step_seconds: int = STEP_SECONDS) -> dict[str, Any]:
    """p50 and p95 per component and location on a shared axis of `step_seconds` buckets.

    `series` maps component → location → (minute since the epoch, p50, p95) minute rollups.
    Buckets are aligned to the step (12:00, 12:05, …) and cover `first_minute` through
    `last_minute`. The rollups keep percentiles per minute, not the samples, so a bucket's
    exact percentile cannot be known; what is shown is bounded by it instead:
    - p50 is the median (low) of the bucket's minute p50s: one of them, so it lies between
      their lowest and highest, as the bucket's true median does;
    - p95 is the highest minute p95: at least 95 % of every minute's checks, hence of the
      bucket's, are at or below it, so a spike is never smoothed away.
    """
    step = step_seconds // 60
    start = first_minute - first_minute % step
    points = (last_minute - start) // step + 1
    components = {component: {location: _on_axis(rows, start, step, points)
                               for location, rows in sorted(locations.items())}
                  for component, locations in sorted(series.items())}
    return {"start": start * 60, "step": step * 60, "points": points,
            "components": components}


def _on_axis(rows: Sequence[tuple[int, float, float]], start: int, step: int,
             points: int) -> dict[str, list[float | None]]:
    buckets: list[list[tuple[float, float]]] = [[] for _ in range(points)]
    for minute, p50, p95 in rows:
        index = (minute - start) // step
        if 0 <= index < points:
            buckets[index].append((p50, p95))
    return {"p50": [round(median_low(p for p, _ in b), _DECIMALS) if b else None
                    for b in buckets],
            "p95": [round(max(p for _, p in b), _DECIMALS) if b else None for b in buckets]}
