"""Event log backends, chosen by URL scheme."""

from __future__ import annotations

from .base import Appended, Backlog, EventLog

__all__ = ["Appended", "Backlog", "EventLog", "open_event_log"]


def open_event_log(url: str) -> EventLog:
    """The backend for ``url``; drivers are imported only when their scheme is used."""
    if url.startswith("memory:"):
        from .memory import MemoryEventLog

        return MemoryEventLog()
    if url.startswith(("sqlite", "postgresql")):
        from .sql import SqlEventLog

        return SqlEventLog(url)
    raise ValueError(f"HUB_DATABASE_URL: no event log backend for {url!r} (use sqlite+aiosqlite:// or postgresql+asyncpg://)")
