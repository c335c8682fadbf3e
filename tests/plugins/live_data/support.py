"""Helpers of the live_data tests: a client-side list kept by the documented rule, and HTTP writers."""

from __future__ import annotations

from typing import Any

from hub.testing import RunningHub, SocketRecorder

LIVE_TYPES = ("live.added", "live.changed", "live.removed", "live.reset")


class LiveList:
    """What a client keeps: the snapshot at the reply's seq, then each event with a higher seq, strictly checked.

    An ``added`` for a key already held, or a ``changed``/``removed`` for a key not
    held, is a repeat or a gap: it fails the test at once.
    """

    def __init__(self, client: SocketRecorder, topic: str) -> None:
        self.client = client
        self.topic = topic
        self.records: dict[str, Any] = {}
        self.seq = 0
        self.position = 0  # how many recorded events were looked at
        self.applied: list[dict[str, Any]] = []

    async def subscribe(self, **params: Any) -> dict[str, Any]:
        self.position = 0
        reply = await self.client.call("subscribe", {"topic": self.topic, **params})
        assert reply["ok"], reply
        if "snapshot" in reply:
            self.records = {item["key"]: item["record"] for item in reply["snapshot"]["records"]}
        self.seq = reply["seq"]
        return reply

    def catch_up(self) -> None:
        events = self.client.events
        for name, envelope in events[self.position:]:
            if name not in LIVE_TYPES or envelope.get("topic") != self.topic:
                continue
            if envelope["seq"] <= self.seq:
                continue  # already in the snapshot this list started from
            self.apply(envelope)
        self.position = len(events)

    def apply(self, envelope: dict[str, Any]) -> None:
        kind, data = envelope["type"], envelope["data"]
        if kind == "live.reset":
            self.records = {item["key"]: item["record"] for item in data["records"]}
        elif kind == "live.added":
            assert data["key"] not in self.records, f"added twice: {envelope}"
            self.records[data["key"]] = data["record"]
        elif kind == "live.changed":
            assert self.records.get(data["key"]) == data["previous"], f"changed from a state not held: {envelope}"
            self.records[data["key"]] = data["record"]
        else:
            assert data["key"] in self.records, f"removed what was not held: {envelope}"
            assert set(data) == {"key"}, envelope
            del self.records[data["key"]]
        self.seq = envelope["seq"]
        self.applied.append(envelope)


async def listing(hub: RunningHub, collection: str) -> dict[str, Any]:
    """Every record of ``collection``, as the hub holds it (``GET /api/live_data/collections/...``)."""
    async with hub.http() as http:
        response = await http.get(f"/api/live_data/collections/{collection}", headers=hub.headers())
    if response.status_code == 404:
        return {}  # no write reached the collection yet
    response.raise_for_status()
    return {item["key"]: item["record"] for item in response.json()["records"]}


async def put(http: Any, hub: RunningHub, collection: str, key: str, record: dict[str, Any], **headers: str) -> Any:
    response = await http.put(f"/api/live/{collection}/{key}", json=record, headers={**hub.headers(), **headers})
    assert response.status_code == 200, response.text
    return response.json()
