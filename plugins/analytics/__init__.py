"""analytics: live figures of the hub and its plugins, for the whole cluster, streamed to admins, with history.

- Topic kind ``stats`` (admins only): ``stats:cluster`` gets ``stats.tick``
  every second (connections, events and deliveries per second by topic kind
  and event type, delivery latency p50/p99, offline-queue backlog, slow
  consumers, refusals by code, database and broker health, the plugins'
  figures); ``stats:topic:<topic>`` gets ``stats.occupancy`` when the topic's
  subscribers change. The snapshot is the latest of either.
- Route ``GET /api/analytics/history?from&to&step`` (admin): the stored
  rollup intervals (table ``analytics_rollups``, migration ``analytics_0001``).
- Console: the admin page's live charts (uPlot, vendored in ``console/``),
  in place of the core's hand-drawn chart.

Every figure is read through ``hub.metrics.read()``; several processes share
theirs through Redis (see :mod:`.board`). See docs/analytics.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub import Connection, ConsolePanel, Hub, Principal, TopicKind, Unavailable, hookimpl

from .board import LocalBoard, RedisBoard
from .config import DEFAULTS, KIND, NAME, AnalyticsConfig
from .history import HistoryStore
from .routes import routes
from .runtime import CLUSTER, TOPIC_PREFIX, Analytics

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

__all__ = ["AnalyticsPlugin"]

TOPIC = re.compile(r"^[a-z][a-z0-9_]*:[A-Za-z0-9_.@:-]{1,200}$")


def can_watch(principal: Principal, key: str) -> bool:
    """Admins only, and only ``cluster`` or ``topic:<a valid topic>``."""
    if not principal.has_role("admin"):
        return False
    return key == "cluster" or (key.startswith("topic:") and bool(TOPIC.match(key[len("topic:"):])))


class AnalyticsPlugin:
    """The plugin, one instance per hub (the entry point names this class)."""

    def __init__(self, hub: Hub) -> None:
        self.analytics: Analytics | None = None

    def running(self) -> Analytics:
        if self.analytics is None:
            raise Unavailable("Analytics is not running on this hub.")
        return self.analytics

    async def snapshot(self, principal: Principal, topic: str) -> dict[str, Any]:
        return await self.running().snapshot(topic)

    @staticmethod
    @hookimpl
    def hub_migrations() -> Path:
        # Static: `hub db` asks for the folder without building a hub.
        return Path(__file__).parent / "migrations"

    @staticmethod
    @hookimpl
    def hub_console_panels() -> list[ConsolePanel]:
        # The admin page's charts; they take the place of the core's own chart (replaces=).
        folder = Path(__file__).parent / "console"
        return [ConsolePanel(
            "analytics", "Cluster analytics", folder / "panel.html", folder / "panel.js", page="admin", order=5,
            replaces="rate-chart-wrap",
        )]

    @hookimpl
    def hub_config_defaults(self) -> dict[str, Any]:
        return dict(DEFAULTS)

    @hookimpl
    def hub_topic_kinds(self) -> list[TopicKind]:
        return [TopicKind(
            name=KIND, can_subscribe=can_watch, durable=False, snapshot=self.snapshot,
            description="Live figures for admins: stats:cluster (stats.tick), stats:topic:<topic> (stats.occupancy).",
        )]

    @hookimpl
    def hub_routes(self, hub: Hub) -> list[BaseRoute]:
        return routes(hub, self.running)

    @hookimpl
    async def hub_startup(self, hub: Hub) -> None:
        config = AnalyticsConfig.load(hub.plugin_config(NAME))
        health = await hub.health()
        node = str(health.get("instance") or "hub")
        url = config.redis_url or hub.settings.redis_url
        board: LocalBoard = (
            RedisBoard(url, f"{hub.settings.redis_prefix}:{NAME}", node, config.node_timeout_seconds)
            if url else LocalBoard()
        )
        try:
            store: HistoryStore | None = HistoryStore(hub.database)
        except Unavailable:
            store = None  # memory:// store: live figures only, no history
        self.analytics = Analytics(hub, config, board, store, node)
        self.analytics.start()

    @hookimpl
    async def hub_shutdown(self) -> None:
        analytics, self.analytics = self.analytics, None
        if analytics is not None:
            await analytics.stop()

    @hookimpl
    def hub_subscribe(self, connection: Connection, topic: str) -> None:
        if self.analytics is not None and (topic == CLUSTER or topic.startswith(TOPIC_PREFIX)):
            self.analytics.watch(connection.id, topic)

    @hookimpl
    def hub_unsubscribe(self, connection: Connection, topic: str) -> None:
        if self.analytics is not None and topic.startswith(f"{KIND}:"):
            self.analytics.unwatch(connection.id, topic)

    @hookimpl
    def hub_disconnect(self, connection: Connection) -> None:
        if self.analytics is not None:
            for topic in connection.subscriptions:
                if topic.startswith(f"{KIND}:"):
                    self.analytics.unwatch(connection.id, topic)
