"""`bellwether db|user|token`: schema, users and API tokens, run by operators by hand."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.orm import Session

from core.auth import create_token, create_user, parse_role
from core.clock import SystemClock
from core.config import Settings, load_settings
from core.db import database_kind, make_engine, make_session_factory, session_scope
from core.models import Role, User


def settings_from(ctx: click.Context) -> Settings:
    """Settings for a command: the environment, over the file given to `--config`."""
    config_file: Path | None = ctx.find_root().obj
    return load_settings(config_file=config_file)


@contextmanager
def operator_session(settings: Settings) -> Iterator[Session]:
    """One transaction on the configured database, its engine closed afterwards (a command
    leaves no connection behind)."""
    engine = make_engine(settings.effective_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


@click.group("db")
def db_group() -> None:
    """The database schema (Alembic)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Upgrade the schema (to the newest revision by default)."""
    from core import migrate

    settings = settings_from(ctx)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.effective_database_url, revision)
    click.echo(f"database at {revision}")


@db_group.command("downgrade")
@click.argument("revision")
@click.pass_context
def db_downgrade(ctx: click.Context, revision: str) -> None:
    """Downgrade the schema to REVISION ('base' removes every table)."""
    from core import migrate

    migrate.downgrade(settings_from(ctx).effective_database_url, revision)
    click.echo(f"database at {revision}")


@db_group.command("current")
@click.pass_context
def db_current(ctx: click.Context) -> None:
    """Print the schema revision the database is at."""
    from core import migrate

    migrate.current(settings_from(ctx).effective_database_url)


@db_group.command("check")
@click.pass_context
def db_check(ctx: click.Context) -> None:
    """Fail when the models and the migrated schema differ."""
    from core import migrate

    migrate.check(settings_from(ctx).effective_database_url)
    click.echo("schema matches the models")


@click.group("user")
def user_group() -> None:
    """Users and their roles."""


@user_group.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, help="admin, support, account_manager or agent")
@click.option("--name", default="")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              default="", show_default=False, help="Empty for an API-only user.")
@click.pass_context
def user_create(ctx: click.Context, email: str, role: str, name: str, password: str) -> None:
    """Create a user (the first admin, support engineers, account managers)."""
    with operator_session(settings_from(ctx)) as session:
        user = create_user(session, email=email, role=parse_role(role), name=name,
                           password=password or None, now=SystemClock().now())
        click.echo(f"created user {user.id} <{user.email}> with role {user.role}")


@click.group("token")
def token_group() -> None:
    """API tokens (stored hashed; the secret is printed once)."""


@token_group.command("create")
@click.option("--email", required=True, help="The user the token acts as.")
@click.option("--name", default="cli")
@click.option("--location", "locations", multiple=True, metavar="LOCATION",
              help="For an agent user: a probe location the token may submit checks for "
                   "(repeatable; at least one).")
@click.pass_context
def token_create(ctx: click.Context, email: str, name: str,
                 locations: tuple[str, ...]) -> None:
    """Create an API token and print its secret (it cannot be shown again)."""
    from sqlalchemy import select

    with operator_session(settings_from(ctx)) as session:
        user = session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise click.ClickException(f"no user with e-mail {email}")
        if user.role == Role.AGENT.value and not locations:
            raise click.UsageError("an agent token is bound to the probe locations it runs "
                                   "from: give --location LOCATION (repeatable)")
        click.echo(create_token(session, user, name=name, now=SystemClock().now(),
                                locations=locations))


@click.command("backup")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the backup (default: <data dir>/backups).")
@click.pass_context
def backup_command(ctx: click.Context, out_dir: Path | None) -> None:
    """Back the database up now (SQLite online backup, or pg_dump)."""
    from core.backup import backup_now
    from core.jobs import backup_dir

    settings = settings_from(ctx)
    directory = out_dir or backup_dir(settings)
    click.echo(f"backing up {database_kind(settings.effective_database_url)} into {directory}…")
    backup = backup_now(settings.effective_database_url, directory, SystemClock().now(),
                        int(settings.extra.get("backup_keep", 24)))
    click.echo(f"wrote {backup.path} ({backup.size:,} bytes)")


@click.command("restore")
@click.argument("backup", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing database.")
@click.pass_context
def restore_command(ctx: click.Context, backup: Path, force: bool) -> None:
    """Restore BACKUP into the configured database (a new one, unless --force)."""
    from core.backup import restore_backup

    settings = settings_from(ctx)
    restore_backup(backup, settings.effective_database_url, force=force)
    click.echo(f"restored {backup} into {settings.effective_database_url}")
