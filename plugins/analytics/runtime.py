"""The plugin's running part in one hub process: the tick, the rollups, the watchers.

- Every tick (``tick_seconds``) the process reads its figures and, when the
  cluster is shared through Redis, reports them; while someone here watches
  ``stats:cluster`` it merges everyone's reports and sends them ``stats.tick``.
  Without Redis and without watchers the tick does not run at all.
- Every rollup interval it stores what it counted in the interval (one row).
- ``stats:topic:<topic>`` watchers get ``stats.occupancy`` when the topic's
  subscribers change (counted by every process, merged like the rest).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from hub import Envelope, Hub, Unavailable

from .board import LocalBoard
from .config import KIND, AnalyticsConfig
from .figures import Reading, bucket_delta, counter_delta, read
from .history import HistoryStore, Interval
from .report import merge, node_report, tick

log = logging.getLogger("hub.analytics")
CLUSTER = f"{KIND}:cluster"
TOPIC_PREFIX = f"{KIND}:topic:"
#: The offline-queue backlog and the database's health are read at most this often (seconds).
SLOW_FIGURES_EVERY = 5.0


class Analytics:
    """This process's figures, streamed, merged and stored."""

    def __init__(self, hub: Hub, config: AnalyticsConfig, board: LocalBoard, store: HistoryStore | None,
                 node: str) -> None:
        self.hub = hub
        self.config = config
        self.board = board
        self.store = store
        self.node = node
        #: Local watchers: stats topic -> connection ids.
        self.watchers: dict[str, set[str]] = {}
        self.previous: Reading | None = None
        self.base: Reading | None = None
        self.latest: dict[str, Any] | None = None
        self.occupancy: dict[str, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._health: dict[str, Any] = {"database": "unknown", "broker": "unknown"}
        self._backlog: int | None = None
        self._slow_at = 0.0

    def start(self) -> None:
        self.base = read(self.hub)
        self.hub.start_task(self._tick_loop(), name="analytics-tick")
        self.hub.start_task(self._rollup_loop(), name="analytics-rollup")

    async def stop(self) -> None:
        await self.board.leave(self.node)
        await self.board.close()

    # Watchers --------------------------------------------------------------

    def watch(self, connection_id: str, topic: str) -> None:
        self.watchers.setdefault(topic, set()).add(connection_id)
        self._wake.set()

    def unwatch(self, connection_id: str, topic: str) -> None:
        watching = self.watchers.get(topic)
        if watching is not None:
            watching.discard(connection_id)
            if not watching:
                del self.watchers[topic]
                self.occupancy.pop(topic, None)

    # The tick --------------------------------------------------------------

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.board.shared and not self.watchers:
                self.previous = None  # rates start afresh when someone watches again
                self._wake.clear()
                await self._wake.wait()
            began = loop.time()
            try:
                await self.tick_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("analytics: a tick failed")
            await asyncio.sleep(max(0.0, self.config.tick_seconds - (loop.time() - began)))

    async def tick_once(self) -> None:
        reading = read(self.hub)
        await self._slow_figures()
        watched = await self.board.watched(
            [t for t in self.watchers if t.startswith(TOPIC_PREFIX)], time.time() + 3 * self.config.tick_seconds + 1
        )
        extra = {"occupancy": {topic: self._local_occupancy(topic) for topic in watched}}
        report = node_report(self.node, reading, self.previous, self.base, self._health, extra)
        self.previous = reading
        reports, degraded = await self.board.exchange(report, publish=bool(self.watchers))
        if not self.watchers:
            self.latest = None  # a watcher who comes later gets a fresh snapshot
            return
        merged = merge(reports)
        data = self.latest = tick(merged, degraded, self._backlog)
        for sid in list(self.watchers.get(CLUSTER, ())):
            await self.hub.send(sid, Envelope.build(CLUSTER, "stats.tick", data))
        for topic, seen in merged["occupancy"].items():
            sids = self.watchers.get(topic)
            if not sids:
                continue
            payload = self._occupancy_payload(topic, seen)
            if self.occupancy.get(topic) == payload:
                continue
            self.occupancy[topic] = payload
            for sid in list(sids):
                await self.hub.send(sid, Envelope.build(topic, "stats.occupancy", payload))

    def _local_occupancy(self, watched: str) -> dict[str, Any]:
        topic = watched[len(TOPIC_PREFIX):]
        users: set[str] = set()
        subscribers = 0
        for connection in list(self.hub.connections.values()):
            if topic in connection.subscriptions:
                subscribers += 1
                users.add(connection.user)
        return {"subscribers": subscribers, "users": sorted(users)[: self.config.max_occupants]}

    def _occupancy_payload(self, watched: str, seen: dict[str, Any]) -> dict[str, Any]:
        users = sorted(seen["users"])
        return {"topic": watched[len(TOPIC_PREFIX):], "subscribers": seen["subscribers"], "users_count": len(users),
                "users": users[: self.config.max_occupants]}

    async def snapshot(self, topic: str) -> dict[str, Any]:
        """What a new watcher gets at once: the latest tick, or the topic's occupancy now."""
        if topic == CLUSTER:
            if self.latest is not None:
                return self.latest
            reading = read(self.hub)
            own = node_report(self.node, reading, None, self.base, self._health, {"occupancy": {}})
            return tick(merge([own, *await self.board.others()]), False, self._backlog)
        if topic.startswith(TOPIC_PREFIX):
            local = self._local_occupancy(topic)
            subscribers, users = local["subscribers"], set(local["users"])
            for report in await self.board.others():
                other = report.get("occupancy", {}).get(topic)
                if other:
                    subscribers += other["subscribers"]
                    users.update(other["users"])
            payload = self.occupancy[topic] = self._occupancy_payload(topic, {"subscribers": subscribers, "users": users})
            return payload
        return {}

    async def _slow_figures(self) -> None:
        """The database's and broker's health and the offline-queue backlog, at most every few seconds."""
        now = time.monotonic()
        if now - self._slow_at < SLOW_FIGURES_EVERY and self._health.get("database") != "unknown":
            return
        self._slow_at = now
        health = await self.hub.health()
        self._health = {"database": health.get("database"), "broker": health.get("broker")}
        if self.watchers:
            self._backlog = await offline_backlog(self.hub)

    # Rollups ---------------------------------------------------------------

    async def _rollup_loop(self) -> None:
        seconds = self.config.rollup_seconds
        while True:
            now = time.time()
            await asyncio.sleep((math.floor(now / seconds) + 1) * seconds - now + 0.001)
            try:
                await self.rollup()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("analytics: storing a rollup interval failed")

    async def rollup(self) -> None:
        """Store what this process counted since the last rollup, as one interval."""
        reading = read(self.hub)
        base, self.base = self.base, reading
        if base is None or self.store is None:
            return
        seconds = self.config.rollup_seconds
        start = math.floor(base.at / seconds) * seconds
        await self.store.record(Interval(
            self.node, start, reading.at - start, counter_delta(reading.counters, base.counters), reading.gauges,
            bucket_delta(reading.latency, base.latency),
        ))
        await self.store.trim(time.time() - self.config.retention_seconds)

    async def partials(self) -> list[Interval]:
        """The current interval of every process, not stored yet: this one's now, the others' last reported."""
        seconds = self.config.rollup_seconds
        out = []
        if self.base is not None:
            reading = read(self.hub)
            start = math.floor(self.base.at / seconds) * seconds
            out.append(Interval(self.node, start, reading.at - start, counter_delta(reading.counters, self.base.counters),
                                reading.gauges, bucket_delta(reading.latency, self.base.latency), partial=True))
        for report in await self.board.others():
            partial = report.get("partial", {})
            start = math.floor(float(partial.get("since", 0)) / seconds) * seconds
            out.append(Interval(str(report["node"]), start, float(report["at"]) - start, partial.get("counters", {}),
                                report.get("gauges", {}), partial.get("latency", []), partial=True))
        return out


async def offline_backlog(hub: Hub) -> int | None:
    """Inbox events not acknowledged yet, in the whole store; ``None`` on ``memory://``.

    Read from the core's inbox table by name: the one figure the metrics cannot
    hold (it outlives the processes), read at most every few seconds.
    """
    try:
        database = hub.database
    except Unavailable:
        return None
    try:
        async with database.read() as connection:
            result = await connection.exec_driver_sql("SELECT count(*) FROM hub_inbox")
            return int(result.scalar() or 0)
    except Exception:
        return None
