"""The Flask application factory and the `bellwether` command line: wiring only."""

from __future__ import annotations

import contextlib
import secrets
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click
from flask import Flask

from core.clock import Clock, SystemClock
from core.config import Settings, load_settings
from core.db import make_engine, make_session_factory, session_scope
from core.errors import BellwetherError
from core.runtime import Runtime
from core.scheduler import Job
from core.servers import wait_until_stopped


def create_app(settings: Settings | None = None, *, clock: Clock | None = None,
               parts: dict[str, Any] | None = None) -> Flask:
    """Build a fresh app: no migrations, no waiting, no network."""
    from alerts.metrics import watch_outbox
    from alerts.views import bp as alerts_views
    from commerce.api import bp as commerce_api
    from commerce.views import bp as commerce_views
    from core import headers
    from core.backup import watch_backups
    from core.job_runs import read_job_runs
    from core.jobs import backup_dir
    from core.login import bp as login_views
    from core.metrics import watch_process, watch_requests
    from core.views import bp as core_views
    from core.web import close_request_session, register_error_handlers
    from probes.agent_metrics import watch_agents
    from probes.metrics import ProbeMetrics
    from probes.store import states
    from probes.tls_jobs import watch_tls_days_left
    from probes.views import bp as probes_views
    from reports.metrics import watch_budgets
    from reports.views import bp as reports_views
    from status.admin import bp as status_admin
    from status.admin_area import bp as admin_area
    from status.api import bp as status_api
    from status.metrics import watch_incidents
    from status.public import bp as public_views
    from status.static_site import StaticSite
    from status.subscribe_views import bp as subscribe_views

    settings = settings or load_settings()
    engine = make_engine(settings.effective_database_url)
    runtime = Runtime(settings=settings, clock=clock or SystemClock(), engine=engine,
                      session_factory=make_session_factory(engine), parts=dict(parts or {}))
    metrics = runtime.parts.setdefault("metrics", ProbeMetrics())

    def read_states() -> dict[tuple[str, str], str]:
        with session_scope(runtime.session_factory) as session:
            return {key: row.state for key, row in states(session).items()}

    metrics.watch_states(read_states)
    metrics.watch_job_runs(lambda: read_job_runs(runtime.session_factory))
    watch_tls_days_left(metrics.registry, runtime.session_factory, runtime.clock)
    watch_agents(metrics.registry, runtime.session_factory, runtime.clock,
                 settings.probe_interval_s)
    watch_process(metrics.registry)
    watch_incidents(metrics.registry, runtime.session_factory, runtime.clock)
    watch_outbox(metrics.registry, runtime.session_factory, runtime.clock)
    watch_budgets(metrics.registry, runtime.session_factory, runtime.clock, settings.regions)
    watch_backups(metrics.registry, backup_dir(settings), runtime.clock)
    root = Path(__file__).parent
    app = Flask(__name__, template_folder=str(root / "templates"),
                static_folder=str(root / "static"))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["SECRET_KEY"] = settings.secret_key or secrets.token_hex(32)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["bellwether"] = runtime
    register_error_handlers(app)
    https = settings.effective_public_url.startswith("https://")
    headers.init_app(app, https=https)
    app.teardown_appcontext(close_request_session)
    for blueprint in (core_views, commerce_views, commerce_api, probes_views, public_views,
                      login_views, status_api, status_admin, subscribe_views, reports_views,
                      alerts_views, admin_area):
        app.register_blueprint(blueprint)
    # The published static copy of the public pages is answered before Flask, once it exists.
    app.wsgi_app = StaticSite(  # type: ignore[method-assign]
        app.wsgi_app, lambda: runtime.parts.get("public_dir"), https=https)
    watch_requests(app, metrics.registry, runtime.clock)
    return app


def _ensure_admin_token(runtime: Runtime) -> str:
    """The bootstrap admin token: BELLWETHER_ADMIN_TOKEN, or one kept in the data directory."""
    from core.auth import ensure_admin_token, new_token_secret
    from core.remote import admin_token_path, local_admin_token

    secret = local_admin_token(runtime.settings)
    if secret is None:
        secret = new_token_secret()
        path = admin_token_path(runtime.settings)
        path.write_text(secret + "\n", encoding="utf-8")
        path.chmod(0o600)
    with session_scope(runtime.session_factory) as session:
        ensure_admin_token(session, secret, runtime.clock.now())
    return secret


@click.command("up")
@click.pass_context
def up_command(ctx: click.Context) -> None:
    """Run everything in one process: commerce set, probes, jobs and the web app."""
    from commerce.fleet import Fleet
    from core import migrate
    from core.cli import settings_from
    from core.remote import admin_token_path, with_stable_secret_key
    from core.scheduler import JobContext, build_scheduler
    from core.servers import Listener
    from probes.metrics import ProbeMetrics
    from probes.service import ProbeService
    from probes.shards import ShardedProbeService
    from serve import listening

    settings = with_stable_secret_key(settings_from(ctx))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    click.echo(f"database: {settings.effective_database_url}")
    migrate.upgrade(settings.effective_database_url)
    clock = SystemClock()
    engine = make_engine(settings.effective_database_url)
    factory = make_session_factory(engine)
    fleet = Fleet(settings, factory, clock)
    metrics = ProbeMetrics()
    probes: ProbeService | ShardedProbeService
    if settings.probe_processes > 1:
        probes = ShardedProbeService(settings, factory, clock, fleet, metrics,
                                     settings.probe_processes)
    else:
        probes = ProbeService(settings, factory, clock, fleet, observe=metrics.observe_check,
                              on_skip=metrics.skipped.inc, on_late=metrics.late.inc)
    app = create_app(settings, clock=clock,
                     parts={"fleet": fleet, "probes": probes, "metrics": metrics})
    runtime: Runtime = app.extensions["bellwether"]
    # Jobs and views share the live parts (the published site's directory, senders ...).
    jobs = build_scheduler(all_jobs(), JobContext(settings, clock, factory, runtime.parts))
    token_note = ("BELLWETHER_ADMIN_TOKEN" if settings.admin_token
                  else str(admin_token_path(settings)))
    _ensure_admin_token(runtime)
    web = Listener("web", app, host=settings.http_host, port=settings.http_port,
                   threads=settings.server_threads)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if isinstance(probes, ShardedProbeService):
            probes.request_stop()  # its shards may get the same signal: none is restarted
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with contextlib.ExitStack() as running:
        for start, halt in listening(settings):  # PostgreSQL: other processes' commits
            start()
            running.callback(halt)
        fleet.start()
        running.callback(fleet.stop)
        probes.start()
        running.callback(probes.stop)
        jobs.start()
        running.callback(jobs.shutdown, wait=True)
        web.start()
        running.callback(web.stop)
        _print_urls(web.url, token_note, fleet, probes, settings)
        wait_until_stopped(stop)
        click.echo("stopping…")
    engine.dispose()
    runtime.engine.dispose()
    click.echo("stopped")


def _print_urls(web_url: str, token_note: str, fleet: Any, probes: Any,
                settings: Settings) -> None:
    click.echo(f"web app:        {web_url}/   (admin token: {token_note})")
    click.echo(f"API:            {web_url}/api/v1/regions   {web_url}/api/v1/openapi.json")
    for region in fleet.endpoints():
        zones = "  ".join(f"{z}={url}" for z, url in region.zone_urls.items())
        click.echo(f"{region.region}: router {region.router_url}   zones {zones}")
    processes = ("" if settings.probe_processes == 1
                 else f" in {settings.probe_processes} processes")
    click.echo(f"probes:         {len(probes.locations)} locations "
               f"({', '.join(probes.locations)}), every {settings.probe_interval_s} s"
               f"{processes}; metrics at {web_url}/metrics")
    click.echo("Press Ctrl+C to stop.")


def all_jobs() -> tuple[Job, ...]:
    """Every package's job table, in one list for the scheduler and `bellwether jobs`."""
    from alerts.jobs import JOBS as ALERT_JOBS
    from core.jobs import JOBS as CORE_JOBS
    from probes.jobs import JOBS as PROBE_JOBS
    from probes.tls_jobs import JOBS as TLS_JOBS
    from reports.jobs import JOBS as REPORT_JOBS
    from status.jobs import JOBS as STATUS_JOBS
    from status.maintenance_notices import JOBS as MAINTENANCE_NOTICE_JOBS
    from status.site_jobs import JOBS as SITE_JOBS

    return (*CORE_JOBS, *PROBE_JOBS, *TLS_JOBS, *ALERT_JOBS, *STATUS_JOBS, *SITE_JOBS,
            *MAINTENANCE_NOTICE_JOBS, *REPORT_JOBS)


@click.group("jobs")
def jobs_group() -> None:
    """Background jobs: list them, or run one pass of one by hand."""


@jobs_group.command("list")
def jobs_list() -> None:
    jobs = all_jobs()
    width = max((len(job.name) for job in jobs), default=0)
    for job in jobs:
        click.echo(f"{job.name:<{width}}  every {job.every.total_seconds():>6g} s  "
                   f"{job.description}")


@jobs_group.command("run")
@click.argument("name")
@click.pass_context
def jobs_run(ctx: click.Context, name: str) -> None:
    """Run one pass of the job NAME against the configured database."""
    from core.cli import settings_from
    from core.remote import with_stable_secret_key
    from core.scheduler import JobContext, find_job

    job = find_job(all_jobs(), name)
    settings = with_stable_secret_key(settings_from(ctx))
    engine = make_engine(settings.effective_database_url)
    try:
        done = job.run(JobContext(settings, SystemClock(), make_session_factory(engine)))
    finally:
        engine.dispose()
    click.echo(f"{name}: {done} item(s)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A TOML file of settings (the environment wins over it).")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None) -> None:
    """Bellwether: synthetic monitoring, status pages and SLA accounting."""
    ctx.obj = config_file


def _register_commands() -> None:
    from commerce.cli import commerce_group, fault_group
    from core.cli import backup_command, db_group, restore_command, token_group, user_group
    from drills.cli import drill_command
    from probes.cli import agent_command
    from reports.cli import export_command
    from serve import commerce_serve_command, web_command, worker_command
    from sla.cli import sla_group
    from status.site_cli import publish_command

    sla_group.add_command(export_command)
    commerce_group.add_command(commerce_serve_command)
    for command in (up_command, web_command, worker_command, db_group, user_group, token_group,
                    fault_group, commerce_group, sla_group, jobs_group, agent_command,
                    publish_command, backup_command, restore_command, drill_command):
        cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: a BellwetherError is a message and exit status 2."""
    _register_commands()
    try:
        code = cli.main(args=argv, prog_name="bellwether", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 1 else exc.exit_code)
    except BellwetherError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(2)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
