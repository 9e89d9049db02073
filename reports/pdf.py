"""A customer's monthly SLA report as a PDF (reportlab's platypus), written for the customer.

It carries the company's name and the fee's currency (`Letterhead`), only the columns a
customer needs, each explained in a legend under its table, and the month-to-date figures
while the month runs. Every heading starts a new page unless there is room for the start
of its table under it (never alone at a page foot); long tables split with their header.
The PDF's dates are the report's own moment (`generated_at`), so the same
report gives the same bytes and a reader sees when it was made, not reportlab's invariant
2000-01-01. Text from the database is escaped before it reaches platypus' markup.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    CondPageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from reports.export import Letterhead, acknowledgement_text
from reports.incidents import IncidentLine, minutes_of
from reports.monthly import CustomerReport

LINE_HEADER = ("Component", "Region", "Tier", "Target %", "Uptime %", "Down (min)",
               "Maintenance (min)", "No data (min)", "Eligible (min)", "Met", "Credit %")
LINE_LEGEND = (
    "<b>Tier</b>: 1 for the services a shop needs to sell, 2 for the others. "
    "<b>Target %</b>: the uptime your plan commits to. <b>Uptime %</b>: available eligible "
    "minutes ÷ eligible minutes. <b>Down</b>: minutes a strict majority of our probe "
    "locations saw the service fail. <b>Maintenance</b>: minutes of announced maintenance, "
    "excluded from the commitment. <b>No data</b>: minutes our monitoring could not "
    "measure; they count as available to you. <b>Eligible</b>: the month's minutes less "
    "maintenance. <b>Met</b>: whether uptime reached the target. <b>Credit %</b>: the share "
    "of the line's part of the fee credited to you (the fee is split evenly over the lines).")
INCIDENT_HEADER = ("#", "Title", "Tier", "Opened (UTC)", "Detected after", "Acknowledged",
                   "Resolved")
INCIDENT_LEGEND = (
    "<b>Detected after</b>: from the first failed check to the incident opening. "
    "<b>Acknowledged</b> and <b>Resolved</b>: time taken from the incident opening against "
    "your plan's target for the tier; an incident resolved within the acknowledgement "
    "target needed no acknowledgement.")
#: Room a heading needs below it (itself, a table's header and first rows); with less left on
#: the page it starts the next one, so no heading is left alone at a page foot.
HEADING_ROOM = 45 * mm
GRID = TableStyle([
    ("FONTSIZE", (0, 0), (-1, -1), 7.5),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef1f6")),
    ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d8dde6")),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
])


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def _summary(report: CustomerReport, letterhead: Letterhead) -> list[str]:
    customer, totals = report.customer, report.totals
    money = letterhead.money
    head = (f"Plan <b>{escape(report.plan.name)}</b>, period basis "
            f"{escape(report.plan.period_basis.value)}; regions "
            f"{escape(', '.join(customer.regions) or 'none')}.")
    whole = (f"uptime <b>{report.uptime_pct} %</b> ({totals.eligible - totals.downtime:,} "
             f"of {totals.eligible:,} eligible minutes available; "
             f"{totals.maintenance:,} maintenance minutes excluded)")
    to_date = report.to_date_totals
    if to_date is None:
        state = f"Final figures for the whole month: {whole}."
    else:
        state = (f"<b>Month in progress</b>, to {_when(report.generated_at)} UTC. "
                 f"Month to date: uptime <b>{report.to_date_uptime_pct} %</b> over "
                 f"{report.elapsed_minutes:,} elapsed minutes ({to_date.downtime:,} "
                 f"minutes down, {to_date.maintenance:,} of maintenance). Full-month "
                 f"projection if the remaining minutes are all available: {whole}.")
    lines = (f"Lines missing their target: {sum(not i.line.met for i in report.lines)} of "
             f"{len(report.lines)}. Monthly fee {money(customer.monthly_fee_cents)}; "
             f"credit <b>{money(report.credit_cents)}</b>"
             f"{'' if to_date is None else ' so far'}.")
    return [head, state, lines]


def _line_rows(report: CustomerReport, letterhead: Letterhead) -> list[Sequence[str]]:
    in_progress = report.to_date_totals is not None
    header = [*LINE_HEADER, f"Credit ({letterhead.currency})"]
    if in_progress:
        header.insert(5, "To date %")
    rows: list[Sequence[str]] = [header]
    for item in report.lines:
        line = item.line
        row = [line.component, line.region, str(line.tier), str(line.target_pct),
               str(line.uptime_pct), str(line.downtime_minutes), str(line.maintenance_minutes),
               str(line.no_data_minutes), str(line.eligible_minutes),
               "yes" if line.met else "NO", str(line.credit_pct),
               "—" if item.credit_cents is None else f"{item.credit_cents / 100:,.2f}"]
        if in_progress:
            row.insert(5, "—" if item.to_date is None else str(item.to_date.uptime_pct))
        rows.append(row)
    return rows


def _took(taken: float | None, target: int, status: str) -> str:
    spent = "not yet" if taken is None else f"{taken:g} min"
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
            Paragraph(escape(acknowledgement_text(item)), style),
            _took(minutes_of(judged.time_to_resolve), item.objective.resolve_minutes,
                  judged.resolve.value)))
    return rows


SHORT_NOTICE_LEGEND = (
    "Announced less than 7 days ahead. The SLA excludes only planned servicing announced at "
    "least 7 days ahead, so these windows are not excluded: their minutes count as downtime "
    "wherever the checks failed, and are in the figures above.")


def _short_notice_rows(report: CustomerReport, style: ParagraphStyle,
                       ) -> list[Sequence[Any]]:
    """One row per short-notice window: when, which lines, and the reason given."""
    rows: list[Sequence[Any]] = [("#", "Title", "From (UTC)", "Until (UTC)", "Lines",
                                  "Reason for the short notice")]
    for window in report.short_notice:
        lines = ", ".join(f"{c} ({r})" for c, r in window.affected)
        rows.append((str(window.id), Paragraph(escape(window.title), style),
                     window.start.strftime("%Y-%m-%d %H:%M"),
                     window.end.strftime("%Y-%m-%d %H:%M"), Paragraph(escape(lines), style),
                     Paragraph(escape(window.reason), style)))
    return rows


def _stamp(report: CustomerReport, letterhead: Letterhead) -> Callable[[Any, Any], None]:
    """Each page: the report's moment as the PDF's dates, and a footer naming the sender."""
    moment = report.generated_at.strftime("D:%Y%m%d%H%M%S+00'00'")

    def on_page(canvas: Any, document: Any) -> None:
        canvas.setDateFormatter(lambda *_: moment)
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(colors.HexColor("#5b6474"))
        canvas.drawString(12 * mm, 7 * mm, f"{letterhead.company} · SLA report "
                          f"{report.customer.name} {report.month} · made "
                          f"{_when(report.generated_at)} UTC")
        canvas.drawRightString(document.pagesize[0] - 12 * mm, 7 * mm,
                               f"page {document.page}")
        canvas.restoreState()

    return on_page


def to_pdf(report: CustomerReport, letterhead: Letterhead | None = None) -> bytes:
    """The report as PDF bytes (landscape A4); the same input gives the same bytes."""
    letterhead = letterhead or Letterhead()
    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9)
    heading = styles["Heading2"]  # CondPageBreak keeps it with its table, see HEADING_ROOM
    buffer = io.BytesIO()
    title = f"{letterhead.company}: SLA report for {report.customer.name}, {report.month}"
    document = SimpleDocTemplate(
        buffer, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm,
        topMargin=12 * mm, bottomMargin=14 * mm, invariant=True, title=title,
        author=letterhead.company, creator="Bellwether", subject="Monthly SLA report")
    story: list[Any] = [
        Paragraph(escape(title), styles["Title"]),
        *(Paragraph(text, body) for text in _summary(report, letterhead)),
        Spacer(1, 4 * mm),
        CondPageBreak(HEADING_ROOM), Paragraph("Service lines", heading),
        Table(_line_rows(report, letterhead), repeatRows=1, style=GRID),
        Paragraph(LINE_LEGEND, small),
        CondPageBreak(HEADING_ROOM), Paragraph("Incidents", heading),
    ]
    if report.incidents:
        story += [
            Table(_incident_rows(report.incidents, small), repeatRows=1, style=GRID,
                  colWidths=(12 * mm, 80 * mm, 10 * mm, 28 * mm, 22 * mm, 70 * mm, 50 * mm)),
            Paragraph(INCIDENT_LEGEND, small)]
    else:
        story.append(Paragraph("No incident touched these lines this month.", body))
    if report.short_notice:
        story += [CondPageBreak(HEADING_ROOM),
                  Paragraph("Maintenance at short notice", heading),
                  Table(_short_notice_rows(report, small), repeatRows=1, style=GRID,
                        colWidths=(12 * mm, 60 * mm, 28 * mm, 28 * mm, 70 * mm, 75 * mm)),
                  Paragraph(SHORT_NOTICE_LEGEND, small)]
    story.append(Paragraph(
        "All times are UTC. A minute counts as down when a strict majority of the probe "
        "locations that checked it saw a confirmed failure.", small))
    stamp = _stamp(report, letterhead)
    document.build(story, onFirstPage=stamp, onLaterPages=stamp)
    return buffer.getvalue()
