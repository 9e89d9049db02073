"""Plotly figure dicts for a customer's report (pure: values in, dicts out, no plotly import).

The page hands them to the locally served plotly.js (`Plotly.newPlot(el, data, layout)`).
Daily uptime is one heatmap row per line; the burn-down shows each line's month error
budget left after each day (budget minus the downtime so far), so a line crossing zero
has missed its target.
"""

from __future__ import annotations

from typing import Any

from reports.monthly import CustomerReport
from sla.uptime import rounded_pct, uptime_pct

Figure = dict[str, Any]
#: Cells without a value (a day with no observed minute, or not begun) show the plot's
#: background: the status page's no-data grey.
NO_DATA_GREY = "#d0d7de"
_CONFIG_LAYOUT = {"margin": {"l": 190, "r": 20, "t": 30, "b": 40}, "font": {"size": 12}}


def _label(component: str, region: str) -> str:
    return f"{component} · {region}"


def daily_uptime_figure(report: CustomerReport) -> Figure:
    """One row per line, one cell per day: uptime %, with the minutes behind it on hover."""
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    for item in report.lines:
        row, notes = [], []
        for index, counts in enumerate(item.days):
            started = report.day_started(index)
            # The spec counts minutes without data as available, so a day with none observed
            # computes as 100 %: drawn as a gap (grey), not as a green day.
            unobserved = counts.no_data >= counts.period - counts.maintenance
            pct = (float(rounded_pct(uptime_pct(counts))) if started and not unobserved
                   else None)
            row.append(pct)
            notes.append("not yet" if not started else
                         f"no data ({counts.no_data} min, counted as up by the SLA)"
                         if unobserved else
                         f"{pct} % · {counts.downtime} min down · {counts.no_data} min no data"
                         f" · {counts.maintenance} min maintenance")
        z.append(row)
        text.append(notes)
    labels = [_label(item.line.component, item.line.region) for item in report.lines]
    return {
        "data": [{"type": "heatmap", "x": list(report.day_labels), "y": labels, "z": z,
                  "text": text, "hovertemplate": "%{y}<br>%{x}: %{text}<extra></extra>",
                  "zmin": 99.0, "zmax": 100.0, "xgap": 1, "ygap": 1,
                  "colorscale": [[0, "#cf222e"], [0.9, "#9a6700"], [1, "#1a7f37"]],
                  "colorbar": {"title": {"text": "uptime %"}}}],
        "layout": {**_CONFIG_LAYOUT, "title": {"text": "Daily uptime per line (grey: no data)"},
                   "plot_bgcolor": NO_DATA_GREY,
                   "height": 120 + 22 * len(labels), "yaxis": {"autorange": "reversed"}},
    }


def burn_down_figure(report: CustomerReport) -> Figure:
    """Each line's error budget left (minutes) at the end of each day of the month."""
    traces = []
    for item in report.lines:
        left, remaining = float(item.line.budget_minutes), []
        for index, counts in enumerate(item.days):
            left -= counts.downtime
            remaining.append(round(left, 2) if report.day_started(index) else None)
        traces.append({"type": "scatter", "mode": "lines", "x": list(report.day_labels),
                       "y": remaining,
                       "name": _label(item.line.component, item.line.region),
                       "hovertemplate": "%{x}: %{y} min left<extra>%{fullData.name}</extra>"})
    return {
        "data": traces,
        "layout": {**_CONFIG_LAYOUT, "title": {"text": "Error budget left (minutes)"},
                   "height": 420, "margin": {"l": 60, "r": 20, "t": 30, "b": 40},
                   "yaxis": {"zeroline": True, "zerolinecolor": "#cf222e"},
                   "showlegend": len(traces) <= 40},
    }
