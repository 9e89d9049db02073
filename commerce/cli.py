"""`bellwether fault …` and `bellwether commerce …`: drive a running instance over HTTP."""

from __future__ import annotations

import json
from typing import Any

import click

from commerce.faults import FaultKind
from core.cli import settings_from
from core.remote import RemoteApi, remote_for

server_option = click.option("--server", help="Base URL of the running Bellwether "
                             "(default: from BELLWETHER_HTTP_HOST/PORT).")
token_option = click.option("--token", help="Admin API token (default: BELLWETHER_ADMIN_TOKEN, "
                            "or the one `bellwether up` wrote to the data directory).")


def _remote(ctx: click.Context, server: str | None, token: str | None) -> RemoteApi:
    return remote_for(settings_from(ctx), server, token)


def _print_faults(faults: list[dict[str, Any]]) -> None:
    if not faults:
        click.echo("no active faults")
    for fault in faults:
        scope = " ".join(f"{k}={fault[k]}" for k in ("region", "zone", "service", "location",
                                                      "value") if fault[k] is not None)
        until = f" until {fault['expires_at']}" if fault["expires_at"] else ""
        click.echo(f"{fault['id']:>5}  {fault['kind']:<14} {scope}{until}")


@click.group("fault")
def fault_group() -> None:
    """Inject, list and clear faults in the commerce set of a running instance."""


@fault_group.command("inject")
@click.argument("kind", type=click.Choice([k.value for k in FaultKind]))
@click.option("--region")
@click.option("--zone")
@click.option("--service")
@click.option("--location")
@click.option("--value", type=float, help="Added ms for latency, a 0..1 rate for error_rate.")
@click.option("--duration-s", type=int, help="Clear the fault by itself after N seconds.")
@server_option
@token_option
@click.pass_context
def fault_inject(ctx: click.Context, /, kind: str, server: str | None, token: str | None,
                 **scope: Any) -> None:
    """Inject a fault of KIND."""
    body = {"kind": kind, **{k: v for k, v in scope.items() if v is not None}}
    fault = _remote(ctx, server, token).call("POST", "/api/v1/faults", json=body)
    click.echo(f"injected fault {fault['id']}: {json.dumps(body)}")


@fault_group.command("list")
@server_option
@token_option
@click.pass_context
def fault_list(ctx: click.Context, server: str | None, token: str | None) -> None:
    """List the active faults."""
    _print_faults(_remote(ctx, server, token).call("GET", "/api/v1/faults")["faults"])


@fault_group.command("clear")
@click.argument("fault_id", required=False, type=int)
@click.option("--all", "clear_all", is_flag=True, help="Clear every active fault.")
@server_option
@token_option
@click.pass_context
def fault_clear(ctx: click.Context, fault_id: int | None, clear_all: bool, server: str | None,
                token: str | None) -> None:
    """Clear fault ID, or every fault with --all."""
    if (fault_id is None) == (not clear_all):
        raise click.UsageError("give a fault ID or --all (not both)")
    remote = _remote(ctx, server, token)
    if clear_all:
        answer = remote.call("DELETE", "/api/v1/faults")
        click.echo(f"cleared {answer['cleared_count']} fault(s)")
    else:
        remote.call("DELETE", f"/api/v1/faults/{fault_id}")
        click.echo(f"cleared fault {fault_id}")


@click.group("commerce")
def commerce_group() -> None:
    """The embedded commerce service set."""


@commerce_group.command("regions")
@server_option
@click.pass_context
def commerce_regions(ctx: click.Context, server: str | None) -> None:
    """Print every region's router and zone URLs."""
    for region in _remote(ctx, server, None).call("GET", "/api/v1/regions")["regions"]:
        click.echo(f"{region['name']}: router {region['router_url']}")
        for zone in region["zones"]:
            click.echo(f"    zone {zone['name']}: {zone['url']}")


@commerce_group.command("create-project")
@click.option("--region", required=True)
@click.option("--key", required=True, help="Project key: lower-case letters, digits, dashes.")
@server_option
@token_option
@click.pass_context
def commerce_create_project(ctx: click.Context, region: str, key: str, server: str | None,
                            token: str | None) -> None:
    """Create a project and print its API client's credentials (shown once)."""
    answer = _remote(ctx, server, token).call("POST", "/api/v1/commerce/projects",
                                              json={"region": region, "key": key})
    click.echo(json.dumps(answer, indent=2))


@commerce_group.command("probe-credentials")
@click.option("--region", required=True)
@server_option
@token_option
@click.pass_context
def commerce_probe_credentials(ctx: click.Context, region: str, server: str | None,
                               token: str | None) -> None:
    """Print the client credentials of Bellwether's own probe project in REGION."""
    answer = _remote(ctx, server, token).call("GET", "/api/v1/commerce/probe-credentials",
                                              params={"region": region})
    click.echo(json.dumps(answer, indent=2))
