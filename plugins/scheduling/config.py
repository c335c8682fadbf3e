"""The scheduling plugin's configuration: ``[plugins.scheduling]`` or ``HUB_PLUGIN_SCHEDULING_<KEY>``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub import InvalidSetting, config_defaults, load_plugin_config, setting

NAME = "scheduling"  # the entry point's name in pyproject.toml


@dataclass(frozen=True)
class SchedulingConfig:
    """The checked settings (converted by the core's :func:`hub.load_plugin_config`)."""

    hold_seconds: float = setting(300.0, "How long a hold keeps a slot before it is released.", minimum=0.1)
    max_holds_per_user: int = setting(3, "Most holds one user may have at once.", minimum=1)
    cancel_before_seconds: float = setting(
        3600.0, "Clients and lawyers may cancel or reschedule until this long before the start (admins always).",
        minimum=0,
    )
    reminder_offsets_seconds: tuple[str, ...] = setting(
        ("86400", "3600"), "Reminders are sent this many seconds before each appointment (a list)."
    )
    sweep_seconds: float = setting(
        30.0, "At the latest this often, look for holds expired and reminders due on other processes.", minimum=0.05
    )
    max_range_days: int = setting(62, "Longest date range one availability subscription may ask for.", minimum=1)
    horizon_days: int = setting(365, "How far ahead a slot may be held or booked.", minimum=1)

    def __post_init__(self) -> None:
        try:
            offsets = [float(value) for value in self.reminder_offsets_seconds]
        except ValueError:
            raise InvalidSetting("reminder_offsets_seconds", "must be numbers of seconds") from None
        if any(offset <= 0 for offset in offsets):
            raise InvalidSetting("reminder_offsets_seconds", "must be positive")

    @property
    def reminder_offsets(self) -> tuple[float, ...]:
        """The reminder offsets in seconds, largest first, without repeats."""
        return tuple(sorted({float(value) for value in self.reminder_offsets_seconds}, reverse=True))

    @classmethod
    def load(cls, values: Mapping[str, Any]) -> SchedulingConfig:
        """The configuration from the merged section; ``ConfigError`` naming a bad key."""
        return load_plugin_config(NAME, values, cls)


DEFAULTS: dict[str, Any] = config_defaults(SchedulingConfig)
