"""A Python client for the hub, on python-socketio's ``AsyncClient``::

    async with HubClient("http://127.0.0.1:8000", token) as client:
        client.on("order.shipped", handle)

It keeps durable streams whole across reconnections: it remembers each topic's
last ``seq``, resubscribes with ``since``, skips durable events already handled,
and acknowledges inbox events once the application's handlers ran without raising.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import socketio

from ._compat.client import say_goodbye

from .errors import (
    ERRORS, AuthExpired, AuthInvalid, AuthRequired, Conflict, Forbidden, HubError, InternalError, InvalidMessage,
    InvalidTopic, NotFound, RateLimited, TooLarge, Unavailable, UnknownTopic, error_from_wire,
)

logger = logging.getLogger("hub.client")
Handler = Callable[[dict[str, Any]], "Awaitable[None] | None"]
TokenProvider = Callable[[], "Awaitable[str] | str"]
ACK_BATCH = 1000  # the most ids one `ack` request may carry


#: The base of every error the client raises: the hub's own :class:`~hub.errors.HubError`
#: (the client raises the hub's classes, so ``hub.Forbidden`` and ``hub.client.Forbidden`` are one).
HubClientError = HubError


class RequestTimeout(HubError, TimeoutError):
    """No reply in time (client side; not a wire code). Also a builtin ``TimeoutError``."""

    code, status, default_message = "timeout", 504, "No reply from the hub in time."


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class HubClient:
    """One connection to a hub. Handlers may also listen to ``client.resubscribed``, a local
    event with the ``subscribe`` reply of each topic resubscribed after a reconnect."""

    def __init__(
        self, url: str, token: str, *, transports: list[str] | None = None,
        token_provider: TokenProvider | None = None, reconnection: bool = True,
        timeout: float = 10.0, ack_delay: float = 0.05, **socketio_options: Any,
    ) -> None:
        self.url = url
        self.token = token
        self.transports = transports
        self.token_provider = token_provider
        self.timeout = timeout
        self.ack_delay = ack_delay
        self.welcome: dict[str, Any] = {}
        self.token_expires_at: float | None = None
        self.sio = socketio.AsyncClient(reconnection=reconnection, **socketio_options)
        self._handlers: dict[str, list[Handler]] = {}
        self._topics: dict[str, dict[str, Any] | None] = {}  # subscribed topics, in order, with their params
        self._last_seq: dict[str, int] = {}
        self._failed: set[tuple[str, int]] = set()  # inbox events whose handlers raised
        self._unacked: dict[str, None] = {}
        self._queue: asyncio.Queue[tuple[str, dict[str, Any], bool]] = asyncio.Queue()
        self._welcomed = asyncio.Event()
        self._welcomes = 0
        self._connect_error: Any = None
        self._closed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ack_task: asyncio.Task[Any] | None = None
        self._worker: asyncio.Task[Any] | None = None
        self.sio.on("*", self._received)
        self.sio.on("connect_error", self._on_connect_error)
        self.sio.on("disconnect", lambda *reason: self._welcomed.clear())

    async def connect(self) -> dict[str, Any]:
        """Connect and wait for ``hub.welcome``; its data. A refused handshake raises its error."""
        if self._worker is None:
            self._worker = self._spawn(self._work())
        self._connect_error, self._closed = None, False
        try:
            # A callable: every reconnection sends the newest token.
            await self.sio.connect(
                self.url, auth=self._auth, transports=self.transports, wait_timeout=self.timeout
            )
        except socketio.exceptions.ConnectionError as exc:
            if self._connect_error is not None:
                raise error_from_wire(self._connect_error) from None
            raise Unavailable(str(exc)) from exc
        try:
            await asyncio.wait_for(self._welcomed.wait(), self.timeout)
        except TimeoutError:
            await self.sio.disconnect()
            raise RequestTimeout("The hub sent no welcome.") from None
        return self.welcome

    async def close(self) -> None:
        """Acknowledge what was handled, disconnect, and stop reconnecting."""
        if self._ack_task is not None:
            self._ack_task.cancel()
        if self.sio.connected and not self._closed:
            try:  # let the events already received finish, so what was handled gets acknowledged
                await asyncio.wait_for(self._queue.join(), self.timeout)
            except TimeoutError:
                logger.warning("closing with events still being handled")
            await self.flush_acks()
        self._closed = True
        # A goodbye the hub sees at once, rather than a lost connection (see hub._compat.client).
        await say_goodbye(self.sio)
        await self.sio.shutdown()
        tasks, self._worker = list(self._tasks), None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> HubClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def _auth(self) -> dict[str, str]:
        # Reconnecting with a token about to expire would only be refused: get a new one first.
        if self.token_provider and self.token_expires_at is not None and self.token_expires_at - time.time() < 5:
            self.token = await _maybe_await(self.token_provider())
        return {"token": self.token}

    def _on_connect_error(self, data: Any = None) -> None:
        self._connect_error = data

    async def request(self, name: str, payload: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Send a request (core or plugin, e.g. ``presence.typing``); the reply without ``ok``."""
        timeout = timeout or self.timeout
        if self._closed or not (self.sio.connected or self.sio.reconnection):
            raise Unavailable("Not connected to the hub.")
        try:
            # While reconnecting, wait for the new connection instead of failing at once.
            await asyncio.wait_for(self._welcomed.wait(), timeout)
            reply = await self.sio.call(name, payload, timeout=timeout)
        except (TimeoutError, socketio.exceptions.TimeoutError):
            raise RequestTimeout(f"No reply to {name!r} within {timeout}s.") from None
        except socketio.exceptions.BadNamespaceError:
            raise Unavailable("Not connected to the hub.") from None
        if not isinstance(reply, dict) or not reply.get("ok"):
            raise error_from_wire(reply.get("error") if isinstance(reply, dict) else reply)
        return {key: value for key, value in reply.items() if key != "ok"}

    async def subscribe(
        self, topic: str, since: int | None = None, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Subscribe to ``topic``; with ``since``, durable events after that seq are replayed.

        ``params`` are the topic kind's subscription parameters (a filter, a date
        range...), sent as extra keys of ``subscribe`` and sent again on every
        resubscription; subscribing again with other params replaces the view.
        """
        # Set before the request: the replay after the reply must not look already seen.
        if since is None:
            self._last_seq.pop(topic, None)
        else:
            self._last_seq[topic] = since
        payload: dict[str, Any] = {**(params or {}), "topic": topic}
        if since is not None:
            payload["since"] = since
        reply = await self.request("subscribe", payload)
        self._topics[topic] = dict(params) if params else None
        latest = int(reply.get("seq") or 0)
        if since is None:
            self._last_seq[topic] = max(latest, self._last_seq.get(topic, 0))  # live events follow `latest`
        elif latest < since:
            # The hub's log started over (a memory store restarted): its seqs are reused.
            self._last_seq[topic] = latest
        return reply

    async def unsubscribe(self, topic: str) -> dict[str, Any]:
        reply = await self.request("unsubscribe", {"topic": topic})
        self._topics.pop(topic, None)
        return reply

    async def publish(
        self, topic: str, type: str, data: dict[str, Any] | None = None, id: str | None = None, retries: int = 2
    ) -> dict[str, Any]:
        """Publish from this client; ``{id, seq}``. Retries after a timeout reuse the same ``id``."""
        payload = {"topic": topic, "type": type, "data": data or {}, "id": id or uuid.uuid4().hex}
        while True:
            try:
                return await self.request("publish", payload)
            except RequestTimeout:
                if retries <= 0:
                    raise
                retries -= 1

    async def ack(self, ids: list[str]) -> int:
        """Mark inbox events as delivered (the client does this itself for handled events)."""
        return int((await self.request("ack", {"ids": list(ids)}))["acked"])

    async def refresh(self, token: str) -> dict[str, Any]:
        """Replace the connection's token; later reconnections use it too."""
        reply = await self.request("auth.refresh", {"token": token})
        self.token = token
        self.token_expires_at = _epoch(reply.get("expires_at"))
        return reply

    async def flush_acks(self) -> None:
        """Acknowledge now the handled inbox events not acknowledged yet."""
        while self._unacked:
            ids = list(self._unacked)[:ACK_BATCH]
            try:
                await self.ack(ids)
            except HubClientError as error:
                # Kept: the hub redelivers them on the next connection, and they are acked then.
                logger.info("ack of %d events failed: %s", len(ids), error)
                return
            for event_id in ids:
                self._unacked.pop(event_id, None)

    def on(self, type: str, handler: Handler) -> Handler:
        """Call ``handler(envelope)`` for every event of ``type`` (``"*"``: every event)."""
        self._handlers.setdefault(type, []).append(handler)
        return handler

    def _received(self, event: str, *args: Any) -> None:
        # Synchronous on purpose: python-socketio runs each packet in its own task, and
        # enqueueing before any await keeps the arrival order for the one worker.
        if args and isinstance(args[0], dict):
            self._queue.put_nowait((event, args[0], False))

    async def _work(self) -> None:
        while True:
            event, payload, local = await self._queue.get()
            try:
                if local:  # client-side events such as client.resubscribed: not for "*"
                    await self._run_handlers(event, payload, self._handlers.get(event, []))
                else:
                    await self._handle_envelope(event, payload)
            except Exception:
                logger.exception("handling %s failed", event)
            finally:
                self._queue.task_done()

    async def _handle_envelope(self, event: str, envelope: dict[str, Any]) -> None:
        topic, seq = envelope.get("topic"), envelope.get("seq")
        if event == "hub.welcome":
            self._on_welcome(envelope.get("data") or {})
        elif event == "hub.token_expiring" and self.token_provider is not None:
            self._spawn(self._refresh_from_provider())
        if not isinstance(topic, str) or not isinstance(seq, int):
            await self._run_handlers(event, envelope)
            return
        own_inbox = topic == f"user:{self.welcome.get('user')}"
        if seq <= self._last_seq.get(topic, 0) and (topic, seq) not in self._failed:
            if own_inbox:
                self._queue_ack(envelope["id"])  # handled before; its ack was lost
            return
        self._last_seq[topic] = max(seq, self._last_seq.get(topic, 0))
        if await self._run_handlers(event, envelope):
            self._failed.discard((topic, seq))
            if own_inbox:
                self._queue_ack(envelope["id"])
        elif own_inbox:
            self._failed.add((topic, seq))  # left unacknowledged: the hub delivers it again

    async def _run_handlers(
        self, event: str, payload: dict[str, Any], handlers: list[Handler] | None = None
    ) -> bool:
        """Run the handlers of ``event`` (by default with those of ``"*"``); False if any raised."""
        if handlers is None:
            handlers = [*self._handlers.get(event, []), *self._handlers.get("*", [])]
        ok = True
        for handler in handlers:
            try:
                await _maybe_await(handler(payload))
            except Exception:
                logger.exception("a handler of %s raised", event)
                ok = False
        return ok

    def _on_welcome(self, data: dict[str, Any]) -> None:
        self.welcome = data
        self.token_expires_at = _epoch(data.get("token_expires_at"))
        self._welcomes += 1
        self._welcomed.set()
        if self._welcomes > 1:
            self._spawn(self._resubscribe())
        if self._unacked:
            self._queue_ack(None)

    async def _resubscribe(self) -> None:
        for topic, params in list(self._topics.items()):
            try:
                reply = await self.subscribe(topic, since=self._last_seq.get(topic, 0), params=params)
            except HubClientError as error:
                logger.warning("resubscribing to %s failed: %s", topic, error)
                if not isinstance(error, (RequestTimeout, Unavailable)):
                    self._topics.pop(topic, None)
                continue
            self._queue.put_nowait(("client.resubscribed", reply, True))

    async def _refresh_from_provider(self) -> None:
        assert self.token_provider is not None
        try:
            await self.refresh(await _maybe_await(self.token_provider()))
        except HubClientError as error:
            logger.warning("token refresh failed: %s", error)

    def _queue_ack(self, event_id: str | None) -> None:
        if event_id is not None:
            self._unacked[event_id] = None
        if not self._closed and (self._ack_task is None or self._ack_task.done()):
            self._ack_task = self._spawn(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.ack_delay)  # gathers the events of a burst into one request
        await self.flush_acks()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _epoch(timestamp: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(timestamp)).timestamp()
    except ValueError:
        return None


__all__ = [
    "ERRORS", "AuthExpired", "AuthInvalid", "AuthRequired", "Conflict", "Forbidden", "HubClient",
    "HubClientError", "InternalError", "InvalidMessage", "InvalidTopic", "NotFound", "RateLimited",
    "RequestTimeout", "TooLarge", "Unavailable", "UnknownTopic", "error_from_wire",
]
