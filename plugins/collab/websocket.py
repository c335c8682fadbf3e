"""``/api/collab/ws/{document}``: the y-websocket protocol, so a stock ``WebsocketProvider`` edits hub documents.

The provider connects to ``ws://<hub>/api/collab/ws`` with the room name as
the document. It authenticates without a JWT in the URL, either way:

- ``params: {ticket}``: a one-time ticket from ``POST /api/collab/tickets``
  (authenticated HTTP), valid ``ticket_seconds`` (30 s), used once, on the process that issued it;
- ``protocols: ["hub", "<JWT>"]``: the token as a websocket subprotocol (the
  server answers with the subprotocol ``hub``).

Updates from a read-only user are dropped, never stored or relayed. Updates
stored by another hub process reach this process's websocket clients through
a catch-up from the database every ``poll_interval`` seconds, while any is connected.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from hub import HubError, Principal

from . import protocol as p
from .access import decide

if TYPE_CHECKING:
    from . import Collab
    from .documents import Replica

log = logging.getLogger("hub.plugins.collab")
EMPTY_UPDATE = b"\x00\x00"


@dataclass
class Ticket:
    principal: Principal
    document: str
    expires: float


class Tickets:
    """One-time tickets of this process: issued over authenticated HTTP, taken once by the websocket."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.tickets: dict[str, Ticket] = {}

    def issue(self, principal: Principal, document: str) -> str:
        now = time.monotonic()
        for key in [key for key, ticket in self.tickets.items() if ticket.expires < now]:
            del self.tickets[key]
        key = secrets.token_urlsafe(24)
        self.tickets[key] = Ticket(principal, document, now + self.seconds)
        return key

    def take(self, key: str, document: str) -> Principal | None:
        ticket = self.tickets.pop(key, None)
        if ticket is None or ticket.expires < time.monotonic() or ticket.document != document:
            return None
        return ticket.principal


async def _principal(plugin: Collab, websocket: WebSocket, document: str) -> tuple[Principal | None, str | None]:
    ticket = websocket.query_params.get("ticket")
    if ticket:
        return plugin.tickets.take(ticket, document), None
    offered = [value.strip() for value in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    if len(offered) == 2 and offered[0] == "hub":
        scope = {"type": "http", "headers": [(b"authorization", f"Bearer {offered[1]}".encode())]}
        try:
            return await plugin.hub.authenticate(HTTPConnection(scope)), "hub"
        except HubError:
            return None, None
    return None, None


async def endpoint(plugin: Collab, websocket: WebSocket) -> None:
    document = websocket.path_params["document"]
    principal, subprotocol = await _principal(plugin, websocket, document)
    if principal is None:
        await websocket.close(code=4401)
        return
    try:
        access = await decide(plugin.hub, plugin.config(), principal, document)
    except HubError:
        access = "none"
    if access == "none":
        await websocket.close(code=4403)
        return
    await websocket.accept(subprotocol=subprotocol)
    await Session(plugin, websocket, document, principal, access == "write").run()


class Session:
    """One y-websocket connection to one document."""

    def __init__(self, plugin: Collab, websocket: WebSocket, document: str, principal: Principal,
                 writable: bool) -> None:
        self.plugin = plugin
        self.documents = plugin.running()
        self.websocket = websocket
        self.document = document
        self.principal = principal
        self.writable = writable
        self.outbox: asyncio.Queue[bytes] = asyncio.Queue()

    async def run(self) -> None:
        replica = await self.documents.open(self.document)
        replica.listeners[self] = self.outbox.put_nowait
        self.plugin.watch(replica)
        sender = asyncio.ensure_future(self._send())
        try:
            # The replica is up to date with the database: now, and only now, the first sync.
            self.outbox.put_nowait(p.sync_message(p.SYNC_STEP1, replica.doc.get_state()))
            current = self.plugin.awareness.current(self.document)
            if current is not None:
                self.outbox.put_nowait(p.awareness_message(current))
            while True:
                message = await self.websocket.receive_bytes()
                try:
                    await self._handle(replica, message)
                except HubError as exc:
                    log.info("collab: websocket message refused (%s): %s", exc.code, exc)
        except (WebSocketDisconnect, RuntimeError, KeyError):
            pass  # the client went away (a text frame or a close ends it too)
        finally:
            replica.listeners.pop(self, None)
            sender.cancel()
            await self.plugin.awareness.forget(self)

    async def _send(self) -> None:
        while True:
            message = await self.outbox.get()
            try:
                await self.websocket.send_bytes(message)
            except Exception:
                return

    async def _handle(self, replica: Replica, message: bytes) -> None:
        reader = p.Reader(message)
        kind = reader.var_uint()
        if kind == p.MESSAGE_SYNC:
            step = reader.var_uint()
            payload = reader.var_bytes()
            if step == p.SYNC_STEP1:
                await self.documents.refresh(replica)
                self.outbox.put_nowait(p.sync_message(p.SYNC_STEP2, replica.diff(payload)))
            elif step in (p.SYNC_STEP2, p.SYNC_UPDATE):
                if not self.writable or payload == EMPTY_UPDATE:
                    return  # a read-only user's changes are dropped: never stored, never relayed
                await self.documents.apply(self.document, payload, self.principal.user, origin=self)
        elif kind == p.MESSAGE_AWARENESS:
            update = reader.var_bytes()
            self.plugin.awareness.record(self.document, update, self)
            await self.plugin.relay_awareness(self.document, update, origin=self)
        elif kind == p.MESSAGE_QUERY_AWARENESS:
            current = self.plugin.awareness.current(self.document)
            if current is not None:
                self.outbox.put_nowait(p.awareness_message(current))


def routes(plugin: Collab) -> list[Any]:
    async def collab_websocket(websocket: WebSocket) -> None:
        await endpoint(plugin, websocket)

    return [WebSocketRoute("/ws/{document}", collab_websocket, name="collab_websocket")]
