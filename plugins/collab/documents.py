"""Each process's replicas of the documents, kept up to date from the database.

The database is the document: a replica (a ``pycrdt.Doc``) is this process's
copy, brought up to date from the stored rows before anything is read from it
(a sync answered, a snapshot, the HTTP API). So a document is loaded
completely before its first sync is answered, a restarted hub serves exactly
what was stored, and a second hub process sees the first one's updates (they
reach its clients live through the hub's publish path over Redis, and its
replica on the next read).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pycrdt

from hub import Conflict, Hub, InvalidMessage, NotFound, TooLarge

from .config import KIND, CollabConfig
from .protocol import SYNC_UPDATE, sync_message
from .store import Append, Store

log = logging.getLogger("hub.plugins.collab")

#: Something local that wants each change of a replica, as a y-websocket message (a websocket connection).
Listener = Callable[[bytes], Any]


@dataclass(eq=False)
class Replica:
    """One document as this process holds it."""

    name: str
    doc: pycrdt.Doc[Any] = field(default_factory=pycrdt.Doc)
    epoch: str | None = None
    upto: int = 0  # every stored update up to this seq is applied
    stored_bytes: int = 0  # about what the database holds: snapshot + rows since
    stored_rows: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    listeners: dict[object, Listener] = field(default_factory=dict)
    compacting: asyncio.Task[None] | None = None
    used: float = field(default_factory=time.monotonic)

    def state(self) -> bytes:
        return self.doc.get_update()

    def diff(self, state_vector: bytes | None) -> bytes:
        try:
            return self.doc.get_update(state_vector) if state_vector else self.doc.get_update()
        except ValueError as exc:
            raise InvalidMessage("'state_vector' is not a Yjs state vector.") from exc


def check_update(update: bytes, config: CollabConfig) -> None:
    if len(update) > config.max_update_bytes:
        raise TooLarge(f"An update is limited to {config.max_update_bytes} bytes.")
    try:
        pycrdt.get_state(update)  # decodes the whole update: refuses what is not one
    except ValueError as exc:
        raise InvalidMessage("'update' is not a Yjs update.") from exc


class Documents:
    """The replicas of this process, and every change to a document (stored first, then applied and relayed)."""

    def __init__(self, hub: Hub, store: Store, config: CollabConfig) -> None:
        self.hub = hub
        self.store = store
        self.config = config
        self.replicas: dict[str, Replica] = {}
        self.unloader: asyncio.Task[None] | None = None

    def topic(self, name: str) -> str:
        return f"{KIND}:{name}"

    async def open(self, name: str) -> Replica:
        """The replica of ``name``, up to date with everything stored."""
        replica = self.replicas.get(name)
        if replica is None:
            replica = self.replicas[name] = Replica(name)
            if self.unloader is None:
                self.unloader = self.hub.start_task(self._unload_idle(), name="collab-unload")
        replica.used = time.monotonic()
        await self.refresh(replica)
        return replica

    async def _unload_idle(self) -> None:
        """Drop the copies nobody used lately: memory stays bounded by the documents in use."""
        try:
            while self.replicas:
                await asyncio.sleep(self.config.unload_after / 2)
                cutoff = time.monotonic() - self.config.unload_after
                for name, replica in list(self.replicas.items()):
                    idle = replica.used < cutoff and not replica.listeners and replica.compacting is None
                    if idle and not replica.lock.locked():
                        del self.replicas[name]  # the database has all of it: reloaded when next used
        finally:
            self.unloader = None

    async def refresh(self, replica: Replica) -> list[bytes]:
        """Apply what the database holds past the replica; the updates applied (for local listeners)."""
        async with replica.lock:
            for _ in range(10):
                stored = await self.store.read(replica.name, replica.upto, replica.epoch)
                if stored is None:
                    await self.store.ensure(replica.name)
                    continue
                reset = stored.epoch != replica.epoch
                base = replica.upto if not reset else 0
                if stored.snapshot is not None:
                    base = stored.snapshot_upto
                # Rows must follow on from the base with no gap: a compaction between the two reads
                # deletes rows the snapshot we read does not hold yet. Then read again.
                seqs = [seq for seq, _ in stored.rows]
                if seqs != list(range(base + 1, base + 1 + len(seqs))) or base + len(seqs) < stored.head:
                    continue
                applied: list[bytes] = []
                if reset:
                    replica.doc = pycrdt.Doc[Any]()
                    replica.epoch, replica.upto = stored.epoch, 0
                    replica.stored_bytes = replica.stored_rows = 0
                if stored.snapshot is not None:
                    if stored.snapshot:
                        replica.doc.apply_update(stored.snapshot)
                        applied.append(stored.snapshot)
                    replica.stored_bytes, replica.stored_rows = len(stored.snapshot), 0
                for _, data in stored.rows:
                    replica.doc.apply_update(data)
                    applied.append(data)
                    replica.stored_bytes += len(data)
                    replica.stored_rows += 1
                replica.upto = base + len(seqs)
                return applied
            raise Conflict("The document changed too fast to be read; try again.")

    async def apply(self, name: str, update: bytes, user: str | None, *, epoch: str | None = None,
                    skip_connection: str | None = None, origin: object = None) -> Replica:
        """Store ``update`` (committed), then apply it here and relay it: to subscribers and local listeners.

        ``epoch``, when the client gives it, must be the document's: an update built on a history the
        server no longer has is refused with ``conflict`` rather than merged back.
        """
        check_update(update, self.config)
        replica = self.replicas.get(name)
        if replica is None or replica.epoch is None:
            replica = await self.open(name)
        replica.used = time.monotonic()
        if replica.stored_bytes + len(update) > self.config.max_document_bytes:
            raise TooLarge(f"A document is limited to {self.config.max_document_bytes} bytes.")
        item = await self.store.append(Append(name, update, user, epoch))
        if item.conflict is not None:
            raise Conflict(f"The document {name!r} was replaced (epoch {item.conflict}): sync again from scratch.")
        assert item.seq is not None
        if epoch is None or epoch == replica.epoch:
            replica.doc.apply_update(update)
            replica.stored_bytes += len(update)
            replica.stored_rows += 1
            if item.seq == replica.upto + 1:
                replica.upto = item.seq
        await self.relay(replica, update, skip_connection=skip_connection, origin=origin)
        self.maybe_compact(replica)
        return replica

    async def relay(self, replica: Replica, update: bytes, *, skip_connection: str | None = None,
                    origin: object = None) -> None:
        if replica.listeners:
            message = sync_message(SYNC_UPDATE, update)
            for key, listener in list(replica.listeners.items()):
                if key is not origin:
                    listener(message)
        await self.hub.publish(self.topic(replica.name), "collab.update", {"update": update},
                               skip_connection=skip_connection)

    # Compaction -----------------------------------------------------------------

    def maybe_compact(self, replica: Replica) -> None:
        if replica.stored_rows >= self.config.compact_after and replica.compacting is None:
            replica.compacting = self.hub.start_task(self._compact_later(replica), name=f"collab-compact-{replica.name}")

    async def _compact_later(self, replica: Replica) -> None:
        try:
            await asyncio.sleep(self.config.compact_delay)
            await self.compact(replica.name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("collab: compacting %r failed; it is tried again after more updates", replica.name)
        finally:
            replica.compacting = None

    async def compact(self, name: str) -> bool:
        """Merge the stored updates of ``name`` into one snapshot; whether anything was compacted."""
        replica = await self.open(name)
        async with replica.lock:
            state, upto, epoch = replica.state(), replica.upto, replica.epoch
        if upto == 0 or epoch is None:
            return False
        done = await self.store.compact(name, epoch, state, upto)
        if done:
            async with replica.lock:
                replica.stored_bytes, replica.stored_rows = len(state), replica.upto - upto
        return done

    # Whole-document changes ---------------------------------------------------------

    async def reset(self, name: str) -> str:
        """Replace the document's history by an empty one: a new epoch, announced as ``collab.reset``."""
        epoch = await self.store.reset(name)
        replica = self.replicas.get(name)
        if replica is not None:
            await self.refresh(replica)
        await self.hub.publish(self.topic(name), "collab.reset", {"epoch": epoch})
        return epoch

    async def existing(self, name: str) -> Replica:
        if not await self.store.exists(name):
            raise NotFound(f"No document {name!r}.")
        return await self.open(name)
