"""`bellwether agent`: a remote probe location, run by hand or by a service manager."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import click

from core.cli import settings_from
from probes.locations import Shard

LOCATION = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")  # checks store it in 64 characters


def _location(value: str) -> str:
    if not LOCATION.match(value):
        raise click.BadParameter("use 1 to 64 lower-case letters, digits, '.', '_' or '-', "
                                 f"not {value!r}", param_hint="'--location'")
    return value


def _shard(value: str) -> Shard:
    try:
        return Shard.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--shard'") from None


def _resolver(value: str | None, location: str, ctx: click.Context) -> tuple[str, int] | None:
    """`--resolver`, else the config file's resolver for this location, else None."""
    from probes.dns_check import location_resolvers
    from probes.specs import resolver_address

    try:
        if value is not None:
            return resolver_address(value)
        return location_resolvers(settings_from(ctx).extra).get(location)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--resolver'") from None


def _server(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"give the server's base URL, like http://host:8000, "
                                 f"not {value!r}", param_hint="'--server'")
    return value.rstrip("/")


@click.command("agent")
@click.option("--location", required=True,
              help="This location's name, as its checks record it (e.g. office-lisbon).")
@click.option("--server", required=True, help="The Bellwether server's base URL.")
@click.option("--token", required=True, help="An API token with the agent role.")
@click.option("--spool-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where checks wait to be sent [default: <data dir>/spool-<location>].")
@click.option("--probe", "patterns", multiple=True, metavar="GLOB",
              help="Run only the probes whose names match GLOB (repeatable; default: all).")
@click.option("--shard", default="0/1", show_default=True, metavar="INDEX/COUNT",
              help="Run only this share of the probes, so that COUNT agents of one location "
                   "(each with its own spool) use COUNT cores; run one per index 0..COUNT-1.")
@click.option("--connect-timeout", type=click.FloatRange(min=1), default=120.0,
              show_default=True, help="Seconds to keep asking a silent server at start.")
@click.option("--resolver", metavar="ADDRESS[:PORT]",
              help="The DNS resolver this location's dns probes ask [default: the config "
                   "file's [locations.<location>] resolver, else the system's].")
@click.pass_context
def agent_command(ctx: click.Context, location: str, server: str, token: str,
                  spool_dir: Path | None, patterns: tuple[str, ...], shard: str,
                  connect_timeout: float, resolver: str | None) -> None:
    """Run the server's probes from this machine and send the checks to the server."""
    from core.clock import SystemClock
    from probes.agent import Agent, AgentConfig

    location, server, part = _location(location), _server(server), _shard(shard)
    address = _resolver(resolver, location, ctx)
    if not token.strip():
        raise click.BadParameter("must not be empty", param_hint="'--token'")
    # Shards of one location each own a spool: a spool is locked by the process using it.
    name = location if part.count == 1 else f"{location}-shard{part.index}of{part.count}"
    spool_dir = spool_dir or settings_from(ctx).data_dir / f"spool-{name}"
    config = AgentConfig(location=location, server=server, token=token.strip(),
                         spool_dir=spool_dir, patterns=patterns,
                         connect_timeout_s=connect_timeout, shard=part, resolver=address)
    agent = Agent(config, SystemClock(), say=click.echo)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        agent.request_stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    shown = location if part.count == 1 else f"{location} (shard {part})"
    click.echo(f"agent {shown} → {server}; spool {spool_dir} "
               f"({agent.spool.pending_checks} checks left from before)")
    try:
        if agent.start():
            click.echo(f"probing from {location}. Press Ctrl+C to stop.")
            agent.wait()
        click.echo("stopping…")
    finally:
        left = agent.stop()
    click.echo(f"stopped; {left} checks left in the spool")
