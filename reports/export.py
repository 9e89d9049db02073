"""A customer's report as JSON and CSV, and the files and zip `bellwether sla export` writes;
the letterhead (company name, currency) every document written for a customer carries.

Lines carry the contract's fields (`sla.export.LINE_FIELDS`, in its order, spelled as
`sla compute` spells them) followed by what reports add: coverage, single-location minutes
and the credit in cents. The JSON also holds the days, the incidents and the totals.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import Settings
from reports.incidents import IncidentLine, minutes_of
from reports.monthly import CustomerReport, ReportLine
from sla.export import LINE_FIELDS, line_fields
from sla.model import MinuteCounts
from sla.uptime import coverage_pct, rounded_pct, uptime_pct

DEFAULT_COMPANY, DEFAULT_CURRENCY = "Bellwether", "USD"


@dataclass(frozen=True, slots=True)
class Letterhead:
    """Who writes to the customer and in which currency fees and credits are: the config
    file's `status_title` (as on the public site) and `currency` (default USD)."""

    company: str = DEFAULT_COMPANY
    currency: str = DEFAULT_CURRENCY

    @classmethod
    def of(cls, settings: Settings) -> Letterhead:
        extra: Mapping[str, Any] = settings.extra
        return cls(str(extra.get("status_title", DEFAULT_COMPANY)),
                   str(extra.get("currency", DEFAULT_CURRENCY)))

    def money(self, cents: int | None) -> str:
        """`1,234.50 USD`; a dash when there is no amount."""
        return "—" if cents is None else f"{cents / 100:,.2f} {self.currency}"


def acknowledgement_text(item: IncidentLine) -> str:
    """Time to acknowledge against its target, in words a customer reads without a key.

    An incident resolved without an acknowledgement is not "pending": it needed none when
    it ended within the target, and missed it otherwise.
    """
    record, judged, target = item.record, item.judgement, item.objective.ack_minutes
    taken = minutes_of(judged.time_to_acknowledge)
    if record.acknowledged_at is None and record.resolved_at is not None:
        resolved = minutes_of(record.resolved_at - record.opened_at) or 0.0
        if resolved <= target:
            return f"not needed: resolved in {resolved:g} min (target {target} min)"
        return f"missed: never acknowledged, resolved after {resolved:g} min " \
               f"(target {target} min)"
    spent = "not yet" if taken is None else f"{taken:g} min"
    return f"{spent} / {target} min: {judged.acknowledge.value}"


EXTRA_FIELDS = ("coverage_pct", "coverage_warning", "single_location_minutes", "credit_cents")
CSV_FIELDS = (*LINE_FIELDS, *EXTRA_FIELDS)


def _line_json(report: CustomerReport, item: ReportLine, with_days: bool) -> dict[str, Any]:
    line = item.line
    fields: dict[str, Any] = {
        **line_fields(line), "coverage_pct": float(line.coverage_pct),
        "coverage_warning": line.coverage_warning,
        "single_location_minutes": line.single_location_minutes,
        "credit_cents": item.credit_cents}
    if item.to_date is not None:
        fields["to_date"] = _to_date_json(item.to_date.minute_counts())
    if with_days:
        fields["days"] = [
            {"day": label, "uptime_pct": float(rounded_pct(uptime_pct(counts)))
             if report.day_started(index) else None,
             "downtime_minutes": counts.downtime, "no_data_minutes": counts.no_data,
             "maintenance_minutes": counts.maintenance}
            for index, (label, counts) in enumerate(zip(report.day_labels, item.days,
                                                        strict=True))]
    return fields


def _to_date_json(counts: MinuteCounts) -> dict[str, Any]:
    return {"elapsed_minutes": counts.period, "maintenance_minutes": counts.maintenance,
            "downtime_minutes": counts.downtime, "no_data_minutes": counts.no_data,
            "eligible_minutes": counts.eligible,
            "uptime_pct": float(rounded_pct(uptime_pct(counts))),
            "coverage_pct": float(rounded_pct(coverage_pct(counts)))}


def _incident_json(item: IncidentLine) -> dict[str, Any]:
    record, judged = item.record, item.judgement

    def moment(value: Any) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": record.id, "title": record.title, "impact": record.impact,
        "state": "resolved" if record.resolved_at else "open", "origin": record.origin,
        "tier": item.tier,
        "affected": [{"component": c, "region": r} for c, r in record.affected],
        "first_failure_at": moment(record.first_failure_at),
        "opened_at": moment(record.opened_at),
        "acknowledged_at": moment(record.acknowledged_at),
        "resolved_at": moment(record.resolved_at),
        "time_to_detect_minutes": minutes_of(item.time_to_detect),
        "time_to_acknowledge_minutes": minutes_of(judged.time_to_acknowledge),
        "time_to_resolve_minutes": minutes_of(judged.time_to_resolve),
        "objectives": {"acknowledge_minutes": item.objective.ack_minutes,
                       "resolve_minutes": item.objective.resolve_minutes,
                       "rpo_minutes": item.objective.rpo_minutes},
        "acknowledge": judged.acknowledge.value, "resolve": judged.resolve.value,
    }


def report_json(report: CustomerReport, *, with_days: bool = True) -> dict[str, Any]:
    """The whole report as one JSON object (the API's answer and the JSON export)."""
    customer, totals = report.customer, report.totals
    return {
        "customer": {"id": customer.id, "name": customer.name,
                     "account_manager_id": customer.account_manager_id,
                     "regions": list(customer.regions),
                     "projects": [{"project_key": k, "region": r}
                                  for k, r in customer.projects]},
        "month": report.month, "plan": report.plan.name,
        "period_basis": report.plan.period_basis.value,
        "period_minutes": report.period.basis_minutes(report.plan.period_basis),
        "complete": report.complete, "generated_at": report.generated_at.isoformat(),
        "totals": {"period_minutes": totals.period,
                   "maintenance_minutes": totals.maintenance,
                   "downtime_minutes": totals.downtime, "no_data_minutes": totals.no_data,
                   "eligible_minutes": totals.eligible,
                   "single_location_minutes": totals.single_location,
                   "uptime_pct": float(report.uptime_pct),
                   "coverage_pct": float(report.coverage_pct),
                   "lines_missed": sum(not item.line.met for item in report.lines),
                   "monthly_fee_cents": customer.monthly_fee_cents,
                   "credit_cents": report.credit_cents},
        "to_date": None if report.to_date_totals is None else _to_date_json(
            report.to_date_totals),
        "lines": [_line_json(report, item, with_days) for item in report.lines],
        "incidents": [_incident_json(item) for item in report.incidents],
    }


def to_json(report: CustomerReport) -> str:
    return json.dumps(report_json(report), indent=1)


def to_csv(report: CustomerReport) -> str:
    """One row per line: the contract's fields, then what reports add."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for item in report.lines:
        values = _line_json(report, item, with_days=False)
        writer.writerow(value if isinstance(value, str) else json.dumps(value)
                        for value in (values[name] for name in CSV_FIELDS))
    return out.getvalue()


def file_stem(report: CustomerReport) -> str:
    """`<customer-slug>-<id>-<month>`: safe on every file system, unique per customer."""
    slug = re.sub(r"[^a-z0-9]+", "-", report.customer.name.lower()).strip("-")[:60]
    return f"{slug or 'customer'}-{report.customer.id}-{report.month}"


def write_report_files(report: CustomerReport, directory: Path,
                       letterhead: Letterhead | None = None) -> list[Path]:
    """Write the report's CSV, JSON and PDF into `directory`; their paths."""
    from reports.pdf import to_pdf  # reportlab loads only when a PDF is made

    stem = file_stem(report)
    files = [(directory / f"{stem}.csv", to_csv(report).encode()),
             (directory / f"{stem}.json", to_json(report).encode()),
             (directory / f"{stem}.pdf", to_pdf(report, letterhead or Letterhead()))]
    for path, content in files:
        _write_atomically(path, content)
    return [path for path, _ in files]


def write_zip(path: Path, files: Sequence[Path]) -> Path:
    """A zip of `files` (by their names), written to a temporary name and renamed."""
    partial = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, arcname=file.name)
    partial.replace(path)
    return path


def _write_atomically(path: Path, content: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(content)
    partial.replace(path)
