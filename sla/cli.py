"""`bellwether sla …`: SLA computation from files (never touches the database)."""

from __future__ import annotations

from pathlib import Path

import click

from sla.catalog import PLANS, plan_named
from sla.model import MaintenanceWindow, SlaInputError


@click.group("sla")
def sla_group() -> None:
    """SLA accounting."""


class UnreadableFile(SlaInputError):
    """An input file that cannot be opened or read."""


def _read_windows(path: Path | None) -> list[MaintenanceWindow]:
    from sla.maintfile import parse_windows

    if path is None:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UnreadableFile(f"{path}: cannot read ({_why(error)})") from None
    return parse_windows(text, str(path))


def _why(error: OSError | UnicodeDecodeError) -> str:
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8 text"
    return error.strerror or type(error).__name__


@sla_group.command("compute")
@click.option("--checks", "checks_path", required=True, type=click.Path(path_type=Path),
              help="Checks, one JSON object a line, in any order.")
@click.option("--month", required=True, help="The calendar month, YYYY-MM (UTC).")
@click.option("--maintenance", "maintenance_path", type=click.Path(path_type=Path),
              help="A JSON list of maintenance windows.")
@click.option("--plan", "plan_name", default="standard", show_default=True,
              help=f"One of: {', '.join(PLANS)}.")
@click.option("--confirmations", type=click.IntRange(min=1), default=2, show_default=True,
              help="Consecutive failed checks that confirm a location is down.")
@click.option("--format", "output_format", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
def compute_command(checks_path: Path, month: str, maintenance_path: Path | None,
                    plan_name: str, confirmations: int, output_format: str) -> None:
    """Compute a month's SLA lines from raw checks (contracts/sla-compute.md)."""
    from sla.checkfile import read_checks
    from sla.collect import MonthCollector
    from sla.export import to_csv, to_json
    from sla.period import month_period
    from sla.report import build_report

    period = month_period(month)
    plan = plan_named(plan_name)
    windows = _read_windows(maintenance_path)
    collector = MonthCollector(period, confirmations)
    try:
        with checks_path.open("rb") as lines:
            read_checks(lines, str(checks_path), collector)
    except OSError as error:
        raise UnreadableFile(f"{checks_path}: cannot read ({_why(error)})") from None
    report = build_report(collector, plan, windows)
    click.echo(to_json(report) + "\n" if output_format == "json" else to_csv(report), nl=False)
