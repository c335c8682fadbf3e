"""A test plugin with a filtered list view and binary payloads: what live data, collab and scheduling will need.

``items:<list>`` (durable): ``item.changed`` ``{id, status, previous}`` events. A
subscription may carry ``status``: it then gets ``item.changed`` for items with
that status and ``item.removed`` ``{id}`` when an item leaves it (its previous
status was the filter's), nothing else; without ``status`` it gets every change.
``status: "secret"`` is for admins (``can_subscribe_with``). The snapshot is the
filtered list (``snapshot_for``). ``listing.put`` ``{list, id, status}`` changes an item.

``blob:<key>`` (ephemeral, clients may publish): binary data. ``listing.blob``
``{key, payload: bytes, repeat?}`` publishes ``blob.chunk`` ``{payload, size}``
(the payload repeated) to it and
replies with the payload reversed, as bytes. ``ledger:<key>`` is durable and
clients may publish to it: bytes are refused there.
"""

from __future__ import annotations

from typing import Any

from hub import SAME, ClientRequest, Envelope, Form, InvalidMessage, Subscription, TopicKind, ViewResult, anyone, hookimpl


def parse(raw: dict[str, Any]) -> str | None:
    unknown = set(raw) - {"status"}
    if unknown:
        raise InvalidMessage(f"Unknown parameters {sorted(unknown)}.")
    status = raw.get("status")
    if status is not None and not isinstance(status, str):
        raise InvalidMessage("'status' must be a string.")
    return status


def view(subscription: Subscription, envelope: Envelope) -> ViewResult:
    wanted = subscription.params
    if wanted is None or envelope.type != "item.changed":
        return SAME
    if envelope.data.get("status") == wanted:
        return SAME
    if envelope.data.get("previous") == wanted:
        return Form(("removed", envelope.data["id"]), {"id": envelope.data["id"]}, type="item.removed")
    return None


def secret_for_admins(subscription: Subscription) -> bool:
    return subscription.params != "secret" or subscription.principal.is_admin


class Listing:
    """The plugin: items by list, in memory (one process's snapshot)."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.items: dict[str, dict[str, str]] = {}

    def snapshot(self, subscription: Subscription) -> dict[str, Any]:
        items = self.items.get(subscription.key, {})
        wanted = subscription.params
        return {"items": sorted(key for key, status in items.items() if wanted is None or status == wanted)}

    @hookimpl
    def hub_topic_kinds(self, hub: Any, settings: Any) -> list[TopicKind]:
        return [
            TopicKind(name="items", durable=True, params=parse, view=view, can_subscribe_with=secret_for_admins,
                      snapshot_for=self.snapshot),
            TopicKind(name="blob", can_subscribe=anyone, can_publish=anyone),
            TopicKind(name="ledger", can_subscribe=anyone, can_publish=anyone, durable=True),
        ]

    @hookimpl
    def hub_requests(self, hub: Any) -> dict[str, Any]:
        return {"put": self.put, "blob": self.blob}

    async def put(self, request: ClientRequest) -> dict[str, Any]:
        name, item, status = (request.field(field, str) for field in ("list", "id", "status"))
        items = self.items.setdefault(name, {})
        previous = items.get(item)
        items[item] = status
        envelope = await self.hub.publish(f"items:{name}", "item.changed",
                                          {"id": item, "status": status, "previous": previous})
        return {"seq": envelope.seq}

    async def blob(self, request: ClientRequest) -> dict[str, Any]:
        key = request.field("key", str)
        payload = request.field("payload", bytes)
        repeat = request.field("repeat", int, required=False) or 1
        chunk = payload * repeat
        await self.hub.publish(f"blob:{key}", "blob.chunk", {"payload": chunk, "size": len(chunk)})
        return {"reversed": payload[::-1], "size": len(payload)}

