"""presence: who is online, who is in a room, who is typing.

- Topic kind ``presence:<room>``: subscribing joins the room; the reply's
  snapshot is ``{members: [{user, name, connections, since}]}``. Events
  ``presence.joined`` / ``presence.left`` (first connection in, last one out,
  after a grace period for lost connections) and ``presence.typing``.
- Request ``presence.typing {room, typing}``: to the room's other members only,
  never stored, throttled, ending by itself.
- Route ``GET /api/presence/users?ids=...``: online state and last-seen time
  (table ``presence_last_seen``, revision 0004).
- Service ``presence`` (``hub.services.provide``): the :class:`Presence` object
  (``await members(room)``, ``await users(ids)``).

Who may join a room: any authenticated user, narrowed by any plugin's
``hub_authorize_subscribe`` (see docs/presence.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from hub import Connection, Hub, Principal, TopicKind, Unavailable, anyone, hookimpl

from . import api
from .config import DEFAULTS, PresenceConfig
from .last_seen import LastSeen
from .rooms import KIND, Presence
from .store import open_store

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from hub import Settings
    from hub.requests import RequestHandler

NAME = "presence"  # the entry point's name in pyproject.toml

__all__ = ["Presence", "presence_of"]

_instances: WeakKeyDictionary[Hub, Presence] = WeakKeyDictionary()


def presence_of(hub: Hub) -> Presence:
    """The presence state of ``hub`` (set up in ``hub_startup``)."""
    presence = _instances.get(hub)
    if presence is None:
        raise Unavailable("Presence is not running on this hub.")
    return presence


class RoomSnapshot:
    """The ``presence`` kind's snapshot provider, bound to its hub's presence at start-up.

    The kind is registered before the hub exists, so the provider is an object
    that ``hub_startup`` finds through ``hub.topics`` and binds.
    """

    presence: Presence | None = None

    async def __call__(self, principal: Principal, topic: str) -> dict[str, Any]:
        if self.presence is None:
            raise Unavailable("Presence is not running on this hub.")
        return await self.presence.snapshot(principal, topic)


@hookimpl
def hub_config_defaults() -> dict[str, Any]:
    return dict(DEFAULTS)


@hookimpl
def hub_topic_kinds(settings: Settings) -> list[TopicKind]:
    return [
        TopicKind(
            name=KIND,
            can_subscribe=anyone,
            durable=False,
            snapshot=RoomSnapshot(),
            description="Presence rooms: subscribing joins; members, joins, leaves and typing, nothing stored.",
        )
    ]


@hookimpl
def hub_requests(hub: Hub) -> dict[str, RequestHandler]:
    return {"typing": api.typing_handler(presence_of)}


@hookimpl
def hub_routes(hub: Hub) -> list[BaseRoute]:
    return api.routes(hub, presence_of)


@hookimpl
async def hub_startup(hub: Hub) -> None:
    config = PresenceConfig.load(hub.plugin_config(NAME))
    try:
        engine = hub.engine
    except Unavailable:
        engine = None  # memory:// event store: last-seen times live as long as the process
    store = open_store(_store_url(hub, config), prefix=f"{hub.settings.redis_prefix}:presence")
    presence = Presence(hub, config, store, LastSeen(engine))
    kind, _ = hub.topics.resolve(f"{KIND}:_")
    if isinstance(kind.snapshot, RoomSnapshot):
        kind.snapshot.presence = presence
    _instances[hub] = presence
    hub.services.provide(NAME, presence)
    hub.start_task(presence.last_seen_loop(), name="presence-last-seen")
    if presence.store.shared:
        hub.start_task(presence.heartbeat_loop(), name="presence-heartbeat")


def _store_url(hub: Hub, config: PresenceConfig) -> str:
    """The configured store; by default Redis when the hub runs on Redis (``HUB_REDIS_URL``), else memory."""
    return config.store or hub.settings.redis_url or "memory://"


@hookimpl
async def hub_shutdown(hub: Hub) -> None:
    presence = _instances.pop(hub, None)
    if presence is not None:
        await presence.stop()


@hookimpl
async def hub_connect(hub: Hub, connection: Connection) -> None:
    presence = _instances.get(hub)
    if presence is not None:
        await presence.connected(connection)


@hookimpl
async def hub_disconnect(hub: Hub, connection: Connection) -> None:
    presence = _instances.get(hub)
    if presence is not None:
        await presence.disconnected(connection)


@hookimpl
def hub_authorize_subscribe(hub: Hub, connection: Connection, topic: str) -> None:
    # No objection of its own (the kind's policy is `anyone`); this only makes sure the
    # connection is known before the snapshot, which runs ahead of hub_subscribe.
    presence = _instances.get(hub)
    if presence is not None and topic.startswith(f"{KIND}:"):
        presence.track(connection)


@hookimpl
async def hub_subscribe(hub: Hub, connection: Connection, topic: str) -> None:
    presence = _instances.get(hub)
    if presence is not None and topic.startswith(f"{KIND}:"):
        await presence.join(connection, topic)


@hookimpl
async def hub_unsubscribe(hub: Hub, connection: Connection, topic: str) -> None:
    presence = _instances.get(hub)
    if presence is not None and topic.startswith(f"{KIND}:"):
        await presence.leave(connection.id, connection.user, topic)
