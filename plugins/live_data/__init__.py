"""live_data: lists and dashboards that update themselves (``live:<collection>``).

- Collections of keyed records, kept in the plugin's tables; every change is a
  durable event of ``live:<collection>`` (``live.added``, ``live.changed``,
  ``live.removed``, ``live.reset``), seen by each subscriber through its filter
  and the collection's policy.
- Sources: the HTTP API (``PUT``/``PATCH``/``DELETE /api/live/{collection}/{key}``,
  ``POST /api/live/{collection}/changes``), the Python service ``live_data``, and
  watched tables of the application's database (triggers and an outbox:
  ``hub live_data install-triggers``).

See docs/live_data.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub import ConsolePanel, InvalidMessage, Principal, Retention, TopicKind, Unavailable, hookimpl

from . import config
from .config import COLLECTION_PATTERN, KIND, NAME
from .filters import parse_filter
from .routes import live_routes
from .service import LiveData
from .store import LiveStore

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from hub import Hub, Settings

log = logging.getLogger("hub.live_data")


def parse_params(raw: dict[str, Any]) -> Any:
    """A ``live:`` subscription's parameters: ``filter`` only."""
    unknown = set(raw) - {"filter"}
    if unknown:
        raise InvalidMessage(f"live: subscriptions take 'filter' only (got {', '.join(sorted(map(str, unknown)))[:200]}).")
    return parse_filter(raw.get("filter"))


class LiveDataPlugin:
    """The plugin, one instance per hub (the entry point names this class)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.service = LiveData(hub, config.load({}), None)
        self.drainer: Any = None

    @staticmethod
    @hookimpl
    def hub_migrations() -> Path:
        return Path(__file__).parent / "migrations"

    @staticmethod
    @hookimpl
    def hub_cli_commands() -> list[Any]:
        from .cli import commands

        return commands()

    @staticmethod
    @hookimpl
    def hub_console_panels() -> list[ConsolePanel]:
        return [ConsolePanel.in_folder(Path(__file__).parent / "console", id="live-data", title="Live data", order=50)]

    @hookimpl
    def hub_config_defaults(self) -> dict[str, Any]:
        return config.defaults()

    def can_subscribe(self, principal: Principal, key: str) -> bool:
        return bool(COLLECTION_PATTERN.match(key)) and self.service.policy(key).may_read(principal)

    @hookimpl
    def hub_topic_kinds(self, hub: Hub) -> list[TopicKind]:
        days = config.load(hub.plugin_config(NAME)).settings.retention_days
        return [
            TopicKind(
                name=KIND,
                can_subscribe=self.can_subscribe,
                durable=True,
                retention=Retention(max_age=days * 86400 if days else None),
                params=parse_params,
                snapshot_for=self.service.snapshot,
                view=self.service.view,
                description="A collection's records: snapshot {records}, then live.added/changed/removed/reset.",
            )
        ]

    @hookimpl
    def hub_routes(self, hub: Hub) -> list[BaseRoute]:
        return live_routes(hub, self.service)

    # tryfirst and not async: the service is there for other plugins' hub_startup (to register rules).
    @hookimpl(tryfirst=True)
    def hub_startup(self, hub: Hub) -> None:
        loaded = config.load(hub.plugin_config(NAME))
        try:
            database = hub.database
        except Unavailable:
            log.warning("live_data: no SQL database (memory store); live routes answer 503")
            self.service.configure(loaded, None)
            return
        self.service.configure(loaded, LiveStore(database, keep_ids=loaded.settings.retention_days * 86400))
        hub.services.provide(NAME, self.service)
        self.service.on_match = hub.metrics.counter(
            "hub_live_data_view_matches_total", "Filter matches: one per event and distinct filter among its subscribers (not per subscriber)."
        ).inc
        self.service.on_change = hub.metrics.counter("hub_live_data_changes_total", "Changes stored.").inc
        watched = [c for c in self.service.config.collections.values() if c.watched]
        if watched and self.service.config.settings.source_url:
            from .drainer import Drainer

            self.drainer = Drainer(hub, self.service, watched)
            self.drainer.start()

    @hookimpl
    async def hub_shutdown(self) -> None:
        if self.drainer is not None:
            await self.drainer.stop()


__all__ = ["LiveData", "LiveDataPlugin"]
