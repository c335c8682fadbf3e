"""The envelope: the one shape of every event the hub emits.

``Envelope`` builds, validates and serializes events; the socket server emits
nothing else (see ``Hub.publish``).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any


from .errors import InvalidMessage
from .jsoncodec import encode_json

PROTOCOL_VERSION = 1
TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")


def new_id() -> str:
    """A fresh, unique event id: 128 random bits in hex (like a uuid4, for a tenth of the cost).

    The bits come from the operating system's generator, read in blocks: one
    ``getrandom`` call per event cost more than the rest of building it.
    """
    global _random_pos
    if _random_pos >= len(_random_block):
        _refill()
    start = _random_pos
    _random_pos = start + 16
    return _random_block[start:_random_pos].hex()


_random_block = b""
_random_pos = 0


def _refill() -> None:
    global _random_block, _random_pos
    _random_block, _random_pos = os.urandom(4096), 0


# A forked child must not hand out the parent's remaining bits again.
os.register_at_fork(after_in_child=_refill)


_second_prefix: tuple[int, str] = (-1, "")


def utc_timestamp(moment: datetime | None = None) -> str:
    """RFC 3339 UTC with milliseconds, as the contract's ``ts``."""
    if moment is not None:
        moment = moment.astimezone(timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    # Every event gets one: format the date once per second, only the milliseconds each time.
    global _second_prefix
    now = time.time()
    second = int(now)
    if _second_prefix[0] != second:
        _second_prefix = (second, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second)))
    return f"{_second_prefix[1]}{int((now - second) * 1000):03d}Z"


def validate_type(event_type: Any) -> str:
    if not isinstance(event_type, str) or not TYPE_PATTERN.match(event_type):
        raise InvalidMessage("'type' must look like 'plugin.event' (lower case, dot-separated).")
    return event_type


def validate_id(event_id: Any) -> str:
    if not isinstance(event_id, str) or not ID_PATTERN.match(event_id):
        raise InvalidMessage("'id' must be 1 to 128 letters, digits or _.:@- characters.")
    return event_id


def validate_data(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidMessage("'data' must be an object.")
    return data


def contains_bytes(value: Any) -> bool:
    """Whether ``value`` holds bytes anywhere (in dicts, lists and tuples): a binary event's data."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return True
    if isinstance(value, dict):
        return any(contains_bytes(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(contains_bytes(item) for item in value)
    return False


def check_storable(kind: str, data: dict[str, Any]) -> None:
    """Refuse bytes in the data of a durable event: the log stores JSON, and bytes have no JSON form.

    Binary payloads (Socket.IO attachments) travel on ephemeral kinds; a plugin
    that needs their history keeps it itself (a collaborative document keeps its state).
    """
    if contains_bytes(data):
        raise InvalidMessage(
            f"Topics of kind {kind!r} are durable and stored as JSON: their events' data cannot hold bytes "
            "(publish binary data on an ephemeral kind, or encode it as text)."
        )


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event: ``{"v", "id", "type", "topic", "seq", "ts", "data", "meta"}``."""

    type: str
    topic: str
    data: dict[str, Any]
    id: str = field(default_factory=new_id)
    seq: int | None = None
    ts: str = field(default_factory=utc_timestamp)
    meta: dict[str, Any] = field(default_factory=dict)
    v: int = PROTOCOL_VERSION

    @classmethod
    def build(
        cls,
        topic: str,
        type: str,
        data: Any = None,
        id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Envelope:
        """A validated envelope; bad fields raise :class:`InvalidMessage`."""
        return cls(
            type=validate_type(type),
            topic=topic,
            data=validate_data(data),
            id=validate_id(id) if id is not None else new_id(),
            meta=dict(meta or {}),
        )

    def with_seq(self, seq: int, ts: str | None = None) -> Envelope:
        return replace(self, seq=seq, ts=ts or self.ts)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "v": self.v, "id": self.id, "type": self.type, "topic": self.topic,
            "seq": self.seq, "ts": self.ts, "data": self.data,
        }
        if self.meta:
            out["meta"] = self.meta
        return out

    def to_json(self) -> bytes:
        return encode_json(self.to_dict())

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Envelope:
        return cls(
            type=raw["type"], topic=raw["topic"], data=raw.get("data") or {}, id=raw["id"],
            seq=raw.get("seq"), ts=raw["ts"], meta=raw.get("meta") or {}, v=raw.get("v", PROTOCOL_VERSION),
        )
