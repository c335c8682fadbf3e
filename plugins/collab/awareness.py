"""Awareness (who is in a document, their cursors): relayed, never stored, removed when its connection ends.

Each process remembers the awareness states its own connections sent, by
document and owner (a Socket.IO connection id, or a y-websocket connection), so
that when a connection ends, or a state is not renewed within
``awareness_timeout`` seconds, it publishes the removal (the state ``null``
with the next clock), which every client applies at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .protocol import AwarenessEntry, decode_awareness, encode_awareness

#: Sends an awareness update to every client of a document, from nobody in particular.
Broadcast = Callable[[str, bytes], Awaitable[None]]


@dataclass
class Held:
    entry: AwarenessEntry
    owner: object
    seen: float = field(default_factory=time.monotonic)


class AwarenessTable:
    """This process's awareness states, by document and client id."""

    def __init__(self, timeout: float, broadcast: Broadcast, start_task: Callable[..., asyncio.Task[None]]) -> None:
        self.timeout = timeout
        self.broadcast = broadcast
        self.start_task = start_task
        self.states: dict[str, dict[int, Held]] = {}
        self.sweeper: asyncio.Task[None] | None = None

    def record(self, document: str, update: bytes, owner: object) -> list[AwarenessEntry]:
        """Remember the states of ``update`` (an ``InvalidMessage`` if it is not one); its entries."""
        entries = decode_awareness(update)
        states = self.states.setdefault(document, {})
        for entry in entries:
            if entry.left:
                states.pop(entry.client, None)
            else:
                states[entry.client] = Held(entry, owner)
        if not states:
            self.states.pop(document, None)
        if self.states and self.sweeper is None:
            self.sweeper = self.start_task(self._sweep(), "collab-awareness-sweep")
        return entries

    def current(self, document: str) -> bytes | None:
        """Every state this process holds for ``document``, as one awareness update (None if none)."""
        held = self.states.get(document)
        return encode_awareness([h.entry for h in held.values()]) if held else None

    async def forget(self, owner: object) -> None:
        """``owner``'s connection ended: remove its states, for everyone."""
        await self.forget_where(lambda candidate: candidate == owner)

    async def forget_where(self, which: Callable[[object], bool]) -> None:
        """Remove, for everyone, the states of every owner ``which`` picks."""
        for document in list(self.states):
            await self._remove(document, lambda held: which(held.owner))

    async def _remove(self, document: str, which: Callable[[Held], bool]) -> None:
        states = self.states.get(document, {})
        gone = [client for client, held in states.items() if which(held)]
        if not gone:
            return
        removals = [AwarenessEntry(client, states.pop(client).entry.clock + 1, "null") for client in gone]
        if not states:
            self.states.pop(document, None)
        await self.broadcast(document, encode_awareness(removals))

    async def _sweep(self) -> None:
        try:
            while self.states:
                await asyncio.sleep(min(self.timeout / 2, 5.0))
                cutoff = time.monotonic() - self.timeout
                for document in list(self.states):
                    await self._remove(document, lambda held: held.seen < cutoff)
        finally:
            self.sweeper = None
