"""The binary encodings of Yjs that the server reads and writes itself (lib0's varints and strings).

- y-websocket's messages: ``varUint(type)`` then, for ``messageSync = 0``,
  ``varUint(step)`` (0 step 1, 1 step 2, 2 update) and ``varUint8Array``; for
  ``messageAwareness = 1``, ``varUint8Array(awareness update)``;
  ``messageQueryAwareness = 3`` has no body.
- An awareness update (y-protocols/awareness): ``varUint(n)`` then, ``n`` times,
  ``varUint(clientID) varUint(clock) varString(JSON state)``; the state ``null``
  means the client left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub import InvalidMessage, decode_json, encode_json

MESSAGE_SYNC = 0
MESSAGE_AWARENESS = 1
MESSAGE_AUTH = 2
MESSAGE_QUERY_AWARENESS = 3
SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2


def write_var_uint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def write_var_bytes(data: bytes) -> bytes:
    return write_var_uint(len(data)) + data


class Reader:
    """Reads lib0-encoded values from a buffer; ``InvalidMessage`` past its end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def var_uint(self) -> int:
        value = shift = 0
        while True:
            if self.pos >= len(self.data) or shift > 63:
                raise InvalidMessage("A truncated or malformed Yjs message.")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    def var_bytes(self) -> bytes:
        length = self.var_uint()
        if self.pos + length > len(self.data):
            raise InvalidMessage("A truncated Yjs message.")
        chunk = self.data[self.pos:self.pos + length]
        self.pos += length
        return chunk

    def var_string(self) -> str:
        try:
            return self.var_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMessage("An awareness state that is not UTF-8.") from exc

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


@dataclass(frozen=True)
class AwarenessEntry:
    client: int
    clock: int
    state: str  # the JSON text, as sent ("null" for a client that left)

    @property
    def left(self) -> bool:
        return self.state == "null"


def decode_awareness(data: bytes) -> list[AwarenessEntry]:
    """The entries of an awareness update; ``InvalidMessage`` when it is not one."""
    reader = Reader(data)
    entries = []
    for _ in range(reader.var_uint()):
        client, clock, state = reader.var_uint(), reader.var_uint(), reader.var_string()
        try:
            decode_json(state)
        except ValueError as exc:
            raise InvalidMessage("An awareness state that is not JSON.") from exc
        entries.append(AwarenessEntry(client, clock, state))
    if not reader.done:
        raise InvalidMessage("Trailing bytes after an awareness update.")
    return entries


def encode_awareness(entries: list[AwarenessEntry]) -> bytes:
    out = bytearray(write_var_uint(len(entries)))
    for entry in entries:
        out += write_var_uint(entry.client) + write_var_uint(entry.clock)
        out += write_var_bytes(entry.state.encode("utf-8"))
    return bytes(out)


def sync_message(step: int, payload: bytes) -> bytes:
    return write_var_uint(MESSAGE_SYNC) + write_var_uint(step) + write_var_bytes(payload)


def awareness_message(update: bytes) -> bytes:
    return write_var_uint(MESSAGE_AWARENESS) + write_var_bytes(update)


def state_json(value: Any) -> str:
    return encode_json(value).decode()
