"""notifications: durable per-user notifications with read state, delivered live or when the user returns.

- ``POST /api/notifications`` (service, admin): one notification per user, published as
  ``notification.created`` to each ``user:<sub>`` inbox (the core's offline queue);
- ``GET /api/notifications`` and ``POST /api/notifications/read``: the caller's own, and their
  read state; marking read publishes ``notification.read`` to the caller's inbox;
- service ``notifications`` (``hub.services``): :class:`NotificationService`, ``await notify(users, title, body, data, id)``
  for code inside the hub;
- a retention pass deleting old notifications.

See docs/notifications.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute

from hub import ConsolePanel, Hub, Unavailable, hookimpl

from . import config, retention
from .config import NAME
from .routes import notification_routes
from .service import NotificationService
from .store import NotificationStore

log = logging.getLogger("hub.plugins.notifications")


@hookimpl
def hub_migrations() -> Path:
    return Path(__file__).parent / "migrations"


@hookimpl
def hub_config_defaults() -> dict[str, Any]:
    return dict(config.DEFAULTS)


@hookimpl
def hub_routes(hub: Hub) -> list[BaseRoute]:
    return notification_routes(hub)


@hookimpl
def hub_startup(hub: Hub) -> None:
    limits = config.load(hub.plugin_config(NAME))  # a bad setting stops the start-up, naming the key
    try:
        database = hub.database
    except Unavailable:
        log.warning("notifications: no SQL database (memory store); the notifications routes answer 503")
        return
    store = NotificationStore(database)
    hub.services.provide(NAME, NotificationService(hub, store, limits))
    if retention.enabled(limits):
        hub.start_task(retention.retention_loop(store, limits), name="notifications-retention")


@hookimpl
def hub_console_panels(hub: Hub) -> list[ConsolePanel]:
    # The card on the console's demo page: console/panel.html and its module console/panel.js.
    folder = Path(__file__).parent / "console"
    return [ConsolePanel.in_folder(folder, id="notifications", title="Notifications", order=20)]


__all__ = ["NotificationService", "hub_config_defaults", "hub_routes", "hub_startup"]
