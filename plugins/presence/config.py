"""The presence plugin's configuration: ``[plugins.presence]`` or ``HUB_PLUGIN_PRESENCE_<KEY>``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub import config_defaults, load_plugin_config, setting

NAME = "presence"  # the entry point's name in pyproject.toml


@dataclass(frozen=True)
class PresenceConfig:
    """The checked settings (converted by the core's :func:`hub.load_plugin_config`)."""

    grace_seconds: float = setting(
        5.0, "A connection lost without a clean disconnect stays in its rooms this long.", minimum=0
    )
    typing_timeout_seconds: float = setting(
        5.0, "A typing: true not renewed within this ends with typing: false.", minimum=0.05
    )
    typing_throttle_ms: float = setting(
        1000.0, "At most one typing: true broadcast per user and room per this many milliseconds.", minimum=0
    )
    last_seen_interval_seconds: float = setting(
        60.0, "How often the last-seen time of online users is written.", minimum=1.0
    )
    max_ids: int = setting(100, "Most user ids in one GET /api/presence/users.", minimum=1)
    store: str = setting(
        "", "Where the shared state lives: memory:// (one hub process) or redis://host:port/db (several). "
        "Empty: redis at HUB_REDIS_URL when that is set, memory:// otherwise."
    )

    @property
    def typing_throttle(self) -> float:
        return self.typing_throttle_ms / 1000

    @classmethod
    def load(cls, values: Mapping[str, Any]) -> PresenceConfig:
        """The configuration from the merged section; ``ConfigError`` naming a bad key."""
        return load_plugin_config(NAME, values, cls)


DEFAULTS: dict[str, Any] = config_defaults(PresenceConfig)
