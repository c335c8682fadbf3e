"""presence: who is online, who is in a room, who is typing.

- Topic kind ``presence:<room>``: subscribing joins the room; the reply's
  snapshot is ``{members: [{user, name, connections, since}]}``. Events
  ``presence.joined`` / ``presence.left`` (first connection in, last one out,
  after a grace period for lost connections) and ``presence.typing``.
- Request ``presence.typing {room, typing}``: to the room's other members only,
  never stored, throttled, ending by itself.
- Route ``GET /api/presence/users?ids=...``: online state and last-seen time
  (table ``presence_last_seen``, its own migration ``presence_0001``).
- Service ``presence`` (``hub.services.provide``): the :class:`Presence` object
  (``await members(room)``, ``await users(ids)``).

Who may join a room: any authenticated user, narrowed by any plugin's
``hub_authorize_subscribe`` (see docs/presence.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub import Connection, ConsolePanel, Database, Hub, Principal, TopicKind, Unavailable, anyone, hookimpl

from . import api
from .config import DEFAULTS, PresenceConfig
from .last_seen import LastSeen
from .rooms import KIND, Presence
from .store import open_store

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from hub import RequestHandler

NAME = "presence"  # the entry point's name in pyproject.toml

__all__ = ["Presence", "PresencePlugin"]


class PresencePlugin:
    """The plugin, one instance per hub (the entry point names this class).

    ``self.presence`` is this hub's presence state, set up in ``hub_startup``;
    the kind's snapshot, the request and the routes reach it through ``self``.
    """

    def __init__(self, hub: Hub) -> None:
        self.presence: Presence | None = None

    def presence_of(self) -> Presence:
        """The presence state of this plugin's hub (set up in ``hub_startup``)."""
        if self.presence is None:
            raise Unavailable("Presence is not running on this hub.")
        return self.presence

    async def snapshot(self, principal: Principal, topic: str) -> dict[str, Any]:
        """The ``presence`` kind's snapshot: the room's members."""
        return await self.presence_of().snapshot(principal, topic)

    @staticmethod
    @hookimpl
    def hub_migrations() -> Path:
        # Static: `hub db` asks for the folder without building a hub.
        return Path(__file__).parent / "migrations"

    @staticmethod
    @hookimpl
    def hub_console_panels() -> list[ConsolePanel]:
        # The card on the console's demo page: console/panel.html and its module console/panel.js.
        return [ConsolePanel.in_folder(Path(__file__).parent / "console", id="presence", title="Presence", order=30)]

    @hookimpl
    def hub_config_defaults(self) -> dict[str, Any]:
        return dict(DEFAULTS)

    @hookimpl
    def hub_topic_kinds(self) -> list[TopicKind]:
        return [
            TopicKind(
                name=KIND,
                can_subscribe=anyone,
                durable=False,
                snapshot=self.snapshot,
                description="Presence rooms: subscribing joins; members, joins, leaves and typing, nothing stored.",
            )
        ]

    @hookimpl
    def hub_requests(self) -> dict[str, RequestHandler]:
        return {"typing": api.typing_handler(self.presence_of)}

    @hookimpl
    def hub_routes(self, hub: Hub) -> list[BaseRoute]:
        return api.routes(hub, self.presence_of)

    @hookimpl
    async def hub_startup(self, hub: Hub) -> None:
        config = PresenceConfig.load(hub.plugin_config(NAME))
        try:
            database: Database | None = hub.database
        except Unavailable:
            database = None  # memory:// event store: last-seen times live as long as the process
        store = open_store(_store_url(hub, config), prefix=f"{hub.settings.redis_prefix}:presence")
        presence = self.presence = Presence(hub, config, store, LastSeen(database))
        hub.services.provide(NAME, presence)
        hub.start_task(presence.last_seen_loop(), name="presence-last-seen")
        if presence.store.shared:
            hub.start_task(presence.heartbeat_loop(), name="presence-heartbeat")

    @hookimpl
    async def hub_shutdown(self) -> None:
        presence, self.presence = self.presence, None
        if presence is not None:
            await presence.stop()

    @hookimpl
    async def hub_connect(self, connection: Connection) -> None:
        if self.presence is not None:
            await self.presence.connected(connection)

    @hookimpl
    async def hub_disconnect(self, connection: Connection) -> None:
        if self.presence is not None:
            await self.presence.disconnected(connection)

    @hookimpl
    def hub_authorize_subscribe(self, connection: Connection, topic: str) -> None:
        # No objection of its own (the kind's policy is `anyone`); this only makes sure the
        # connection is known before the snapshot, which runs ahead of hub_subscribe.
        if self.presence is not None and topic.startswith(f"{KIND}:"):
            self.presence.track(connection)

    @hookimpl
    async def hub_subscribe(self, connection: Connection, topic: str) -> None:
        if self.presence is not None and topic.startswith(f"{KIND}:"):
            await self.presence.join(connection, topic)

    @hookimpl
    async def hub_unsubscribe(self, connection: Connection, topic: str) -> None:
        if self.presence is not None and topic.startswith(f"{KIND}:"):
            await self.presence.leave(connection.id, connection.user, topic)


def _store_url(hub: Hub, config: PresenceConfig) -> str:
    """The configured store; by default Redis when the hub runs on Redis (``HUB_REDIS_URL``), else memory."""
    return config.store or hub.settings.redis_url or "memory://"
