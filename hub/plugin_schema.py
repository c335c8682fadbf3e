"""The plugins' Alembic branches: what their ``hub_migrations`` hooks return.

The enabled plugins' branches are migrated with the core. Every other
installed plugin is loaded on its own, only to ask where its revisions are:
a database that it migrated while it was enabled must still resolve.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pluggy

from .db import CORE_BRANCH, Branches
from .plugins import PluginError, call_each, installed_entry_points, load_plugins, plugin_names

logger = logging.getLogger("hub.plugins")


def migration_folders(pm: pluggy.PluginManager) -> dict[str, Path]:
    """``{plugin: folder}`` for the plugins in ``pm`` that implement ``hub_migrations``."""
    folders = {}
    for plugin, returned in call_each(pm, "hub_migrations"):
        if plugin == CORE_BRANCH:
            raise PluginError(f"plugin {plugin!r}: the branch label {CORE_BRANCH!r} is the core's")
        folder = Path(returned)
        if not folder.is_dir():
            raise PluginError(f"plugin {plugin!r}: hub_migrations returned {folder}, which is not a directory")
        folders[plugin] = folder
    return folders


def plugin_branches(pm: pluggy.PluginManager) -> Branches:
    """The branches of the plugins loaded in ``pm`` (enabled) and of the other installed ones (disabled).

    A disabled plugin that fails to load is logged and left out: its revisions
    are then unknown, which matters only for a database it once migrated.
    """
    enabled = set(plugin_names(pm))
    disabled: dict[str, Path] = {}
    for name in (ep.name for ep in installed_entry_points()):
        if name in enabled:
            continue
        try:
            disabled.update(migration_folders(load_plugins([name])))
        except PluginError as exc:
            logger.warning("%s (not enabled); its migrations are unknown to this hub", exc)
    return Branches(enabled=migration_folders(pm), disabled=disabled)
