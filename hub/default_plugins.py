"""The core's own topic kinds, written as a plugin against the public hooks.

Registered before the installed plugins, so their hook implementations run first.
"""

from __future__ import annotations

from .hookspecs import hookimpl
from .topics import TopicKind, nobody, owner_or_admin

USER_KIND = TopicKind(
    name="user",
    can_subscribe=owner_or_admin,
    can_publish=nobody,
    durable=True,
    inbox=True,
    description="A user's private inbox; queued until the user acknowledges each event.",
)


@hookimpl
def hub_topic_kinds() -> list[TopicKind]:
    return [USER_KIND]
