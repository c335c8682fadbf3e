"""``hub live_data ...``: watch a table of the application's database (triggers and outbox), or stop watching it."""

from __future__ import annotations

import asyncio
from typing import Any

import click

URL_HELP = "The application's database (default: HUB_PLUGIN_LIVE_DATA_SOURCE_URL, else HUB_DATABASE_URL)."


def _url(url: str | None) -> str:
    import os

    value = url or os.environ.get("HUB_PLUGIN_LIVE_DATA_SOURCE_URL") or os.environ.get("HUB_DATABASE_URL")
    if not value:
        raise click.ClickException("say which database: --url, HUB_PLUGIN_LIVE_DATA_SOURCE_URL or HUB_DATABASE_URL")
    return value


async def _columns(connection: Any, table: str) -> list[str]:
    import sqlalchemy as sa

    rows = (await connection.execute(sa.text(f"PRAGMA table_info({table})"))).all()
    return [row[1] for row in rows]


def _run(url: str, build: Any, print_only: bool) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    async def go() -> list[str]:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                statements: list[str] = await build(connection, engine.dialect.name)
                if not print_only:
                    for statement in statements:
                        await connection.exec_driver_sql(statement)
                return statements
        finally:
            await engine.dispose()

    try:
        statements = asyncio.run(go())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if print_only:
        click.echo(";\n\n".join(statements) + ";")
    else:
        click.echo(f"done: {len(statements)} statements")


@click.command("install-triggers")
@click.option("--table", required=True, help="The table to watch.")
@click.option("--key", default="id", show_default=True, help="Its primary key column (the records' key).")
@click.option("--url", help=URL_HELP)
@click.option("--print", "print_only", is_flag=True, help="Print the SQL instead of running it.")
@click.option("--backfill/--no-backfill", default=True, show_default=True,
              help="Also put the rows already in TABLE into the outbox, so the collection starts complete.")
def install_triggers(table: str, key: str, url: str | None, print_only: bool, backfill: bool) -> None:
    """Create the outbox (once) and the triggers that write every change of TABLE into it."""
    from .triggers import backfill_sql, install_sql

    async def build(connection: Any, dialect: str) -> list[str]:
        columns = await _columns(connection, table) if dialect == "sqlite" else None
        statements = install_sql(dialect, table, key, columns)
        return statements + (backfill_sql(dialect, table, key, columns) if backfill else [])

    _run(_url(url), build, print_only)


@click.command("remove-triggers")
@click.option("--table", required=True, help="The table to stop watching.")
@click.option("--url", help=URL_HELP)
@click.option("--print", "print_only", is_flag=True, help="Print the SQL instead of running it.")
def remove_triggers(table: str, url: str | None, print_only: bool) -> None:
    """Drop TABLE's triggers (the outbox stays, with what it holds, for the other watched tables)."""
    from .triggers import remove_sql

    async def build(connection: Any, dialect: str) -> list[str]:
        return remove_sql(dialect, table)

    _run(_url(url), build, print_only)


def commands() -> list[click.Command]:
    return [install_triggers, remove_triggers]
