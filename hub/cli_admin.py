"""``hub events`` and ``hub replay``: the admin routes from the command line.

They talk to a running hub over HTTP (``--url``, default the configured host
and port) with an admin token (``--token`` or ``HUB_TOKEN``; in development
mode one is minted from the development secret).
"""

from __future__ import annotations

import sys
from typing import Any

import click
import httpx

from .auth import mint_token
from .config import Settings, load_settings
from .jsoncodec import dumps


def admin_client(ctx: click.Context, url: str | None, token: str | None) -> httpx.Client:
    settings: Settings = load_settings(config_file=ctx.obj.get("config") if ctx.obj else None)
    if not token:
        if not settings.dev:
            raise click.ClickException("an admin token is needed: --token or HUB_TOKEN")
        token = mint_token(settings.jwt_secret, "cli", ["admin"], ttl=600)
    base = url or f"http://{settings.host}:{settings.port}"
    return httpx.Client(base_url=base, headers={"authorization": f"Bearer {token}"}, timeout=60)


def _check(response: httpx.Response) -> dict[str, Any]:
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        error = body.get("error", {})
        raise click.ClickException(f"{response.status_code} {error.get('code', '')}: {error.get('message', response.text)}")
    return body


def filter_options(command: Any) -> Any:
    options = [
        click.option("--topic", help="Exact topic, e.g. user:42."),
        click.option("--type", "type_", help="Event type, e.g. notification.created."),
        click.option("--user", help="Events sent by this user or in this user's inbox."),
        click.option("--from", "ts_from", help="From this time (RFC 3339, e.g. 2026-11-24T07:00:00.000Z)."),
        click.option("--to", "ts_to", help="Up to this time (RFC 3339)."),
        click.option("--seq-from", type=int, help="Lowest seq."),
        click.option("--seq-to", type=int, help="Highest seq."),
        click.option("--url", envvar="HUB_URL", help="The hub's base URL (HUB_URL)."),
        click.option("--token", envvar="HUB_TOKEN", help="An admin token (HUB_TOKEN)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _filters(**values: Any) -> dict[str, Any]:
    names = {"type_": "type"}
    return {names.get(key, key): value for key, value in values.items() if value is not None}


@click.command("events")
@filter_options
@click.option("--limit", default=50, show_default=True, help="How many events to show.")
@click.option("--json", "as_json", is_flag=True, help="One JSON envelope per line.")
@click.pass_context
def events_command(ctx: click.Context, /, url: str | None, token: str | None, limit: int, as_json: bool, **filters: Any) -> None:
    """Search the event log of a running hub."""
    params = _filters(**filters)
    shown = 0
    with admin_client(ctx, url, token) as client:
        after = None
        while shown < limit:
            page = _check(client.get("/api/admin/events", params={**params, "limit": min(1000, limit - shown),
                                                                   **({"after": after} if after else {})}))
            for event in page["events"]:
                shown += 1
                if as_json:
                    click.echo(dumps(event))
                else:
                    click.echo(f"{event['ts']}  {event['topic']:<30} #{event['seq']:<6} {event['type']:<28} {event['id']}")
            after = page["next"]
            if not after:
                break
    if not as_json:
        click.echo(f"{shown} event(s)", err=True)


@click.command("replay")
@filter_options
@click.option("--to-user", help="Send the copies to this user's inbox instead of their own topics.")
@click.option("--dry-run", is_flag=True, help="Only count what would be replayed.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def replay_command(
    ctx: click.Context, /, url: str | None, token: str | None, to_user: str | None, dry_run: bool, yes: bool, **filters: Any
) -> None:
    """Replay past events of a running hub, with a progress bar."""
    body = _filters(**filters)
    if not body:
        raise click.UsageError("give at least one filter (--topic, --type, --user, --from/--to, --seq-from/--seq-to)")
    if to_user:
        body["to_user"] = to_user
    with admin_client(ctx, url, token) as client:
        counted = _check(client.post("/api/admin/replay", json={**body, "dry_run": True}))
        total = counted["count"]
        click.echo(f"{total} event(s) match", err=True)
        if dry_run or total == 0:
            return
        if not yes:
            click.confirm(f"Replay {total} event(s)?", abort=True)
        replay_id, after, sent = None, None, 0
        bar: Any
        with click.progressbar(length=total, label="replaying", file=sys.stderr) as bar:
            while True:
                request = {**body, "limit": 200, **({"after": after} if after else {}),
                           **({"replay_id": replay_id} if replay_id else {})}
                page = _check(client.post("/api/admin/replay", json=request))
                replay_id, after = page["replay_id"], page["next"]
                sent += page["count"]
                bar.update(page["count"])
                if not after:
                    break
        click.echo(f"replayed {sent} event(s) as replay {replay_id}")
