"""The PDF written for a customer (pure: a report value in, bytes out): letterhead, headings
never alone at a page foot, a resolved incident's acknowledgement, the month in progress."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

from reports.counts import day_slices, month_counts
from reports.export import Letterhead, acknowledgement_text
from reports.incidents import incident_lines
from reports.monthly import CustomerInfo, CustomerReport, ReportLine
from reports.pdf import to_pdf
from reports.store import IncidentRecord
from sla.catalog import PREMIUM
from sla.model import MinuteCounts, PeriodBasis
from sla.period import month_period
from sla.report import line_from_counts

OCTOBER = month_period("2026-10")
LABELS = tuple(s.label for s in day_slices(OCTOBER.first_minute, OCTOBER.end_minute))
AFTER = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
EU = "europe-west1.gcp"


def record(number: int, *, acknowledged: int | None, resolved: int | None) -> IncidentRecord:
    opened = datetime(2026, 10, 3, tzinfo=UTC) + timedelta(days=number)

    def after(minutes: int | None) -> datetime | None:
        return None if minutes is None else opened + timedelta(minutes=minutes)

    return IncidentRecord(number, f"Orders failing {number}", "major", "auto",
                          opened - timedelta(minutes=2), opened, after(acknowledged),
                          after(resolved), (("orders", EU),))


def a_report(lines: int, records: list[IncidentRecord], now: datetime = AFTER,
             ) -> CustomerReport:
    day = MinuteCounts(1440, 0, 0, 0, 0)
    counts = month_counts(OCTOBER, PeriodBasis.CALENDAR, [day] * 31)
    line = line_from_counts("orders", EU, 1, counts, PREMIUM.target_for(1))
    customer = CustomerInfo(1, "Acme", "premium", PeriodBasis.CALENDAR, None, 120_000,
                            (("acme", EU),))
    return CustomerReport(customer, PREMIUM, OCTOBER, LABELS,
                          tuple(ReportLine(line, (day,) * 31, 0) for _ in range(lines)),
                          incident_lines(records, PREMIUM, now), now)


def pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_the_letterhead_names_the_company_and_the_currency() -> None:
    text = "\n".join(pages(to_pdf(a_report(3, []), Letterhead("Example Ltd", "EUR"))))
    assert "Example Ltd: SLA report for Acme, 2026-10" in text
    assert "Monthly fee 1,200.00 EUR" in text
    assert "Credit (EUR)" in text


@pytest.mark.parametrize("lines", range(14, 40, 2))
def test_the_incidents_heading_always_has_its_table_under_it(lines: int) -> None:
    records = [record(n, acknowledged=5, resolved=30) for n in range(1, 4)]
    for text in pages(to_pdf(a_report(lines, records))):
        if "\nIncidents\n" in f"\n{text}":
            after = text.split("Incidents\n", 1)[1]
            assert "Opened (UTC)" in after, f"heading alone at the foot with {lines} lines"
            assert "Orders failing 1" in after


def test_a_resolved_incident_without_acknowledgement_is_not_pending() -> None:
    quick, slow, acked, open_ = incident_lines([
        record(1, acknowledged=None, resolved=12), record(2, acknowledged=None, resolved=90),
        record(3, acknowledged=7, resolved=30), record(4, acknowledged=None, resolved=None)],
        PREMIUM, datetime(2026, 10, 7, 0, 5, tzinfo=UTC))
    assert acknowledgement_text(quick) == "not needed: resolved in 12 min (target 20 min)"
    assert acknowledgement_text(slow) == ("missed: never acknowledged, resolved after 90 min "
                                          "(target 20 min)")
    assert acknowledgement_text(acked) == "7 min / 20 min: met"
    assert acknowledgement_text(open_) == "not yet / 20 min: pending"


def test_a_month_in_progress_says_so_and_shows_the_month_to_date() -> None:
    now = datetime(2026, 10, 2, 0, 0, tzinfo=UTC)
    report = a_report(1, [], now)
    to_date = line_from_counts("orders", EU, 1, MinuteCounts(1440, 0, 3, 0, 0),
                               PREMIUM.target_for(1))
    report = CustomerReport(report.customer, report.plan, report.period, report.day_labels,
                            (ReportLine(report.lines[0].line, report.lines[0].days, 0,
                                        to_date),), (), now)
    text = " ".join(" ".join(pages(to_pdf(report))).split())
    assert "Month in progress, to 2026-10-02 00:00 UTC" in text
    assert "Month to date: uptime 99.7917 % over 1,440 elapsed minutes" in text
    assert "Full-month projection" in text
    assert "To date %" in text
