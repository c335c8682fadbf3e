"""The benchmark's plugin: ``bench:<key>``, an ephemeral kind anyone may subscribe to and publish on.

The fan-out benchmark and the fan-out tests put it on a hub's PYTHONPATH
with a minimal ``.dist-info`` (see ``bench/fanout/run.py``), so the hub
discovers it the way it discovers an installed plugin.
"""

from __future__ import annotations

from hub import TopicKind, anyone, hookimpl


@hookimpl
def hub_topic_kinds(settings):
    return [
        TopicKind(
            name="bench",
            can_subscribe=anyone,
            can_publish=anyone,
            durable=False,
            description="Benchmark topics: not stored, anyone may subscribe and publish.",
        )
    ]
