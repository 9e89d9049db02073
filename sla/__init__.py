"""The SLA specification as pure functions over plain data (shared/reference/sla-spec.md).

Stdlib only (plus plotly/PDF in export modules): never Flask, SQLAlchemy, httpx or core.db;
time is always an argument. Minutes are ints counted from the epoch (`period.minute_of`).

Reused by the live evaluator (`probes/`) so that live state and SLA agree:
- `verdicts.confirmed_failure_flags(oks, confirmations) -> list[bool]`, or one check at a
  time `verdicts.RunTracker(confirmations).observe(ok) -> int` and `.is_down` (§2);
- `verdicts.location_minute_status(confirmed_flags) -> MinuteVerdict` (§2);
- `quorum.quorum_verdict(n_with_data, n_down) -> MinuteVerdict` (§3).

Reused by the database path (minute rollups in, report lines out):
- `maintenance.maintenance_minutes(windows, component, region, period) -> frozenset[int]`;
- `report.month_line(component, region, period, verdict_by_minute, maintenance, plan,
  locations_by_minute=None) -> SlaLine` (§5-§8), `report.sum_minutes(lines)` and
  `report.line_from_counts(...)` for longer periods;
- `budget.burn_alert(verdict_by_minute, now, target_pct) -> AlertLevel` (§7);
- `recovery.judge_recovery(objective, opened_at=, acknowledged_at=, resolved_at=, now=)` (§9).

The file path of `bellwether sla compute`: `checkfile.read_checks` into a
`collect.MonthCollector`, then `report.build_report`, then `export.to_json` / `to_csv`.
"""
