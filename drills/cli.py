"""`bellwether drill SCENARIO|all`: run failure drills against a running instance;
`bellwether drill chaos --seed N --episodes K`: a chaos campaign against an instance it
starts itself (with its own PagerDuty stand-in and mail server, whose every event it checks).
"""

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
              help="Override the probe interval (default: read from the instance).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to save the JSON and HTML table (default: <data dir>/drills).")
@click.option("--seed", type=int, default=1, show_default=True,
              help="chaos: the seed of the random episode sequence.")
@click.option("--episodes", type=click.IntRange(min=1), default=6, show_default=True,
              help="chaos: how many episodes.")
@click.option("--database-url", default=None,
              help="chaos: an empty database for the instance it starts (default: SQLite "
                   "in a temporary directory).")
@click.pass_context
def drill_command(ctx: click.Context, scenario: str, server: str | None, token: str | None,
                  region: str | None, interval_s: float | None, out_dir: Path | None,
                  seed: int, episodes: int, database_url: str | None) -> None:
    """Inject each failure of the paper, watch, clear, and compare with what should happen.

    SCENARIO is one of zone, region, auth, service, latency, errors, database, partition,
    or all; or chaos, a seeded campaign of compound faults against an instance of its own.
    Exits 1 when a drill did not go as expected (or an invariant of the campaign broke).
    """
    if scenario == "chaos":
        from drills.chaos import run_campaign_command

        ok = run_campaign_command(seed, episodes, database_url, out_dir, say=click.echo)
        ctx.exit(0 if ok else 1)
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
    clock = SystemClock()
    drill = Drill(api, clock, target, interval_s, say=click.echo)
    interval = drill.interval_s
    click.echo(f"probe interval {interval:g} s (" + ("given" if interval_s else
                                                     "read from the instance") + ")")
    results = [drill.run(s) for s in chosen]
    click.echo("")
    click.echo(markdown(results))
    json_path, html_path = save(results, out_dir or settings.data_dir / "drills", target,
                                interval, clock.now())
    click.echo(f"saved {json_path} and {html_path}")
    if not all(r.passed for r in results):
        ctx.exit(1)
