"""`bellwether sla export`: every customer's monthly report as CSV, JSON and PDF, and a zip.

It lives here, not in `sla/cli.py`, because it reads the database; `app.py` adds it to the
`sla` group, beside the file-only `sla compute`.
"""

from __future__ import annotations

from pathlib import Path

import click

from core.clock import SystemClock
from core.db import make_engine, make_session_factory, session_scope


@click.command("export")
@click.option("--month", required=True, help="The calendar month, YYYY-MM (UTC).")
@click.option("--out", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the reports and the zip to (made if missing).")
@click.pass_context
def export_command(ctx: click.Context, month: str, out_dir: Path) -> None:
    """Write every customer's SLA report for MONTH (CSV, JSON, PDF) to DIR, and a zip."""
    from core.cli import settings_from
    from reports import store
    from reports.export import Letterhead, write_report_files, write_zip
    from reports.monthly import CustomerInfo, customer_report
    from sla.period import month_period

    month_period(month)  # a bad month fails before anything is written
    settings = settings_from(ctx)
    engine = make_engine(settings.effective_database_url)
    factory = make_session_factory(engine)
    clock = SystemClock()
    letterhead = Letterhead.of(settings)  # the same company and currency as the web's PDF
    written: list[Path] = []
    try:
        with session_scope(factory) as session:
            customers = [CustomerInfo.of(row) for row in store.list_customers(session)]
        out_dir.mkdir(parents=True, exist_ok=True)
        with click.progressbar(customers, label=f"SLA reports {month}",
                               item_show_func=lambda c: c.name if c else None) as bar:
            for customer in bar:
                with session_scope(factory) as session:
                    report = customer_report(session, customer, month, clock.now())
                written += write_report_files(report, out_dir, letterhead)
        archive = write_zip(out_dir / f"sla-reports-{month}.zip", written)
    finally:
        engine.dispose()
    click.echo(f"{len(customers)} customer(s), {len(written)} files; zip: {archive}")
