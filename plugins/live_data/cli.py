"""``hub live_data ...``: install and remove a watched table's triggers and outbox (placeholder, filled below)."""

from __future__ import annotations

from typing import Any


def commands() -> list[Any]:
    return []
