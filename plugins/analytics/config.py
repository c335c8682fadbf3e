"""The analytics plugin's configuration: ``[plugins.analytics]`` or ``HUB_PLUGIN_ANALYTICS_<KEY>``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub import config_defaults, load_plugin_config, setting

NAME = "analytics"  # the entry point's name in pyproject.toml
KIND = "stats"


@dataclass(frozen=True)
class AnalyticsConfig:
    """The checked settings (converted by the core's :func:`hub.load_plugin_config`)."""

    tick_seconds: float = setting(1.0, "How often stats.tick is sent to stats:cluster watchers.", minimum=0.05)
    rollup_seconds: float = setting(60.0, "The length of one stored history interval.", minimum=0.5)
    retention_seconds: float = setting(7 * 86400.0, "How long stored history intervals are kept.", minimum=1.0)
    node_timeout_seconds: float = setting(
        3.0, "A hub process whose figures are older than this has left the cluster view.", minimum=0.2
    )
    redis_url: str = setting(
        "", "Where the processes share their figures. Empty: HUB_REDIS_URL when set, else this process only."
    )
    max_history_points: int = setting(5000, "Most points one GET /api/analytics/history returns.", minimum=1)
    max_occupants: int = setting(100, "Most users listed by one stats.occupancy (the count is exact).", minimum=0)

    @classmethod
    def load(cls, values: Mapping[str, Any]) -> AnalyticsConfig:
        """The configuration from the merged section; ``ConfigError`` naming a bad key."""
        return load_plugin_config(NAME, values, cls)


DEFAULTS: dict[str, Any] = config_defaults(AnalyticsConfig)
