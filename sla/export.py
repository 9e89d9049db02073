"""A report in the contract's JSON and CSV shapes (contracts/sla-compute.md).

Only the contract's fields, in its order. Decimals become JSON numbers through `float`,
which prints a value of at most 15 significant digits exactly as written (99.9421, 44.58).
"""

from __future__ import annotations

import csv
import io
import json

from sla.model import SlaLine
from sla.report import SlaReport

LINE_FIELDS: tuple[str, ...] = (
    "component", "region", "tier", "period_minutes", "maintenance_minutes",
    "downtime_minutes", "no_data_minutes", "eligible_minutes", "uptime_pct", "target_pct",
    "met", "credit_pct", "budget_minutes", "budget_remaining_minutes",
)

Scalar = str | int | float | bool


def line_fields(line: SlaLine) -> dict[str, Scalar]:
    """A line as the contract's fields, in its order (`LINE_FIELDS`), ready for JSON."""
    return {
        "component": line.component, "region": line.region, "tier": line.tier,
        "period_minutes": line.period_minutes, "maintenance_minutes": line.maintenance_minutes,
        "downtime_minutes": line.downtime_minutes, "no_data_minutes": line.no_data_minutes,
        "eligible_minutes": line.eligible_minutes, "uptime_pct": float(line.uptime_pct),
        "target_pct": float(line.target_pct), "met": line.met, "credit_pct": line.credit_pct,
        "budget_minutes": float(line.budget_minutes),
        "budget_remaining_minutes": float(line.budget_remaining_minutes),
    }


def report_fields(report: SlaReport) -> dict[str, object]:
    """The whole report as the contract's JSON object."""
    return {"month": report.month, "plan": report.plan,
            "confirmations": report.confirmations, "period_minutes": report.period_minutes,
            "lines": [line_fields(line) for line in report.lines]}


def to_json(report: SlaReport) -> str:
    """The report as `sla compute --format json` prints it."""
    return json.dumps(report_fields(report), indent=1)


def to_csv(report: SlaReport) -> str:
    """The lines under a header of the contract's field names; cells as JSON spells them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LINE_FIELDS)
    for line in report.lines:
        writer.writerow(value if isinstance(value, str) else json.dumps(value)
                        for value in line_fields(line).values())
    return out.getvalue()
