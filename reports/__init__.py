"""Customers, their account managers and their monthly SLA reports from the minute rollups.

Owns the `customers` and `customer_projects` tables; reads probes' rollups, and status/'s
maintenance windows and incidents through their query functions; decides every figure with
the `sla` functions (never its own maths). Writes only the burn-rate job's incidents
(origin `burn_rate`) and their outbox rows.

For other packages:
- `daily.daily_uptime(session, component, region, first_day, days, now) -> list[DayUptime]`
  (the public 90-day bar: per day `uptime_pct`, down / no-data / maintenance minutes,
  `worst`), and `daily.uptime_over(days)` (sum the minutes, divide once);
- `monthly.month_lines(session, pairs, period, plan)` and
  `monthly.customer_report(session, customer, month, now) -> CustomerReport`;
- `probes.rollup_reads.verdicts_from_rollups(session, component, region, first_minute, last_minute)`
  (every rollup as `sla` verdicts; `series.line_from_rollups` feeds them to
  `sla.report.month_line`);
- `budgets.budget_statuses(session, regions, now, plan=None)` (30-day budgets, burn rates).

Edges: `views` (/api/v1/customers…, /api/v1/budgets, /reports/customers… pages), `jobs`
(`reports.burn_rates`), `cli` (`bellwether sla export`). `counts` and `charts` are pure.
"""
