"""The long-running processes of the scale-out layout, beside `bellwether up`:

- `bellwether web`: the stateless web app (N of them behind a load balancer, or several on
  one port: the listener binds with SO_REUSEPORT), in a process of its own, so the public
  pages never wait for the probes' or the jobs' share of the GIL;
- `bellwether worker`: every background job (N of them; each job claims its rows);
- `bellwether commerce serve`: the embedded commerce set alone (what the probes measure).

Each runs until SIGINT/SIGTERM, then finishes in-flight work and exits 0.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from types import FrameType

import click

from core.clock import SystemClock
from core.config import Settings
from core.db import make_engine, make_session_factory
from core.servers import wait_until_stopped


def wait_for_signal() -> threading.Event:
    """An event set by SIGINT or SIGTERM."""
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stop


def run_until_signal(starts: list[tuple[Callable[[], object], Callable[[], object]]],
                     ready: Callable[[], None]) -> None:
    """Start each part, say what runs, wait for a signal, stop the parts in reverse order."""
    stop = wait_for_signal()
    with contextlib.ExitStack() as running:
        for start, halt in starts:
            start()
            running.callback(halt)
        ready()
        click.echo("Press Ctrl+C to stop.")
        wait_until_stopped(stop)
        click.echo("stopping…")
    click.echo("stopped")


def _settings(ctx: click.Context) -> Settings:
    from core.cli import settings_from
    from core.remote import with_stable_secret_key

    return with_stable_secret_key(settings_from(ctx))


def listening(settings: Settings) -> list[tuple[Callable[[], object], Callable[[], object]]]:
    """On PostgreSQL, the part that hears other processes' commit signals (the outbox
    lanes a web process filled, the commerce work an agent's checks queued), so waiters
    here wake at once instead of at their next safety-net look; nothing on SQLite."""
    from core.signals import commit_listener

    listener = commit_listener(settings.effective_database_url)
    return [] if listener is None else [(listener.start, listener.stop)]


@click.command("web")
@click.pass_context
def web_command(ctx: click.Context) -> None:
    """Serve the web app and API only (stateless; run several behind a load balancer)."""
    from app import create_app
    from core.servers import Listener
    from status.site import public_dir

    settings = _settings(ctx)
    app = create_app(settings)
    runtime = app.extensions["bellwether"]
    if settings.admin_token:
        from app import _ensure_admin_token

        _ensure_admin_token(runtime)
    # The workers' publish job writes the static copy; its pages are answered before Flask
    # from the moment each file exists (status.static_site), and rendered live until then.
    runtime.parts["public_dir"] = public_dir(settings)
    web = Listener("web", app, host=settings.http_host, port=settings.http_port,
                   threads=settings.server_threads)
    run_until_signal([(web.start, web.stop)],
                     lambda: click.echo(f"web app: {web.url}/  (database: "
                                        f"{settings.effective_database_url})"))
    runtime.engine.dispose()


@click.command("worker")
@click.option("--name", default=None, help="A name for this worker in logs and claims.")
@click.pass_context
def worker_command(ctx: click.Context, name: str | None) -> None:
    """Run every background job: rollups, evaluation, incidents, delivery, publishing."""
    from app import all_jobs
    from core.scheduler import JobContext, build_scheduler
    from probes.service import seed_probes

    settings = _settings(ctx)
    clock = SystemClock()
    engine = make_engine(settings.effective_database_url)
    factory = make_session_factory(engine)
    seed_probes(factory, settings, clock)
    jobs = all_jobs()
    scheduler = build_scheduler(jobs, JobContext(settings, clock, factory,
                                                 {"worker_name": name}))
    run_until_signal([*listening(settings),
                      (scheduler.start, lambda: scheduler.shutdown(wait=True))],
                     lambda: click.echo(f"worker {name or ''}: {len(jobs)} jobs "
                                        f"({', '.join(j.name for j in jobs)})"))
    engine.dispose()


@click.command("serve")
@click.pass_context
def commerce_serve_command(ctx: click.Context) -> None:
    """Run the embedded commerce set alone; its endpoints are stored for the other processes."""
    from commerce.fleet import Fleet

    settings = _settings(ctx)
    engine = make_engine(settings.effective_database_url)
    fleet = Fleet(settings, make_session_factory(engine), SystemClock())

    def ready() -> None:
        for region in fleet.endpoints():
            zones = "  ".join(f"{z}={url}" for z, url in region.zone_urls.items())
            click.echo(f"{region.region}: router {region.router_url}   zones {zones}")

    run_until_signal([*listening(settings), (fleet.start, fleet.stop)], ready)
    engine.dispose()
