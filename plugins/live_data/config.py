"""The plugin's settings, ``[plugins.live_data]``, and each configured collection.

``collections`` is a table (in ``hub.toml``) or a JSON object (in
``HUB_PLUGIN_LIVE_DATA_COLLECTIONS``) of collection name to its settings:
``key`` (the record's key field, default ``id``), ``read`` (roles that may
subscribe; ``["*"]``, the default, is any signed-in user), ``owner`` (a field:
a user sees only records whose field equals their ``sub`` or lists it),
``see_all`` (roles that see every record despite ``owner``), ``rule`` (the name
of an application rule registered on the service) and ``source`` (a watched
table: ``{"table": ..., "key": ...}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub import ConfigError, decode_json, load_plugin_config, setting

NAME = "live_data"
KIND = "live"
COLLECTION_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Settings:
    """``[plugins.live_data]``: the scalar settings (``collections`` is read by :func:`load`)."""

    retention_days: float = setting(7.0, "How long live.* events are kept for resuming with since (0: no limit).", minimum=0)
    max_records: int = setting(10_000, "Most records a snapshot may hold.", minimum=1)
    max_batch: int = setting(1000, "Most changes in one POST .../changes.", minimum=1)
    max_record_bytes: int = setting(64 * 1024, "Largest JSON-encoded record.", minimum=64)
    source_url: str = setting("", "The application's database (SQLAlchemy async URL) holding watched tables; empty: none.")
    poll_interval: float = setting(0.5, "Seconds between two looks at a SQLite outbox (PostgreSQL is woken by NOTIFY).", minimum=0.01)
    prune_after: float = setting(86400.0, "Seconds a delivered outbox row is kept before it is pruned.", minimum=0)
    lease_seconds: float = setting(10.0, "How long the outbox drainer's lease lasts without renewal.", minimum=0.5)


@dataclass(frozen=True)
class Collection:
    """One configured collection."""

    name: str
    key: str = "id"
    read: tuple[str, ...] = ("*",)
    owner: str | None = None
    see_all: tuple[str, ...] = ()
    rule: str | None = None
    table: str | None = None
    table_key: str | None = None

    @property
    def watched(self) -> bool:
        return self.table is not None


def _roles(name: str, item: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(role, str) for role in value):
        raise ConfigError(f"plugin 'live_data': collection {name!r}: {item!r} must be a list of roles")
    return tuple(value)


def parse_collection(name: str, raw: Any) -> Collection:
    prefix = f"plugin 'live_data': collection {name!r}"
    if not COLLECTION_PATTERN.match(name):
        raise ConfigError(f"{prefix}: a name matches {COLLECTION_PATTERN.pattern}")
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix}: must be a table")
    unknown = set(raw) - {"key", "read", "owner", "see_all", "rule", "source"}
    if unknown:
        raise ConfigError(f"{prefix}: unknown setting(s) {', '.join(sorted(unknown))}")
    source = raw.get("source") or {}
    if not isinstance(source, Mapping) or (source and not isinstance(source.get("table"), str)):
        raise ConfigError(f"{prefix}: 'source' is a table with 'table' (and 'key')")
    table = source.get("table")
    table_key = source.get("key", raw.get("key", "id"))
    for label, value in (("source.table", table), ("source.key", table_key if table else None)):
        if value is not None and not IDENTIFIER.match(str(value)):
            raise ConfigError(f"{prefix}: {label} must be an SQL identifier, got {value!r}")
    for label in ("key", "owner", "rule"):
        if raw.get(label) is not None and not isinstance(raw.get(label), str):
            raise ConfigError(f"{prefix}: {label!r} must be a string")
    return Collection(
        name=name, key=raw.get("key", "id"), read=_roles(name, "read", raw.get("read", ["*"])),
        owner=raw.get("owner"), see_all=_roles(name, "see_all", raw.get("see_all", [])), rule=raw.get("rule"),
        table=table, table_key=table_key if table else None,
    )


@dataclass(frozen=True)
class Config:
    settings: Settings
    collections: dict[str, Collection] = field(default_factory=dict)


def load(values: Mapping[str, Any]) -> Config:
    """The checked configuration; :class:`ConfigError` naming what is wrong (it stops the start-up)."""
    values = dict(values)
    raw = values.pop("collections", None) or {}
    if isinstance(raw, str):
        try:
            raw = decode_json(raw) if raw.strip() else {}
        except ValueError:
            raise ConfigError("plugin 'live_data': setting 'collections' must be a JSON object") from None
    if not isinstance(raw, Mapping):
        raise ConfigError("plugin 'live_data': setting 'collections' must be a table (or a JSON object)")
    settings = load_plugin_config(NAME, values, Settings)
    return Config(settings, {name: parse_collection(name, item) for name, item in raw.items()})


def defaults() -> dict[str, Any]:
    from hub import config_defaults

    return {**config_defaults(Settings), "collections": ""}
