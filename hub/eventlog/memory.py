"""The in-memory event log: for tests and throwaway hubs (``memory://``)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence

from ..envelope import Envelope
from ..topics import Retention
from .base import Appended, Backlog, EventLog, EventQuery, ReplayRecord, matches, parse_cursor


class MemoryEventLog(EventLog):
    """Keeps every topic's events in a list; nothing survives a restart."""

    def __init__(self) -> None:
        self._events: dict[str, list[tuple[float, Envelope]]] = defaultdict(list)
        self._latest: dict[str, int] = defaultdict(int)
        self._by_id: dict[tuple[str, str], Envelope] = {}
        self._pending: dict[str, dict[str, Envelope]] = defaultdict(dict)
        self._replays: list[ReplayRecord] = []

    async def append(self, envelope: Envelope, inbox_user: str | None = None, *, fresh_id: bool = False) -> Appended:
        existing = self._by_id.get((envelope.topic, envelope.id))
        if existing is not None:
            return Appended(existing, created=False)
        seq = self._latest[envelope.topic] + 1
        self._latest[envelope.topic] = seq
        stored = envelope.with_seq(seq)
        self._events[envelope.topic].append((time.time(), stored))
        self._by_id[(envelope.topic, envelope.id)] = stored
        if inbox_user is not None:
            self._pending[inbox_user][stored.id] = stored
        return Appended(stored, created=True)

    async def backlog(self, topic: str, since: int, limit: int | None = None) -> Backlog:
        events = [event for _, event in self._events.get(topic, []) if event.seq is not None and event.seq > since]
        first = events[0].seq if events else self._latest[topic] + 1
        complete = first == since + 1
        if limit is not None:
            events = events[:limit]
        return Backlog(events, complete, self._latest[topic])

    async def latest_seq(self, topic: str) -> int:
        return self._latest.get(topic, 0)

    async def pending(self, user: str) -> Sequence[Envelope]:
        return sorted(self._pending.get(user, {}).values(), key=lambda event: (event.topic, event.seq or 0))

    async def ack(self, user: str, ids: Sequence[str]) -> int:
        pending = self._pending.get(user, {})
        return sum(1 for event_id in ids if pending.pop(event_id, None) is not None)

    async def trim(self, topic_prefix: str, retention: Retention) -> int:
        dropped = 0
        cutoff = time.time() - retention.max_age if retention.max_age is not None else None
        for topic, events in self._events.items():
            if not topic.startswith(topic_prefix):
                continue
            keep = [item for item in events if cutoff is None or item[0] >= cutoff]
            if retention.max_count is not None:
                keep = keep[-retention.max_count:] if retention.max_count else []
            dropped += len(events) - len(keep)
            self._events[topic] = keep
        return dropped

    async def query(self, query: EventQuery) -> Sequence[Envelope]:
        found = [event for events in self._events.values() for _, event in events if matches(query, event)]
        found.sort(key=lambda event: (event.ts, event.seq or 0, event.topic))
        if query.after is not None:
            after = parse_cursor(query.after)
            found = [event for event in found if (event.ts, event.seq or 0, event.topic) > after]
        return found[: query.limit]

    async def record_replay(self, record: ReplayRecord) -> None:
        # A paged replay records itself once per page under one id: keep one record.
        for index, existing in enumerate(self._replays):
            if existing.id == record.id:
                self._replays[index] = record
                return
        self._replays.append(record)

    async def replay(self, replay_id: str) -> ReplayRecord | None:
        return next((record for record in self._replays if record.id == replay_id), None)

    async def replays(self, limit: int = 100) -> Sequence[ReplayRecord]:
        return list(reversed(self._replays))[:limit]
