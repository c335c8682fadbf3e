"""The plugin's configuration: the typed view of ``[plugins.notifications]``.

The core's :func:`hub.load_plugin_config` converts the values (those from the
environment arrive as strings) and checks them once at start-up, so a typo
stops the hub with a message naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub import InvalidSetting, config_defaults, load_plugin_config, setting

NAME = "notifications"  # the entry point's name in pyproject.toml


@dataclass(frozen=True)
class Limits:
    """The checked configuration."""

    max_users: int = setting(10_000, "Recipients per request.", minimum=1)
    max_title_chars: int = setting(200, "Longest title.", minimum=1)
    max_body_chars: int = setting(5_000, "Longest body.", minimum=1)
    max_data_bytes: int = setting(16_384, "Largest JSON-encoded `data`.", minimum=1)
    max_request_bytes: int = setting(
        4 * 1024 * 1024, "Largest POST body (10,000 long user ids fit).", minimum=1
    )
    page_size: int = setting(50, "Default `limit` of GET /api/notifications.", minimum=1)
    max_page_size: int = setting(200, "Largest `limit` of GET /api/notifications.", minimum=1)
    read_retention_days: float = setting(
        30.0, "Read notifications older than this are deleted; 0 keeps them.", minimum=0
    )
    unread_retention_days: float = setting(0.0, "Unread ones too (0: never).", minimum=0)
    # Positive: a pass every 0 seconds would spin.
    retention_interval: float = setting(3600.0, "Seconds between two retention passes.", minimum=0.01)

    def __post_init__(self) -> None:
        if self.page_size > self.max_page_size:
            raise InvalidSetting("page_size", f"must not exceed max_page_size ({self.max_page_size})")


DEFAULTS: dict[str, Any] = config_defaults(Limits)


def load(section: Mapping[str, Any]) -> Limits:
    """``Limits`` from the merged section; ``ConfigError`` naming the key on a bad value."""
    return load_plugin_config(NAME, section, Limits)
