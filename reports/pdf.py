"""A customer's monthly SLA report as a PDF (reportlab's platypus), the same figures as the page.

Every percentage is printed beside the minutes it was computed from; text from the database
(customer names, incident titles) is escaped before it reaches platypus' markup.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from reports.incidents import IncidentLine, minutes_of
from reports.monthly import CustomerReport

LINE_HEADER = ("Component", "Region", "Tier", "Target %", "Uptime %", "Down", "Maint.",
               "No data", "Eligible", "Coverage %", "Single loc.", "Met", "Credit %",
               "Credit")
INCIDENT_HEADER = ("#", "Title", "Tier", "Opened (UTC)", "Detect", "Acknowledge",
                   "Resolve")
GRID = TableStyle([
    ("FONTSIZE", (0, 0), (-1, -1), 7.5),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef1f6")),
    ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d8dde6")),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
])


def _money(cents: int | None) -> str:
    return "—" if cents is None else f"{cents / 100:,.2f}"


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def _summary(report: CustomerReport) -> list[str]:
    customer, totals = report.customer, report.totals
    state = "final" if report.complete else (
        f"month in progress: minutes after {_when(report.generated_at)} count as no data")
    return [
        f"Plan <b>{escape(report.plan.name)}</b>, period basis "
        f"{escape(report.plan.period_basis.value)}; regions "
        f"{escape(', '.join(customer.regions) or 'none')}. Report {escape(state)}.",
        f"All lines together: uptime <b>{report.uptime_pct} %</b> "
        f"({totals.eligible - totals.downtime:,} of {totals.eligible:,} eligible minutes up; "
        f"{totals.maintenance:,} maintenance minutes excluded), coverage "
        f"{report.coverage_pct} % ({totals.no_data:,} minutes without data, counted as up).",
        f"Lines missing their target: {sum(not i.line.met for i in report.lines)}. "
        f"Monthly fee {_money(customer.monthly_fee_cents)}, credit "
        f"<b>{_money(report.credit_cents)}</b> (the fee split evenly over the lines).",
    ]


def _line_rows(report: CustomerReport) -> list[Sequence[str]]:
    rows: list[Sequence[str]] = [LINE_HEADER]
    for item in report.lines:
        line = item.line
        rows.append((line.component, line.region, str(line.tier), str(line.target_pct),
                     str(line.uptime_pct), str(line.downtime_minutes),
                     str(line.maintenance_minutes), str(line.no_data_minutes),
                     str(line.eligible_minutes),
                     f"{line.coverage_pct}{' (!)' if line.coverage_warning else ''}",
                     str(line.single_location_minutes), "yes" if line.met else "NO",
                     str(line.credit_pct), _money(item.credit_cents)))
    return rows


def _objective(taken: float | None, target: int, status: str) -> str:
    spent = "—" if taken is None else f"{taken:g} min"
    return f"{spent} / {target} min: {status}"


def _incident_rows(incidents: Sequence[IncidentLine], style: ParagraphStyle,
                   ) -> list[Sequence[object]]:
    rows: list[Sequence[object]] = [INCIDENT_HEADER]
    for item in incidents:
        record, judged = item.record, item.judgement
        detect = minutes_of(item.time_to_detect)
        rows.append((
            str(record.id), Paragraph(escape(record.title), style), str(item.tier),
            _when(record.opened_at), "—" if detect is None else f"{detect:g} min",
            _objective(minutes_of(judged.time_to_acknowledge), item.objective.ack_minutes,
                       judged.acknowledge.value),
            _objective(minutes_of(judged.time_to_resolve), item.objective.resolve_minutes,
                       judged.resolve.value)))
    return rows


def to_pdf(report: CustomerReport) -> bytes:
    """The report as PDF bytes (landscape A4); the same input gives the same bytes."""
    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["BodyText"], fontSize=7.5, leading=9)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm,
        topMargin=12 * mm, bottomMargin=12 * mm, invariant=True,
        title=f"SLA report {report.customer.name} {report.month}", author="Bellwether")
    story: list[object] = [
        Paragraph(escape(f"SLA report — {report.customer.name} — {report.month}"),
                  styles["Title"]),
        *(Paragraph(text, styles["BodyText"]) for text in _summary(report)),
        Spacer(1, 4 * mm),
        Paragraph("Lines", styles["Heading2"]),
        Table(_line_rows(report), repeatRows=1, style=GRID),
        Paragraph("Incidents", styles["Heading2"]),
    ]
    if report.incidents:
        story.append(Table(_incident_rows(report.incidents, small), repeatRows=1, style=GRID,
                           colWidths=(12 * mm, 90 * mm, 10 * mm, 30 * mm, 20 * mm, 50 * mm,
                                      50 * mm)))
    else:
        story.append(Paragraph("No incident touched these lines this month.",
                               styles["BodyText"]))
    story.append(Paragraph(
        "Minutes are UTC. A minute is down when a strict majority of the locations that "
        "checked it saw a confirmed failure; maintenance minutes are excluded; minutes "
        "without data count as up and lower the coverage. (!) marks coverage under 99 %.",
        small))
    document.build(story)
    return buffer.getvalue()
