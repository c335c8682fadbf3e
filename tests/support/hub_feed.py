"""A test plugin with a durable, client-publishable kind, ``feed:<key>``, and an ephemeral one, ``chatter:<key>``.

Anyone may subscribe and publish to either. Retention keeps the newest
``HUB_PLUGIN_FEED_KEEP`` events of a feed (default: all), so tests can see
``recovered: false``. A chatter event is never stored: nothing but the live
path (and, across processes, the broker) can bring it to a subscriber.
"""

from __future__ import annotations

import os

from hub import Retention, TopicKind, anyone, hookimpl


@hookimpl
def hub_topic_kinds(settings):
    keep = os.environ.get("HUB_PLUGIN_FEED_KEEP")
    return [
        TopicKind(
            name="feed",
            can_subscribe=anyone,
            can_publish=anyone,
            durable=True,
            retention=Retention(max_count=int(keep) if keep else None),
        ),
        TopicKind(name="chatter", can_subscribe=anyone, can_publish=anyone, durable=False),
    ]
