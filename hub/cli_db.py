"""``hub db``: migrate the event log's database and show its revision."""

from __future__ import annotations

import asyncio

import click

from .config import ConfigError, load_settings


def _database_url(ctx: click.Context) -> str:
    config = (ctx.find_root().obj or {}).get("config")
    try:
        return load_settings(config_file=config).resolved_database_url
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _require_sql(url: str) -> None:
    if not url.startswith(("sqlite", "postgresql")):
        raise click.ClickException(f"HUB_DATABASE_URL {url!r} is not a SQL database; nothing to migrate")


@click.group("db")
def db() -> None:
    """The event log's database: schema migrations (HUB_DATABASE_URL)."""


@db.command()
@click.option("--revision", default="head", show_default=True, help="Revision to upgrade to.")
@click.pass_context
def upgrade(ctx: click.Context, revision: str) -> None:
    """Create or migrate the hub's tables up to the newest revision."""
    from . import db as database

    url = _database_url(ctx)
    _require_sql(url)
    asyncio.run(database.upgrade_url(url, revision))
    click.echo(f"database at revision {database.head_revision() if revision == 'head' else revision}")


@db.command()
@click.pass_context
def current(ctx: click.Context) -> None:
    """Show the database's revision and the one this hub needs."""
    from . import db as database

    url = _database_url(ctx)
    _require_sql(url)

    async def read() -> str | None:
        engine = database.create_engine(url)
        try:
            async with engine.connect() as connection:
                return await database.current_revision(connection)
        finally:
            await engine.dispose()

    revision = asyncio.run(read())
    head = database.head_revision()
    state = "up to date" if revision == head else "outdated: run `hub db upgrade`"
    click.echo(f"current: {revision or 'none'}\nneeded:  {head} ({state})")
