"""Event log backends, chosen by URL scheme."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Appended, Backlog, EventLog

if TYPE_CHECKING:
    from ..db import Branches

__all__ = ["Appended", "Backlog", "EventLog", "open_event_log"]


def open_event_log(url: str, branches: Branches | None = None) -> EventLog:
    """The backend for ``url``; drivers are imported only when their scheme is used.

    ``branches``: the plugins' migrations, which a SQL store checks (and on SQLite applies) with the core's.
    """
    if url.startswith("memory:"):
        from .memory import MemoryEventLog

        return MemoryEventLog()
    if url.startswith(("sqlite", "postgresql")):
        from .sql import SqlEventLog

        return SqlEventLog(url, branches)
    raise ValueError(f"HUB_DATABASE_URL: no event log backend for {url!r} (use sqlite+aiosqlite:// or postgresql+asyncpg://)")
