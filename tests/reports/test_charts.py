"""Figure dicts for the report page (pure): daily uptime per line and the budget burn-down."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from reports.charts import burn_down_figure, daily_uptime_figure
from reports.counts import day_slices, month_counts, total_counts
from reports.monthly import CustomerInfo, CustomerReport, ReportLine
from sla.catalog import STANDARD
from sla.model import MinuteCounts, PeriodBasis
from sla.period import month_period
from sla.report import line_from_counts

FEBRUARY = month_period("2026-02")
DAY = MinuteCounts(period=1440, maintenance=0, downtime=0, no_data=0, single_location=0)


def a_report(generated_at: datetime) -> CustomerReport:
    days = [DAY] * 28
    days[2] = MinuteCounts(1440, 60, 30, 10, 0)
    counts = month_counts(FEBRUARY, PeriodBasis.CALENDAR, days)
    line = line_from_counts("orders", "europe-west1.gcp", 1, counts, STANDARD.target_for(1))
    customer = CustomerInfo(1, "Acme", "standard", PeriodBasis.CALENDAR, None, None,
                            (("acme", "europe-west1.gcp"),))
    labels = tuple(s.label for s in day_slices(FEBRUARY.first_minute, FEBRUARY.end_minute))
    return CustomerReport(customer, STANDARD, FEBRUARY, labels,
                          (ReportLine(line, tuple(days), None),), (), generated_at)


def test_the_daily_figure_has_a_cell_per_day_and_line_with_its_minutes() -> None:
    figure = daily_uptime_figure(a_report(datetime(2026, 3, 2, tzinfo=UTC)))
    [heatmap] = figure["data"]
    assert heatmap["type"] == "heatmap"
    assert heatmap["y"] == ["orders · europe-west1.gcp"]
    assert heatmap["x"][0] == "2026-02-01"
    assert len(heatmap["x"]) == 28
    assert heatmap["z"][0][2] == 97.8261  # 100 × 1350 / 1380
    assert heatmap["text"][0][2].startswith("97.8261 % · 30 min down · 10 min no data")
    json.dumps(figure)  # plain values only: the template hands them to plotly.js


def test_the_burn_down_subtracts_each_days_downtime_from_the_month_budget() -> None:
    report = a_report(datetime(2026, 2, 4, 6, tzinfo=UTC))
    [trace] = burn_down_figure(report)["data"]
    budget = float(report.lines[0].line.budget_minutes)
    assert trace["y"][:4] == [budget, budget, round(budget - 30, 2), round(budget - 30, 2)]
    assert trace["y"][4:] == [None] * 24  # days not begun yet are not drawn
    assert daily_uptime_figure(report)["data"][0]["z"][0][4] is None


def test_a_report_adds_minutes_before_dividing() -> None:
    report = a_report(datetime(2026, 3, 2, tzinfo=UTC))
    assert report.totals == total_counts(report.lines[0].days)
    assert str(report.uptime_pct) == str(report.lines[0].line.uptime_pct)
    assert report.complete


def test_a_day_without_an_observed_minute_is_a_grey_gap_not_a_green_day() -> None:
    """The spec counts no_data minutes as up, so such a day computes as 100 %: the heatmap
    must not draw it green (the table marks it "(gap)")."""
    report = a_report(datetime(2026, 3, 2, tzinfo=UTC))
    days = list(report.lines[0].days)
    days[5] = MinuteCounts(1440, 0, 0, 1440, 0)
    days[6] = MinuteCounts(1440, 60, 0, 1380, 0)  # maintenance, and nothing observed
    days[7] = MinuteCounts(1440, 0, 0, 1439, 0)  # one minute observed: a real figure
    line = report.lines[0]
    report = replace(report, lines=(replace(line, days=tuple(days)),))
    figure = daily_uptime_figure(report)
    [heatmap] = figure["data"]
    assert heatmap["z"][0][5] is None
    assert heatmap["z"][0][6] is None
    assert heatmap["text"][0][5] == "no data (1440 min, counted as up by the SLA)"
    assert heatmap["z"][0][7] == 100.0
    assert figure["layout"]["plot_bgcolor"] == "#d0d7de"
