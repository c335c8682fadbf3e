"""A test plugin whose durable kind's snapshot reports what the core told it: the reply's seq, since, recovered."""

from __future__ import annotations

from typing import Any

from hub import Subscription, TopicKind, hookimpl


def snapshot(subscription: Subscription) -> dict[str, Any]:
    return {"seq": subscription.seq, "since": subscription.since, "recovered": subscription.recovered}


@hookimpl
def hub_topic_kinds() -> list[TopicKind]:
    return [TopicKind(name="seqsnap", durable=True, params=lambda raw: raw, snapshot_for=snapshot)]
