from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from sla.export import LINE_FIELDS, line_fields, to_csv, to_json
from sla.model import MinuteCounts
from sla.report import SlaReport, line_from_counts

LINE = line_from_counts("orders", "us-central1.gcp", 1, MinuteCounts(44_640, 60, 12, 0),
                        Decimal("99.9"))
REPORT = SlaReport(month="2026-10", plan="standard", confirmations=2, period_minutes=44_640,
                   lines=(LINE,))


def test_the_json_is_the_contracts_example() -> None:
    assert json.loads(to_json(REPORT)) == {
        "month": "2026-10", "plan": "standard", "confirmations": 2, "period_minutes": 44640,
        "lines": [{"component": "orders", "region": "us-central1.gcp", "tier": 1,
                   "period_minutes": 44640, "maintenance_minutes": 60,
                   "downtime_minutes": 12, "no_data_minutes": 0, "eligible_minutes": 44580,
                   "uptime_pct": 99.9731, "target_pct": 99.9, "met": True, "credit_pct": 0,
                   "budget_minutes": 44.58, "budget_remaining_minutes": 32.58}]}


def test_the_fields_come_in_the_contracts_order_with_numbers_as_written() -> None:
    assert tuple(line_fields(LINE)) == LINE_FIELDS
    text = to_json(REPORT)
    assert '"uptime_pct": 99.9731' in text
    assert '"budget_minutes": 44.58' in text
    assert '"tier": 1,' in text


def test_the_csv_has_a_header_and_the_json_spelling_of_each_value() -> None:
    rows = list(csv.reader(io.StringIO(to_csv(REPORT))))
    assert rows[0] == list(LINE_FIELDS)
    assert rows[1] == ["orders", "us-central1.gcp", "1", "44640", "60", "12", "0", "44580",
                       "99.9731", "99.9", "true", "0", "44.58", "32.58"]
    assert len(rows) == 2
