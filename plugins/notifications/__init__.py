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
from typing import Any

from starlette.routing import BaseRoute

from hub import Hub, Unavailable, hookimpl

from . import config, retention
from .config import NAME
from .routes import notification_routes
from .service import NotificationService
from .store import NotificationStore

log = logging.getLogger("hub.plugins.notifications")


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
        engine = hub.engine
    except Unavailable:
        log.warning("notifications: no SQL database (memory store); the notifications routes answer 503")
        return
    store = NotificationStore(engine)
    hub.services.provide(NAME, NotificationService(hub, store, limits))
    if retention.enabled(limits):
        hub.start_task(retention.retention_loop(store, limits), name="notifications-retention")


__all__ = ["NotificationService", "hub_config_defaults", "hub_routes", "hub_startup"]
