"""Fan-out between hub processes: the manager that carries every emit, and the broker's health.

Without ``HUB_REDIS_URL`` the hub is one process and its manager keeps rooms
in memory (:class:`~hub.delivery.HubManager`). With it, every emit goes to this
process's own subscribers (through :class:`~hub.delivery.LocalDelivery`) and
to a Redis channel, from which every other process delivers it to its own.

Redis pub/sub keeps nothing: a process that is not subscribed when a message
is published never gets it. Durable events are stored before they are
published, so none is lost for good; what this module adds is noticing, and
catching up. A probe sends a message through the channel every
``HUB_BROKER_PROBE_INTERVAL`` seconds and waits for it to come back. A failed
publish, a broken subscription or a probe that does not come back marks the
broker down (``/api/health``, the gauge ``hub_broker_up``); the first probe
that comes back afterwards proves the subscription live again, and only then
a recovery pass sends every local connection, from the log, the durable events
it missed on the topics it follows (:func:`recover`). Anything published after
the probe came back arrives live; anything before is in the log; the per
connection cursors of :mod:`hub.delivery` drop what arrives both ways.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from prometheus_client import CollectorRegistry, Counter, Gauge

from ._compat import redis as compat_redis
from ._compat.checks import Report
from .broker_outbox import Message, Outbox, patient_timeout, timed_out
from .delivery import LocalDelivery
from .types import Broker

if TYPE_CHECKING:
    from .config import Settings
    from .types import CoreHub as Hub

logger = logging.getLogger("hub.broker")

PROBE_PREFIX = b"hub-probe:"
#: Longest a publish may hold up the request that published (the event is stored already).
PUBLISH_TIMEOUT = 2.0
#: Longest wait between two attempts to subscribe again (python-socketio's own backoff goes to 60 s).
MAX_RESUBSCRIBE_DELAY = 2.0


def instance_name(settings: Settings) -> str:
    """This process's name: ``HUB_INSTANCE_ID``, or host name and process id."""
    return settings.instance_id or f"{socket.gethostname()}-{os.getpid()}"


class BrokerMetrics:
    """The broker's gauges and counters, in the hub's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.up = Gauge(
            "hub_broker_up", "1 while events reach the other hub processes (always 1 on a single process).",
            registry=registry,
        )
        self.publish_failures = Counter(
            "hub_broker_publish_failures_total",
            "Messages that could not be published to the broker (durable events stay in the log).",
            registry=registry,
        )
        self.outages = Counter("hub_broker_outages_total", "Times the broker was found down.", registry=registry)
        self.recovered = Counter(
            "hub_broker_recovered_events_total", "Durable events sent from the log after a broker outage.",
            registry=registry,
        )
        self.up.set(1)


class LocalBroker:
    """One process, no broker: nothing to watch."""

    kind = "local"

    def __init__(self, metrics: BrokerMetrics | None = None) -> None:
        self.metrics = metrics

    def status(self) -> str:
        """``local``, ``ok`` or ``down: <reason>`` (``/api/health``'s ``broker``)."""
        return "local"

    async def start(self) -> None:
        """Start watching (nothing to do here)."""

    async def stop(self) -> None:
        """Stop watching (nothing to do here)."""


class HubRedisManager(compat_redis.RedisPubSub, LocalDelivery):
    """python-socketio's Redis manager, ending every local delivery in :class:`LocalDelivery`.

    Method resolution order: ``RedisPubSub``, ``RedisPublish``, ``AsyncRedisManager``,
    ``AsyncPubSubManager``, ``LocalDelivery``, ``AsyncManager``: every local
    delivery (local emits and messages from other processes alike) lands in
    ``LocalDelivery.emit``. It publishes and listens through its own
    :meth:`publish_message` and :meth:`listen_messages` (see :mod:`hub._compat.redis`).
    """

    kind = "redis"

    def __init__(self, hub: Hub, url: str, channel: str, probe_interval: float, metrics: BrokerMetrics) -> None:
        super().__init__(url=url, channel=channel, redis_options=_redis_options(url))
        self.hub = hub
        self.metrics = metrics
        self.probe_interval = max(0.05, probe_interval)
        self.instance = instance_name(hub.settings)
        self._url = url
        self._options = _redis_options(url)
        self._listener_client: Any = None
        self._pubsub: Any = None
        self._up = False
        self._reason = "not connected yet"
        self._needs_recovery = False
        self._publisher: Any = None
        # Every emit crosses to the other processes through here, in order, batched.
        self._outbox = Outbox(self._send_batch, self._publish_failed)
        self._probes: dict[str, asyncio.Future[None]] = {}
        self._counter = itertools.count()
        self._tasks: list[asyncio.Task[Any]] = []
        self._subscribed = asyncio.Event()
        self._confirmed_once = asyncio.Event()
        metrics.up.set(0)

    # Health ------------------------------------------------------------------

    def status(self) -> str:
        return "ok" if self._up else f"down: {self._reason}"

    def _down(self, reason: str) -> None:
        # Whatever happened, other processes' messages may have been missed meanwhile.
        self._needs_recovery = True
        self._reason = reason
        if self._up:
            self._up = False
            self.metrics.up.set(0)
            self.metrics.outages.inc()
            logger.warning("broker down (%s): %s", self.instance, reason)

    async def _confirmed(self) -> None:
        """A probe came back: the subscription is live now."""
        self._confirmed_once.set()
        if not self._up:
            self._up = True
            self.metrics.up.set(1)
            logger.info("broker up (%s)", self.instance)
        if self._needs_recovery:
            self._needs_recovery = False
            assert self.hub is not None
            try:
                sent = await recover(self.hub)
            except Exception:
                self._needs_recovery = True  # the next probe tries again
                logger.exception("recovery after the broker outage failed")
                return
            self.metrics.recovered.inc(sent)
            if sent:
                logger.info("sent %d durable events missed during the broker outage", sent)

    # Life cycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe and start probing, before the first client connects."""
        compat_redis.initialize(self)
        self._tasks.append(asyncio.get_running_loop().create_task(self._probe_loop(), name="broker-probe"))
        # Start healthy when Redis answers; start anyway (and report it down) when it does not.
        try:
            await asyncio.wait_for(self._confirmed_once.wait(), 5.0)
        except TimeoutError:
            logger.warning("starting with the broker down: %s", self._reason)

    async def stop(self) -> None:
        listener = compat_redis.listener(self)
        tasks = [*self._tasks, *([listener] if listener is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._outbox.stop()
        for client in (self._publisher, self._listener_client):
            await _close_quietly(client)

    # Publishing ------------------------------------------------------------------

    async def emit(
        self, event: str, data: Any, namespace: str | None = None, room: Any = None, skip_sid: Any = None,
        callback: Any = None, to: Any = None, **kwargs: Any,
    ) -> None:
        room = to or room
        namespace = namespace or "/"
        if (
            callback is None
            and isinstance(room, str)
            and (self.is_connected(room, namespace) or self.is_pre_connected(room, namespace))
        ):
            # A session id of this process (welcome, backlog, replies): no other process has it.
            await LocalDelivery.emit(self, event, data, namespace, room=room, skip_sid=skip_sid)
            return
        await super().emit(event, data, namespace=namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs)

    def _client(self) -> Any:
        if self._publisher is None:
            self._publisher = self._new_client()
        return self._publisher

    def _new_client(self) -> Any:
        module = compat_redis.redis_module(self)
        if urlparse(self._url).scheme in {"redis+sentinel", "valkey+sentinel"}:
            from socketio.redis_manager import parse_redis_sentinel_url

            sentinels, service, options = parse_redis_sentinel_url(self._url)
            return module.sentinel.Sentinel(sentinels, **{**self._options, **options}).master_for(
                service or self.channel
            )
        return module.Redis.from_url(self._url, **self._options)

    async def _send_batch(self, messages: list[Message]) -> None:
        """One pipeline of ``PUBLISH`` commands: one write and one round trip for the whole batch."""
        # Two tries: the first on a pooled connection that a Redis restart may have
        # broken, the second on a new one. Not after a timeout: Redis may have run it.
        for attempt in (1, 2):
            try:
                async with patient_timeout(PUBLISH_TIMEOUT):
                    pipe = self._client().pipeline(transaction=False)
                    for message in messages:
                        pipe.publish(self.channel, message)
                    await pipe.execute()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt == 2 or timed_out(exc):
                    raise

    def _publish_failed(self, exc: BaseException, count: int) -> None:
        self.metrics.publish_failures.inc(count)
        self._down(f"publish failed: {_describe(exc)}")
        logger.debug("publish to redis failed", exc_info=exc)

    async def publish_message(self, data: Any) -> None:
        """Publish to the other processes, in emit order (:mod:`hub.broker_outbox`); never fails the caller."""
        await self._outbox.put(self.json.dumps(data))

    # Listening ---------------------------------------------------------------------

    async def _subscription(self) -> AsyncIterator[Any]:
        delay = 0.1
        while True:
            pubsub = None
            try:
                self._listener_client = self._new_client()
                self._pubsub = pubsub = self._listener_client.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                delay = 0.1
                async for message in pubsub.listen():
                    yield message
                raise ConnectionError("the subscription ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._subscribed.clear()
                self._down(f"subscription lost: {_describe(exc)}")
                await _close_quietly(pubsub)
                await _close_quietly(self._listener_client)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RESUBSCRIBE_DELAY)

    async def listen_messages(self) -> AsyncIterator[Any]:
        channel = self.channel.encode("utf-8")
        async for message in self._subscription():
            if message.get("channel") != channel or message.get("type") != "message" or "data" not in message:
                continue
            data = message["data"]
            if isinstance(data, bytes) and data.startswith(PROBE_PREFIX):
                # Our own probes come back here; other processes' are not for us.
                waiter = self._probes.get(data[len(PROBE_PREFIX):].decode(errors="replace"))
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                continue
            yield data

    # Probing ----------------------------------------------------------------------

    async def _probe_loop(self) -> None:
        while True:
            try:
                await self._probe()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("broker probe failed")
            await asyncio.sleep(self.probe_interval)

    async def _probe(self) -> None:
        wait = max(2.0, 2 * self.probe_interval)
        if not self._subscribed.is_set():
            try:
                await asyncio.wait_for(self._subscribed.wait(), wait)
            except TimeoutError:
                # Still down for the reason the listener gave (it keeps trying to subscribe).
                self._down(self._reason if not self._up else "not subscribed")
                return
        token = f"{self.sender_id}:{next(self._counter)}"
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._probes[token] = waiter
        try:
            try:
                await self._send_batch([PROBE_PREFIX + token.encode()])
            except Exception as exc:
                self._down(f"publish failed: {_describe(exc)}")
                return
            try:
                async with patient_timeout(wait):  # a stalled loop is not a silent subscription
                    await waiter
            except TimeoutError:
                self._down("messages published to Redis do not come back")
                # A subscription that stays silent is dropped, so that the listener subscribes again.
                await _close_quietly(self._pubsub)
                return
        finally:
            self._probes.pop(token, None)
        await self._confirmed()


async def recover(hub: Hub) -> int:
    """Send every local connection the durable events it missed (:meth:`hub.streams.Streams.recover`)."""
    return await hub.recover()


class PlainRedisManager(compat_redis.RedisPublish, LocalDelivery):
    """python-socketio's Redis manager, for when ``redis_broker_probe`` is off.

    Events still cross processes; without the hub's own listen there is no
    probe, so the broker cannot tell an outage and reports ``ok``. Its publishes
    go through an :class:`Outbox`, one at a time through python-socketio's own:
    published as they came, a burst took one pooled connection per emit, those
    past redis-py's 100 failed (``MaxConnectionsError``) and python-socketio's
    retry, on a new client, sent them out of order.
    """

    kind = "redis"

    def __init__(self, hub: Hub, url: str, channel: str, metrics: BrokerMetrics) -> None:
        super().__init__(url=url, channel=channel, redis_options=_redis_options(url))
        self.hub = hub
        self.metrics = metrics
        self._outbox: Outbox[Any] = Outbox(self._send_each, self._publish_failed)

    def status(self) -> str:
        return "ok"

    async def start(self) -> None:
        compat_redis.initialize(self)

    async def stop(self) -> None:
        listener = compat_redis.listener(self)
        if listener is not None:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        await self._outbox.stop()

    async def publish_message(self, data: Any) -> None:
        """Publish to the other processes, in emit order; never fails the caller."""
        await self._outbox.put(data)

    async def _send_each(self, messages: list[Any]) -> None:
        for data in messages:  # in order, one connection at a time; python-socketio logs what fails
            await self.library_publish(data)

    def _publish_failed(self, exc: BaseException, count: int) -> None:
        self.metrics.publish_failures.inc(count)
        logger.warning("publish to redis failed: %s", _describe(exc))


def build_manager(hub: Hub, settings: Settings, compat: Report) -> Any:
    """The Socket.IO manager of ``hub``: in memory, or on Redis when ``HUB_REDIS_URL`` is set.

    Also sets ``hub.broker``, which ``/api/health`` reports and the hub starts and stops.
    """
    from .delivery import HubManager

    metrics = BrokerMetrics(hub.metrics.registry)
    if not settings.redis_url:
        local = HubManager()
        local.hub = hub
        hub.broker = LocalBroker(metrics)
        return local
    channel = f"{settings.redis_prefix}:socketio"
    manager: HubRedisManager | PlainRedisManager
    if compat.enabled(compat_redis.NAME):
        manager = HubRedisManager(hub, settings.redis_url, channel, settings.broker_probe_interval, metrics)
    else:
        manager = PlainRedisManager(hub, settings.redis_url, channel, metrics)
    compat_redis.redis_module(manager)  # fails now, naming the package, when redis is not installed
    hub.broker = manager
    return manager


def _redis_options(url: str) -> dict[str, Any]:
    options: dict[str, Any] = {"socket_connect_timeout": PUBLISH_TIMEOUT, "socket_keepalive": True}
    if urlparse(url).scheme.split("+", 1)[0] in {"redis", "rediss", "unix"}:
        try:
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
        except ImportError:
            return options
        # No silent reconnects inside redis-py: a broken subscription must reach our
        # listener, which marks the outage (and so the recovery) before subscribing again.
        options["retry"] = Retry(NoBackoff(), 0)
    return options


async def _close_quietly(resource: Any) -> None:
    if resource is None:
        return
    try:
        close = getattr(resource, "aclose", None) or resource.close
        await close()
    except Exception:
        logger.debug("closing a redis resource failed", exc_info=True)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = ["Broker", "BrokerMetrics", "HubRedisManager", "LocalBroker", "PlainRedisManager", "build_manager", "instance_name", "recover"]
