"""The event log's interface: where durable events are numbered and kept.

Backends are chosen by URL scheme (see ``open_event_log``); each lives in its
own module and imports its driver lazily.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class EventQuery:
    """Filters of the admin event search; every field is optional.

    ``user`` matches events sent by that user and events of that user's inbox.
    ``ts_from``/``ts_to`` are RFC 3339 strings compared with the events' ``ts``.
    ``after`` is the ``next`` cursor of a previous page.
    """

    topic: str | None = None
    type: str | None = None
    user: str | None = None
    ts_from: str | None = None
    ts_to: str | None = None
    seq_from: int | None = None
    seq_to: int | None = None
    after: str | None = None
    limit: int = 100


@dataclass(frozen=True)
class ReplayRecord:
    """One admin replay, as recorded: who asked, when, what, and how many events it sent."""

    id: str
    actor: str
    requested_at: str
    filters: dict[str, Any]
    target_user: str | None
    count: int
    dry_run: bool


def page_cursor(event: Envelope) -> str:
    """The cursor after ``event`` in the admin search order (ts, topic, seq)."""
    return f"{event.ts}|{event.seq}|{event.topic}"


def parse_cursor(cursor: str) -> tuple[str, int, str]:
    ts, seq, topic = cursor.split("|", 2)
    return ts, int(seq), topic


def matches(query: EventQuery, event: Envelope) -> bool:
    """Whether ``event`` passes ``query``'s filters (the reference semantics of every backend)."""
    if query.topic is not None and event.topic != query.topic:
        return False
    if query.type is not None and event.type != query.type:
        return False
    if query.user is not None and event.meta.get("sender") != query.user and event.topic != f"user:{query.user}":
        return False
    if query.ts_from is not None and event.ts < query.ts_from:
        return False
    if query.ts_to is not None and event.ts > query.ts_to:
        return False
    seq = event.seq or 0
    if query.seq_from is not None and seq < query.seq_from:
        return False
    if query.seq_to is not None and seq > query.seq_to:
        return False
    return True


class EventLog(ABC):
    """Numbered, durable storage of the events of durable topics."""

    async def start(self) -> None:
        """Open connections, check the schema."""

    async def close(self) -> None:
        """Release connections."""

    @abstractmethod
    async def append(self, envelope: Envelope, inbox_user: str | None = None, *, fresh_id: bool = False) -> Appended:
        """Store ``envelope`` with its topic's next ``seq``, unless its id is already stored.

        ``inbox_user`` queues the event for that user until acknowledged.
        ``fresh_id`` says the id was just generated (:func:`hub.envelope.new_id`),
        so no stored event can have it and a backend may skip looking.
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

    @abstractmethod
    async def query(self, query: EventQuery) -> Sequence[Envelope]:
        """Stored events matching ``query``, ordered by (ts, seq, topic), at most ``query.limit``."""

    @abstractmethod
    async def record_replay(self, record: ReplayRecord) -> None:
        """Keep the record of an admin replay."""

    @abstractmethod
    async def replays(self, limit: int = 100) -> Sequence[ReplayRecord]:
        """The newest replay records first."""

    @abstractmethod
    async def replay(self, replay_id: str) -> ReplayRecord | None:
        """The record of one replay, or None."""

    async def health(self) -> str:
        """``"ok"`` or a short reason."""
        return "ok"
