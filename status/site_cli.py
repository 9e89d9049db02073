"""`bellwether publish --out DIR`: render the public site on demand."""

from __future__ import annotations

from pathlib import Path

import click

from core.clock import SystemClock
from core.db import make_engine, make_session_factory, session_scope


@click.command("publish")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the site into (default: <data dir>/public).")
@click.pass_context
def publish_command(ctx: click.Context, out_dir: Path | None) -> None:
    """Render the public status site (pages, JSON, feeds) into a static directory."""
    from core.cli import settings_from
    from status.site import Site, public_dir

    settings = settings_from(ctx)
    target = out_dir or public_dir(settings)
    engine = make_engine(settings.effective_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            result = Site(settings).publish(session, SystemClock().now(), target, force=True)
    finally:
        engine.dispose()
    click.echo(f"published {result.files} changed file(s) into {target}")
