"""The presence plugin's configuration: ``[plugins.presence]`` or ``HUB_PLUGIN_PRESENCE_<KEY>``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULTS: dict[str, Any] = {
    # A connection lost without a clean disconnect stays in its rooms this long.
    "grace_seconds": 5.0,
    # A typing: true not renewed within this ends with typing: false.
    "typing_timeout_seconds": 5.0,
    # At most one typing: true broadcast per user and room per this many milliseconds.
    "typing_throttle_ms": 1000,
    # How often the last-seen time of online users is written.
    "last_seen_interval_seconds": 60.0,
    # Most user ids in one GET /api/presence/users.
    "max_ids": 100,
    # Where the shared state lives: memory:// (one hub process) or redis://host:port/db
    # (several). Empty: redis at HUB_REDIS_URL when that is set, memory:// otherwise.
    "store": "",
}


@dataclass(frozen=True)
class PresenceConfig:
    grace_seconds: float
    typing_timeout_seconds: float
    typing_throttle_ms: float
    last_seen_interval_seconds: float
    max_ids: int
    store: str

    @property
    def typing_throttle(self) -> float:
        return self.typing_throttle_ms / 1000

    @classmethod
    def load(cls, values: Mapping[str, Any]) -> PresenceConfig:
        """The configuration from the merged section; ``ValueError`` naming a bad key."""
        merged = {**DEFAULTS, **values}
        return cls(
            grace_seconds=_number(merged, "grace_seconds"),
            typing_timeout_seconds=_number(merged, "typing_timeout_seconds", minimum=0.05),
            typing_throttle_ms=_number(merged, "typing_throttle_ms"),
            last_seen_interval_seconds=_number(merged, "last_seen_interval_seconds", minimum=1.0),
            max_ids=int(_number(merged, "max_ids", minimum=1)),
            store=str(merged["store"]),
        )


def _number(values: Mapping[str, Any], key: str, minimum: float = 0.0) -> float:
    raw = values[key]
    try:
        number = float(raw)  # values from the environment arrive as strings
    except (TypeError, ValueError):
        raise ValueError(f"presence: {key} must be a number, not {raw!r}") from None
    if number < minimum or number != number:
        raise ValueError(f"presence: {key} must be at least {minimum}, not {raw!r}")
    return number
