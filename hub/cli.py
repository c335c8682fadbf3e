"""The ``hub`` command: serve, mint development tokens, list plugins, show the configuration."""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any

import click

from .config import (
    ConfigError, Settings, dev_address_refusal, dev_address_warning, load_settings, settings_reference,
)
from .plugins import PluginError


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    try:
        return load_settings(config_file=ctx.obj.get("config"), **overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


class _HubGroup(click.Group):
    """The ``hub`` group: the core's commands, and ``hub <plugin> ...`` for each plugin's ``hub_cli_commands``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_plugin_commands()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, name) or _plugin_commands().get(name)


def _plugin_commands() -> dict[str, click.Command]:
    """``{plugin: group}`` of the enabled plugins that add commands (plugins loaded, no hub built)."""
    from .plugins import PluginError, call_each, load_plugins

    try:
        pm = load_plugins(load_settings().plugins)
    except (PluginError, ConfigError):
        return {}  # `hub plugins` and `hub serve` say what is wrong with them
    groups: dict[str, click.Command] = {}
    for plugin, commands in call_each(pm, "hub_cli_commands"):
        group = click.Group(plugin, help=f"Commands of the plugin {plugin}.")
        for command in commands or ():
            group.add_command(command)
        groups[plugin] = group
    return groups


@click.group(cls=_HubGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", type=click.Path(dir_okay=False), help="TOML config file (or HUB_CONFIG).")
@click.version_option(package_name="hub")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """hub: a realtime event hub (Socket.IO topics, one envelope, a durable queue, plugins).

    Every setting is an environment variable (see `hub config`).
    """
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


@main.command()
@click.option("--host", help="Address to listen on (HUB_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (HUB_PORT, default 8000).")
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True,
    help="Hub processes to run, on PORT, PORT+1, ... (needs HUB_REDIS_URL and a shared database).",
)
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int) -> None:
    """Start the hub: Socket.IO and the HTTP API on one port (or one per worker)."""
    import uvicorn

    from ._compat import http_protocol, websocket_protocol
    from .app import create_app

    settings = _settings(ctx, host=host, port=port)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    refusal = dev_address_refusal(settings)
    if refusal is not None:
        raise click.ClickException(refusal)
    warning = dev_address_warning(settings)
    if warning is not None:
        # Loud on purpose: on the terminal and in the log, whatever the log level.
        click.echo(f"hub: {warning}", err=True)
        logging.getLogger("hub").critical(warning)
    if workers > 1:
        from .workers import supervise

        if not settings.redis_url:
            raise click.ClickException("--workers needs HUB_REDIS_URL: without it events would not cross processes")
        if settings.resolved_database_url.startswith("memory:"):
            raise click.ClickException("--workers needs a database the processes share (HUB_DATABASE_URL)")
        sys.exit(supervise(workers, settings.host, settings.port, ctx.obj.get("config"), settings.instance_id))
    try:
        app = create_app(settings)
    except (PluginError, ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if settings.dev:
        click.echo(
            "hub: development mode (no HUB_JWT_SECRET or key configured); "
            "mint a token with: hub token --sub alice",
            err=True,
        )
    # What exists now (modules, plugins, the app) lives as long as the process: moved out of
    # the collector's generations, it is not scanned again by every full collection, which
    # otherwise cost a publish over HTTP a fifth of its CPU.
    gc.collect()
    gc.freeze()
    # Each connection leaves a few hundred objects behind for the collector to track, and with
    # the default thresholds (700, 10, 10) a full collection walks every held connection over
    # and over while thousands connect: 19,500 idle connections accepted 615 connects/s with
    # them and 907/s with these (bench/fanout/run.py --workloads idle). Garbage cycles still go,
    # in fewer, larger collections.
    gc.set_threshold(50_000, 50, 1000)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        http=http_protocol(app.hub.sio),
        ws=websocket_protocol(app.hub.sio),
        ws_per_message_deflate=settings.ws_compression,
        # Engine.IO's own ping/pong already tells a dead connection; uvicorn's
        # websocket pings on top cost a timer and a frame per connection.
        ws_ping_interval=None,
        lifespan="on",
        access_log=False,
        # A long-polling client that left cleanly leaves its last GET pending on the
        # server until the ping timeout (45 s by default); do not let it hold up a stop.
        timeout_graceful_shutdown=5,
    )


@main.command()
@click.option("--sub", required=True, help="The user id.")
@click.option("--role", "roles", multiple=True, help="A role (repeat for several), e.g. admin or service.")
@click.option("--name", help="Display name.")
@click.option("--ttl", default=3600, show_default=True, help="Lifetime in seconds.")
@click.pass_context
def token(ctx: click.Context, sub: str, roles: tuple[str, ...], name: str | None, ttl: int) -> None:
    """Mint a token signed with the hub's HS256 secret (development and testing)."""
    from .auth import mint_token

    settings = _settings(ctx)
    if not settings.jwt_secret:
        raise click.ClickException("no HS256 secret is configured (HUB_JWT_SECRET); the hub verifies keys only")
    if "HS256" not in settings.jwt_algorithms:
        raise click.ClickException("HS256 is not in HUB_JWT_ALGORITHMS, so the hub would refuse this token")
    extra = {}
    if settings.jwt_audience:
        extra["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        extra["iss"] = settings.jwt_issuer
    click.echo(mint_token(settings.jwt_secret, sub, roles, name=name, ttl=ttl, **extra))


@main.command("plugins")
@click.pass_context
def plugins_command(ctx: click.Context) -> None:
    """List the installed plugins and whether they are enabled."""
    from .plugins import list_plugins

    settings = _settings(ctx)
    infos = list_plugins(settings.plugins)
    if not infos:
        click.echo("no plugins installed")
    for info in infos:
        state = "enabled" if info.enabled else "disabled"
        click.echo(f"{info.name:<20} {state:<9} {info.distribution} {info.version}  ({info.value})")


@main.command("config")
def config_command() -> None:
    """Show every setting: environment variable, default, meaning; then each installed plugin's settings."""
    for env, default, help_text in settings_reference():
        click.echo(f"{env}  [default: {default or '-'}]\n    {help_text}")
    for plugin, defaults in _plugin_defaults():
        click.echo(f"\n[plugins.{plugin}]")
        for key, default in defaults.items():
            shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
            click.echo(f"HUB_PLUGIN_{plugin.upper()}_{key.upper()}  [default: {shown or '-'}]")


def _plugin_defaults() -> list[tuple[str, dict[str, Any]]]:
    """Every installed plugin's configuration defaults (``hub_config_defaults``), as a hub would merge them."""
    from .eventlog import open_event_log
    from .hub import Hub
    from .plugins import find_plugins

    # Defaults only: no environment or file (their values may be secrets), and a key
    # given here so that listing settings never creates the development secret.
    settings = load_settings(environ={}, jwt_secret="-" * 32)
    hub = Hub(settings, find_plugins(None), open_event_log("memory://"))
    return [(name, dict(hub.plugin_config(name))) for name in hub.plugins]


from .cli_db import db  # noqa: E402  (a separate module: the db commands)

main.add_command(db)


from .cli_admin import events_command, replay_command  # noqa: E402

main.add_command(events_command)
main.add_command(replay_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
