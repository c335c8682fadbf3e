"""A test application plugin restricting presence rooms, as docs/presence.md shows.

Rooms ``presence:chat-<id>`` admit only the members of chat ``<id>``, read from
the JSON object in ``PRESENCE_GATE_CHATS`` (``{"<id>": ["alice", "bob"]}``).
Other rooms keep the presence plugin's default: any authenticated user.
"""

from __future__ import annotations

import json
import os

from hub import hookimpl

CHATS: dict[str, list[str]] = json.loads(os.environ.get("PRESENCE_GATE_CHATS", "{}"))


@hookimpl
def hub_authorize_subscribe(hub, connection, topic):
    if topic.startswith("presence:chat-"):
        return connection.user in CHATS.get(topic.removeprefix("presence:chat-"), [])
    return None
