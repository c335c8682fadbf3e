"""The event log's interface: where durable events are numbered and kept.

Backends are chosen by URL scheme (see ``open_event_log``); each lives in its
own module and imports its driver lazily.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from ..envelope import Envelope
from ..topics import Retention


@dataclass(frozen=True)
class Appended:
    """The stored event, and whether this call stored it (False: the id was already there)."""

    envelope: Envelope
    created: bool


@dataclass(frozen=True)
class Backlog:
    """Events after a ``since``; ``complete`` is False when retention already dropped some."""

    events: Sequence[Envelope]
    complete: bool
    latest_seq: int


class EventLog(ABC):
    """Numbered, durable storage of the events of durable topics."""

    async def start(self) -> None:
        """Open connections, check the schema."""

    async def close(self) -> None:
        """Release connections."""

    @abstractmethod
    async def append(self, envelope: Envelope, inbox_user: str | None = None) -> Appended:
        """Store ``envelope`` with its topic's next ``seq``, unless its id is already stored.

        ``inbox_user`` queues the event for that user until acknowledged.
        Returns once the event is durable.
        """

    @abstractmethod
    async def backlog(self, topic: str, since: int, limit: int | None = None) -> Backlog:
        """The stored events of ``topic`` with ``seq > since``, in order."""

    @abstractmethod
    async def latest_seq(self, topic: str) -> int:
        """The highest ``seq`` of ``topic``, 0 when it has none."""

    @abstractmethod
    async def pending(self, user: str) -> Sequence[Envelope]:
        """The user's inbox events not yet acknowledged, in ``seq`` order."""

    @abstractmethod
    async def ack(self, user: str, ids: Sequence[str]) -> int:
        """Mark inbox events of ``user`` as delivered; how many were pending."""

    @abstractmethod
    async def trim(self, topic_prefix: str, retention: Retention) -> int:
        """Drop the events of topics starting with ``topic_prefix`` that retention no longer keeps."""

    async def health(self) -> str:
        """``"ok"`` or a short reason."""
        return "ok"
