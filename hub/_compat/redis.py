"""python-socketio's pub/sub manager steps, for the Redis broker's probes (optimisation ``redis_broker_probe``).

python-socketio's pub/sub managers publish through ``_publish(data)`` and read
through the async generator ``_listen()``, both run by the manager's listener
task (``_thread``, kept as ``thread``); its documentation names them as what a
pub/sub manager implements. :mod:`hub.broker` needs both to be its own: a
publish that fails marks the broker down, and the listener recognises the
probes that prove the subscription live. :class:`RedisPubSub` routes them to
:meth:`~RedisPubSub.publish_message` and :meth:`~RedisPubSub.listen_messages`,
and gives the other internals the broker reads a public name here.

When :func:`check` fails, :mod:`hub.broker` uses python-socketio's own Redis
manager, listening as it does: events still cross processes, without the probe
(its ``/api/health`` broker state then stays ``ok``, unable to see an outage).
It still publishes through :class:`RedisPublish`: ``_publish`` is the step the
library's documentation asks a pub/sub manager to implement, and python-socketio
calls it once per emit, each on a pooled connection of its own, so a burst past
redis-py's pool limit failed there too (:mod:`hub.broker_outbox`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import socketio
from socketio import async_pubsub_manager, base_manager

from .checks import method, uses

NAME = "redis_broker_probe"


def check() -> None:
    """What :class:`RedisPubSub` overrides and reads."""
    manager = async_pubsub_manager.AsyncPubSubManager
    where = "socketio.AsyncPubSubManager"
    method(manager, "_publish", where, ("data",), coroutine=True)
    method(manager, "_listen", where, coroutine=True)
    uses(manager._thread, ["_listen"], f"{where}._thread")
    uses(manager.emit, ["_publish"], f"{where}.emit")
    uses(manager.initialize, ["thread"], f"{where}.initialize")
    uses(manager.__init__, ["host_id", "channel"], f"{where}.__init__")
    method(socketio.AsyncRedisManager, "_get_redis_module", "socketio.AsyncRedisManager")
    uses(socketio.base_server.BaseServer.__init__, ["manager_initialized"], "socketio.base_server.BaseServer.__init__")
    method(base_manager.BaseManager, "is_pre_connected", "socketio.base_manager.BaseManager", ("sid", "namespace"))


def initialize(manager: Any) -> None:
    """Start ``manager``'s listener now rather than at the first connection (python-socketio's own rule)."""
    server = manager.server
    if not server.manager_initialized:
        server.manager_initialized = True
        manager.initialize()


def listener(manager: Any) -> asyncio.Future[Any] | None:
    """The listener task python-socketio started for ``manager``, if any."""
    task = getattr(manager, "thread", None)
    return task if isinstance(task, asyncio.Future) else None


def redis_module(manager: Any) -> Any:
    """The ``redis.asyncio`` (or valkey) module for the manager's URL; fails naming the package to install."""
    return manager._get_redis_module()


class RedisPublish(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager publishing through the hub's own :meth:`publish_message`."""

    async def publish_message(self, data: Any) -> None:
        """Send ``data`` to the other processes (what ``_publish`` does)."""
        raise NotImplementedError

    async def library_publish(self, data: Any) -> None:
        """python-socketio's own publish of ``data``: its message format, its retry on a new connection."""
        await super()._publish(data)

    async def _publish(self, data: Any) -> None:
        await self.publish_message(data)


class RedisPubSub(RedisPublish):
    """python-socketio's Redis manager publishing and listening through the hub's own methods."""

    def listen_messages(self) -> AsyncIterator[Any]:
        """The messages of the channel, one by one (what ``_listen`` yields)."""
        raise NotImplementedError

    @property
    def sender_id(self) -> str:
        """This manager's id on the channel (python-socketio's ``host_id``)."""
        return str(self.host_id)

    async def _listen(self) -> AsyncIterator[Any]:
        async for message in self.listen_messages():
            yield message
