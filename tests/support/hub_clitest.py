"""A test plugin that adds commands to the ``hub`` command line (``hub_cli_commands``)."""

from __future__ import annotations

import click

from hub import hookimpl


@click.command("greet")
@click.option("--name", default="world")
def greet(name: str) -> None:
    """Say hello."""
    click.echo(f"hello {name} from clitest")


@hookimpl
def hub_cli_commands() -> list[click.Command]:
    return [greet]
