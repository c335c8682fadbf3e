"""``hub db``: migrate the database (the core's branch and each enabled plugin's) and show where it is."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

from .config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from .db import Branches, SchemaState


def _settings(ctx: click.Context) -> Settings:
    config = (ctx.find_root().obj or {}).get("config")
    try:
        settings = load_settings(config_file=config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    url = settings.resolved_database_url
    if not url.startswith(("sqlite", "postgresql")):
        raise click.ClickException(f"HUB_DATABASE_URL {url!r} is not a SQL database; nothing to migrate")
    return settings


def _branches(settings: Settings) -> Branches:
    """The plugins' branches: the enabled plugins' (HUB_PLUGINS) migrate, the other installed ones' are known."""
    from .plugin_schema import plugin_branches
    from .plugins import PluginError, load_plugins

    try:
        return plugin_branches(load_plugins(settings.plugins))
    except (PluginError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None


def _state(url: str, branches: Branches) -> SchemaState:
    from . import db as database

    async def read() -> SchemaState:
        engine = database.create_engine(url)
        try:
            async with engine.connect() as connection:
                return await database.schema_state(connection, branches)
        except RuntimeError as exc:  # a plugin's branch that is not labelled or not linear
            raise click.ClickException(str(exc)) from None
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _unknown(revision: str) -> str:
    return f"unknown: {revision} (neither the hub nor any installed plugin has this revision)"


def _report(state: SchemaState) -> str:
    return "\n".join([*(branch.describe() for branch in state.branches), *map(_unknown, state.unknown)])


@click.group("db")
def db() -> None:
    """The database (HUB_DATABASE_URL): migrations of the core and of each enabled plugin."""


@db.command()
@click.option("--revision", default="heads", show_default=True,
              help='Revision to upgrade to: "heads" takes the core and every enabled plugin each to its '
                   'newest; "<branch>@<revision>" one branch.')
@click.pass_context
def upgrade(ctx: click.Context, revision: str) -> None:
    """Create or migrate the tables of the core and of every enabled plugin."""
    from . import db as database

    settings = _settings(ctx)
    url, branches = settings.resolved_database_url, _branches(settings)
    unknown = _state(url, branches).unknown
    if unknown:
        raise click.ClickException(
            f"cannot migrate: {'; '.join(map(_unknown, unknown))}; a newer hub, or a plugin uninstalled since?"
        )
    try:
        asyncio.run(database.upgrade_url(url, revision, branches))
    except Exception as exc:  # Alembic's errors (a revision it cannot find...) are the operator's to read
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    click.echo(_report(_state(url, branches)))


@db.command()
@click.pass_context
def current(ctx: click.Context) -> None:
    """Show each branch's revision in the database, and whether it is the one this hub needs."""
    settings = _settings(ctx)
    click.echo(_report(_state(settings.resolved_database_url, _branches(settings))))
