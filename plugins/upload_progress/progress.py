"""Throttled progress: a few ticks a second at most, at each whole percent, never backwards.

``percent`` is the whole upload's: receiving fills ``0 .. split`` and storing
``split .. 100``, where ``split`` depends on how much work the storage backend
does (a local rename is instant; Cloudinary sends the file again). ``bytes`` and
``total`` are the current phase's.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

Emit = Callable[[dict[str, Any]], Awaitable[None]]


class ProgressReporter:
    """Turns raw byte counts into ``upload.progress`` data, dropping ticks that say too little too soon."""

    def __init__(self, emit: Emit, split: int, interval: float = 0.1, heartbeat: float = 1.0) -> None:
        self.emit = emit
        self.split = split
        self.interval = interval
        self.heartbeat = heartbeat
        self.percent = 0
        self.last: dict[str, Any] | None = None
        self._last_at = 0.0

    def _percent(self, phase: str, done: int, total: int | None) -> int:
        low, high = (0, self.split) if phase == "receiving" else (self.split, 100)
        fraction = min(1.0, done / total) if total else 0.0
        # Only a phase's final tick reaches its upper bound: the total may be an estimate.
        return max(self.percent, min(low + int((high - low) * fraction), high - 1))

    async def update(self, phase: str, done: int, total: int | None, final: bool = False) -> None:
        """Report ``done`` of ``total`` bytes in ``phase``; ``final`` marks the phase's last tick, always sent."""
        if final:
            percent = max(self.percent, self.split if phase == "receiving" else 100)
        else:
            percent = self._percent(phase, done, total)
        now = time.monotonic()
        if not final:
            since = now - self._last_at
            if since < self.interval:
                return
            phase_changed = self.last is None or self.last["phase"] != phase
            if percent <= self.percent and not phase_changed and since < self.heartbeat:
                return
            if self.last is not None and self.last["phase"] == phase and self.last["bytes"] == done:
                return
        self.percent = percent
        self._last_at = now
        self.last = {"phase": phase, "bytes": done, "total": total, "percent": percent}
        await self.emit(dict(self.last))
