"""Where the processes of a cluster put their reports and read everyone's: Redis, or this process alone.

Redis keys (``P`` is ``<hub prefix>:analytics``):

- ``P:nodes`` hash: process name -> its latest report (JSON, with its time ``at``);
- ``P:watched`` hash: ``stats:topic:<topic>`` -> until when (Unix time) someone watches it.

A report older than ``node_timeout`` is a process that stopped reporting (it
died, or cannot reach Redis): it is left out of the cluster's figures and
removed. A process that stops cleanly removes its own report at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from hub import decode_json, encode_json

log = logging.getLogger("hub.analytics")


class LocalBoard:
    """One process: its own report is the cluster's."""

    shared = False

    async def exchange(self, report: Mapping[str, Any], publish: bool = True) -> tuple[list[Mapping[str, Any]], bool]:
        """Put ``report``, read every live process's: ``(reports, degraded)``."""
        return [report], False

    async def others(self) -> list[Mapping[str, Any]]:
        """The latest reports of the other live processes (none here)."""
        return []

    async def watched(self, mine: Iterable[str], until: float) -> set[str]:
        return set(mine)

    async def leave(self, node: str) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisBoard(LocalBoard):
    """Every process sharing one Redis (the hub's ``HUB_REDIS_URL`` by default)."""

    shared = True

    def __init__(self, url: str, prefix: str, node: str, timeout: float) -> None:
        try:
            from redis import asyncio as aioredis
        except ImportError:
            raise RuntimeError('analytics: a shared cluster view needs the redis package (pip install "hub[redis]")') from None
        # Short timeouts: a tick must not wait on a Redis that is gone (it reports degraded instead).
        self.redis: Any = aioredis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=0.5, socket_timeout=0.5
        )
        self.nodes_key = f"{prefix}:nodes"
        self.watched_key = f"{prefix}:watched"
        self.node = node
        self.timeout = timeout
        self.down = False

    async def exchange(self, report: Mapping[str, Any], publish: bool = True) -> tuple[list[Mapping[str, Any]], bool]:
        try:
            if not publish:
                await self.redis.hset(self.nodes_key, self.node, encode_json(report))
                self._up()
                return [report], False
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(self.nodes_key, self.node, encode_json(report))
                pipe.hgetall(self.nodes_key)
                _, raw = await pipe.execute()
        except Exception as exc:  # an outage: this process's own figures, marked degraded
            if not self.down:
                log.warning("analytics: Redis unreachable (%s: %s); streaming this process's figures only",
                            type(exc).__name__, exc)
            self.down = True
            return [report], True
        self._up()
        now = time.time()
        reports, stale = [], []
        for node, text in raw.items():
            try:
                other = report if node == self.node else decode_json(text)
            except ValueError:
                stale.append(node)
                continue
            if node != self.node and now - float(other.get("at", 0)) > self.timeout:
                stale.append(node)
                continue
            reports.append(other)
        if stale:
            try:
                await self.redis.hdel(self.nodes_key, *stale)
            except Exception:
                pass  # the next tick's reader removes them
        return reports, False

    async def others(self) -> list[Mapping[str, Any]]:
        try:
            raw = await self.redis.hgetall(self.nodes_key)
        except Exception:
            return []
        now, out = time.time(), []
        for node, text in raw.items():
            if node == self.node:
                continue
            try:
                report = decode_json(text)
            except ValueError:
                continue
            if now - float(report.get("at", 0)) <= self.timeout:
                out.append(report)
        return out

    def _up(self) -> None:
        if self.down:
            log.warning("analytics: Redis reachable again; the cluster view is whole")
        self.down = False

    async def watched(self, mine: Iterable[str], until: float) -> set[str]:
        """Renew the topics this process watches and return every topic watched anywhere."""
        mine = list(mine)
        try:
            if mine:
                await self.redis.hset(self.watched_key, mapping={topic: until for topic in mine})
            raw = await self.redis.hgetall(self.watched_key)
        except Exception:
            return set(mine)
        now = time.time()
        expired = [topic for topic, deadline in raw.items() if float(deadline) < now]
        if expired:
            try:
                await self.redis.hdel(self.watched_key, *expired)
            except Exception:
                pass
        return {topic for topic, deadline in raw.items() if float(deadline) >= now} | set(mine)

    async def leave(self, node: str) -> None:
        try:
            await self.redis.hdel(self.nodes_key, node)
        except Exception:
            pass  # it times out of the others' view instead

    async def close(self) -> None:
        await self.redis.aclose()
