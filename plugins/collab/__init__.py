"""collab: collaborative editing of documents with Yjs (pycrdt on the server), stored in the hub's database.

- Topic kind ``collab:<document>``: the subscribe reply's snapshot is
  ``{epoch, update, state_vector, writable}`` (the whole state, bytes); then
  ephemeral events ``collab.update {update}``, ``collab.awareness {update}``
  and ``collab.reset {epoch}`` (the history was replaced: start over).
- Requests ``collab.sync {document, state_vector?, update?, epoch?}`` (Yjs sync
  step 1; the reply carries step 2 as ``update``, the server's ``state_vector``,
  ``epoch`` and the awareness states), ``collab.update {document, update, epoch?}``,
  ``collab.awareness {document, update}``.
- HTTP under ``/api/collab/`` (see :mod:`.api`) and the y-websocket route
  ``/api/collab/ws/{document}`` (see :mod:`.websocket`).
- Tables ``collab_documents``, ``collab_updates``, ``collab_versions`` (migration ``collab_0001``).
See docs/collab.md.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute

from hub import (
    ClientRequest, Connection, ConsolePanel, Hub, InvalidMessage, RequestHandler, Subscription, TopicKind,
    Unavailable, config_defaults, hookimpl, nobody,
)

from . import api, websocket
from .access import Access, decide, require_read, require_write
from .awareness import AwarenessTable
from .config import KIND, NAME, CollabConfig
from .documents import Documents, Replica
from .protocol import SYNC_UPDATE, awareness_message, sync_message
from .store import Store

__all__ = ["Collab"]

log = logging.getLogger(f"hub.plugins.{NAME}")
EMPTY_UPDATE = b"\x00\x00"


class Collab:
    """The plugin of one hub (the entry point names this class)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.documents: Documents | None = None
        self._config: CollabConfig | None = None
        self.tickets = websocket.Tickets(30.0)
        self.awareness = AwarenessTable(30.0, self._broadcast_awareness, self._start_task)
        self.pollers: dict[str, asyncio.Task[None]] = {}

    def config(self) -> CollabConfig:
        if self._config is None:
            self._config = CollabConfig.load(self.hub.plugin_config(NAME))
        return self._config

    def running(self) -> Documents:
        if self.documents is None:
            raise Unavailable("Collaborative documents need the hub's SQL database.")
        return self.documents

    def _start_task(self, coro: Any, name: str) -> asyncio.Task[None]:
        return self.hub.start_task(coro, name=name)

    @staticmethod
    @hookimpl
    def hub_migrations() -> Path:
        return Path(__file__).parent / "migrations"

    @staticmethod
    @hookimpl
    def hub_console_panels() -> list[ConsolePanel]:
        return [ConsolePanel.in_folder(Path(__file__).parent / "console", id="collab", title="Shared editor",
                                       order=45)]

    @hookimpl
    def hub_config_defaults(self) -> dict[str, Any]:
        return config_defaults(CollabConfig)

    @hookimpl
    def hub_startup(self, hub: Hub) -> None:
        config = self.config()
        self.tickets.seconds = config.ticket_seconds
        self.awareness.timeout = config.awareness_timeout
        try:
            database = hub.database
        except Unavailable:
            log.warning("collab: no SQL database (memory store); its requests answer unavailable")
            return
        self.documents = Documents(hub, Store(database), config)

    @hookimpl
    def hub_shutdown(self) -> None:
        for task in self.pollers.values():
            task.cancel()

    # Access -------------------------------------------------------------------------

    async def access(self, connection: Connection, document: str) -> Access:
        """The connection's access to ``document``, decided once per connection and document."""
        state = connection.state.setdefault(NAME, {})
        assert isinstance(state, dict)
        cache: dict[str, Access] = state.setdefault("access", {})
        if document not in cache:
            cache[document] = await decide(self.hub, self.config(), connection.principal, document)
        return cache[document]

    async def can_subscribe(self, subscription: Subscription) -> bool:
        return await self.access(subscription.connection, subscription.key) != "none"

    async def snapshot(self, subscription: Subscription) -> dict[str, Any]:
        """The subscribe reply's snapshot: the whole state (loaded completely first) and the epoch."""
        replica = await self.running().open(subscription.key)
        return {"epoch": replica.epoch, "update": replica.state(), "state_vector": replica.doc.get_state(),
                "writable": await self.access(subscription.connection, subscription.key) == "write"}

    @hookimpl
    def hub_topic_kinds(self) -> list[TopicKind]:
        return [TopicKind(
            name=KIND, can_publish=nobody, durable=False,
            can_subscribe_with=self.can_subscribe, snapshot_for=self.snapshot,
            description="Collaborative documents (Yjs): the state as snapshot, then updates and awareness.",
        )]

    # Requests --------------------------------------------------------------------------

    def _document(self, request: ClientRequest) -> str:
        document: str = request.field("document", str)
        if not api.valid_name(document):
            raise InvalidMessage("'document' must be 1 to 200 letters, digits or _ . @ : -")
        return document

    async def sync(self, request: ClientRequest) -> dict[str, Any]:
        """``collab.sync``: sync step 1 (the client's state vector) answered with step 2 and the server's."""
        document = self._document(request)
        access = await self.access(request.connection, document)
        require_read(access, document)
        state_vector = request.field("state_vector", bytes, required=False)
        update = request.field("update", bytes, required=False)
        epoch = request.field("epoch", str, required=False)
        documents = self.running()
        replica = await documents.open(document)
        reset = epoch is not None and epoch != replica.epoch
        if reset:
            state_vector = None  # the client's history is not the server's: it gets everything, merges nothing
        elif update and update != EMPTY_UPDATE and access == "write":
            replica = await documents.apply(document, update, request.principal.user, epoch=epoch,
                                            skip_connection=request.connection.id)
        reply = {"epoch": replica.epoch, "update": replica.diff(state_vector),
                 "state_vector": replica.doc.get_state(), "writable": access == "write", "reset": reset}
        current = self.awareness.current(document)
        if current is not None:
            reply["awareness"] = current
        return reply

    async def update(self, request: ClientRequest) -> dict[str, Any]:
        """``collab.update``: stored (committed) before it is relayed and before this reply."""
        document = self._document(request)
        require_write(await self.access(request.connection, document), document)
        update = request.field("update", bytes)
        epoch = request.field("epoch", str, required=False)
        await self.running().apply(document, update, request.principal.user, epoch=epoch,
                                   skip_connection=request.connection.id)
        return {}

    async def awareness_request(self, request: ClientRequest) -> dict[str, Any]:
        """``collab.awareness``: relayed to the document's other clients, removed when this connection ends."""
        document = self._document(request)
        require_read(await self.access(request.connection, document), document)
        update = request.field("update", bytes)
        if len(update) > 65536:
            raise InvalidMessage("An awareness update is limited to 65536 bytes.")
        self.awareness.record(document, update, (request.connection.id, document))
        await self.relay_awareness(document, update, skip_connection=request.connection.id)
        return {}

    @hookimpl
    def hub_requests(self) -> dict[str, RequestHandler]:
        return {"sync": self.sync, "update": self.update, "awareness": self.awareness_request}

    async def relay_awareness(self, document: str, update: bytes, *, origin: object = None,
                              skip_connection: str | None = None) -> None:
        replica = self.documents.replicas.get(document) if self.documents else None
        if replica is not None and replica.listeners:
            message = awareness_message(update)
            for key, listener in list(replica.listeners.items()):
                if key is not origin:
                    listener(message)
        await self.hub.publish(f"{KIND}:{document}", "collab.awareness", {"update": update},
                               skip_connection=skip_connection)

    async def _broadcast_awareness(self, document: str, update: bytes) -> None:
        await self.relay_awareness(document, update)

    @hookimpl
    async def hub_disconnect(self, connection: Connection) -> None:
        await self.awareness.forget_where(lambda owner: isinstance(owner, tuple) and owner[0] == connection.id)

    @hookimpl
    async def hub_unsubscribe(self, connection: Connection, topic: str) -> None:
        if topic.startswith(f"{KIND}:"):
            await self.awareness.forget((connection.id, topic.partition(":")[2]))

    # Websocket clients of other processes' updates -------------------------------------------

    def watch(self, replica: Replica) -> None:
        """Keep ``replica``'s websocket clients fed with what other processes store, while there are any."""
        if replica.name not in self.pollers:
            self.pollers[replica.name] = self.hub.start_task(self._poll(replica), name=f"collab-poll-{replica.name}")

    async def _poll(self, replica: Replica) -> None:
        documents = self.running()
        try:
            while replica.listeners:
                await asyncio.sleep(self.config().poll_interval)
                before = replica.epoch
                for update in await documents.refresh(replica):
                    message = sync_message(SYNC_UPDATE, update)
                    for listener in list(replica.listeners.values()):
                        listener(message)
                if before is not None and replica.epoch != before:
                    log.info("collab: %r was replaced; websocket clients keep their state", replica.name)
        finally:
            self.pollers.pop(replica.name, None)

    @hookimpl
    def hub_routes(self, hub: Hub) -> list[BaseRoute]:
        return websocket.routes(self) + api.routes(self)
