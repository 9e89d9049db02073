"""`bellwether drill SCENARIO|all`: run failure drills against a running instance."""

from __future__ import annotations

from pathlib import Path

import click

from core.clock import SystemClock


@click.command("drill")
@click.argument("scenario")
@click.option("--server", help="Base URL of the running Bellwether (default: from settings).")
@click.option("--token", help="Admin API token (default: BELLWETHER_ADMIN_TOKEN or the "
                              "data directory's).")
@click.option("--region", help="Region to drill (default: the first one).")
@click.option("--interval-s", type=float, default=None,
              help="The instance's probe interval (default: BELLWETHER_PROBE_INTERVAL_S).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to save the JSON and HTML table (default: <data dir>/drills).")
@click.pass_context
def drill_command(ctx: click.Context, scenario: str, server: str | None, token: str | None,
                  region: str | None, interval_s: float | None, out_dir: Path | None) -> None:
    """Inject each failure of the paper, watch, clear, and compare with what should happen.

    SCENARIO is one of zone, region, auth, service, latency, errors, database, partition,
    or all. Exits 1 when a drill did not go as expected.
    """
    from core.cli import settings_from
    from core.remote import remote_for
    from drills.report import markdown, save
    from drills.runner import Drill
    from drills.scenarios import SCENARIOS, by_name

    settings = settings_from(ctx)
    try:
        chosen = list(SCENARIOS) if scenario == "all" else [by_name(scenario)]
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="SCENARIO") from None
    api = remote_for(settings, server, token)
    target = region or api.call("GET", "/api/v1/regions")["regions"][0]["name"]
    interval = interval_s or float(settings.probe_interval_s)
    clock = SystemClock()
    drill = Drill(api, clock, target, interval, say=click.echo)
    results = [drill.run(s) for s in chosen]
    click.echo("")
    click.echo(markdown(results))
    json_path, html_path = save(results, out_dir or settings.data_dir / "drills", target,
                                interval, clock.now())
    click.echo(f"saved {json_path} and {html_path}")
    if not all(r.passed for r in results):
        ctx.exit(1)
