"""The section ``[plugins.collab]`` (or ``HUB_PLUGIN_COLLAB_<KEY>``), typed and checked by the core."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub import load_plugin_config, setting

NAME = "collab"  # the entry point's name in pyproject.toml
KIND = "collab"  # the topic kind: collab:<document>


@dataclass(frozen=True)
class CollabConfig:
    max_update_bytes: int = setting(1_048_576, "Largest single Yjs update a client or service may send.", minimum=16)
    max_document_bytes: int = setting(16_777_216, "Largest encoded document; an update past it is too_large.",
                                      minimum=1024)
    compact_after: int = setting(200, "Stored updates of a document that trigger a background compaction.",
                                 minimum=1)
    compact_delay: float = setting(2.0, "Seconds a document waits after its last update before compacting.",
                                   minimum=0)
    awareness_timeout: float = setting(30.0, "Seconds an awareness state lives without being renewed.",
                                       minimum=0.1)
    poll_interval: float = setting(0.25, "Seconds between catch-ups from the database while websocket "
                                         "clients of a document are connected.", minimum=0.01)
    ticket_seconds: float = setting(30.0, "Lifetime of a one-time websocket ticket.", minimum=1)
    read_only_roles: tuple[str, ...] = setting(("viewer",), "Roles that may read documents but never write.")
    write_roles: tuple[str, ...] = setting((), "If set, only these roles (and admins, services) may write.")
    text_name: str = setting("content", "The Y.Text the HTTP API reads and writes by default.")
    unload_after: float = setting(300.0, "Seconds a document's in-memory copy stays loaded unused "
                                         "(it is reloaded from the database when next used).", minimum=1)
    max_versions: int = setting(100, "Most named versions one document keeps.", minimum=1)

    @classmethod
    def load(cls, values: Mapping[str, Any]) -> CollabConfig:
        """The checked section; ``ConfigError`` naming the plugin and the key otherwise."""
        return load_plugin_config(NAME, values, cls)
