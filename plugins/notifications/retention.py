"""Retention: a background pass that deletes old notifications, as configured."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone

from hub import utc_timestamp

from .config import Limits
from .store import NotificationStore

log = logging.getLogger("hub.plugins.notifications")


def _cutoff(days: float) -> str | None:
    if days <= 0:
        return None
    return utc_timestamp(datetime.now(timezone.utc) - timedelta(days=days))


async def purge_once(store: NotificationStore, limits: Limits) -> int:
    """Delete what the retention settings no longer keep; how many rows went."""
    return await store.purge(_cutoff(limits.read_retention_days), _cutoff(limits.unread_retention_days))


async def retention_loop(store: NotificationStore, limits: Limits) -> None:
    """Run :func:`purge_once` every ``retention_interval`` seconds until the hub stops."""
    while True:
        await asyncio.sleep(limits.retention_interval)
        try:
            deleted = await purge_once(store, limits)
        except Exception:  # a failed pass is retried at the next interval
            log.exception("notifications retention pass failed")
            continue
        if deleted:
            log.info("notifications retention deleted %d rows", deleted)


def enabled(limits: Limits) -> bool:
    return limits.read_retention_days > 0 or limits.unread_retention_days > 0
