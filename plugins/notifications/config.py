"""The plugin's configuration: defaults, and the typed view of ``[plugins.notifications]``.

Values from the environment arrive as strings; :func:`load` converts and checks
them once at start-up, so a typo stops the hub with a message naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

NAME = "notifications"  # the entry point's name in pyproject.toml

DEFAULTS: dict[str, Any] = {
    "max_users": 10_000,  # recipients per request
    "max_title_chars": 200,
    "max_body_chars": 5_000,
    "max_data_bytes": 16_384,  # the JSON-encoded `data`
    "max_request_bytes": 4 * 1024 * 1024,  # POST body: 10,000 long user ids fit
    "page_size": 50,  # GET default `limit`
    "max_page_size": 200,
    "read_retention_days": 30.0,  # read notifications older than this are deleted; 0 keeps them
    "unread_retention_days": 0.0,  # unread ones too (0: never)
    "retention_interval": 3600.0,  # seconds between two retention passes
}


@dataclass(frozen=True)
class Limits:
    """The checked configuration."""

    max_users: int
    max_title_chars: int
    max_body_chars: int
    max_data_bytes: int
    max_request_bytes: int
    page_size: int
    max_page_size: int
    read_retention_days: float
    unread_retention_days: float
    retention_interval: float


def load(section: Mapping[str, Any]) -> Limits:
    """``Limits`` from the merged section; ``ValueError`` naming the key on a bad value."""
    values: dict[str, Any] = {}
    for item in fields(Limits):
        raw = section.get(item.name, DEFAULTS[item.name])
        kind = int if item.type == "int" else float
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            raise ValueError(f"[plugins.{NAME}] {item.name} must be a number, not {raw!r}") from None
        if value < 0 or (kind is int and value == 0) or (item.name == "retention_interval" and value <= 0):
            raise ValueError(f"[plugins.{NAME}] {item.name} must be positive, not {raw!r}")
        values[item.name] = value
    if values["page_size"] > values["max_page_size"]:
        raise ValueError(f"[plugins.{NAME}] page_size must not exceed max_page_size")
    return Limits(**values)
