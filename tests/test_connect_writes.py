"""A new websocket connection's first bytes leave in two writes, not four.

The 101 Switching Protocols and Engine.IO's OPEN packet are one write; the
Socket.IO CONNECT reply and the hub's welcome are another. A raw websocket
client (reading the TCP stream itself) gets the same bytes in the same order;
a request's acknowledgement is still written at once, not held for a burst.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from asyncio import selector_events
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub import fastpath
from hub.testing import DEFAULT_TIMEOUT, ServedHub

#: The test loop's socket transport (asyncio's, not uvloop's): its write and writelines are counted.
Transport: Any = getattr(selector_events, "_SelectorSocketTransport")


class Writes:
    """Every write to a transport of this process: (local port of the peer, bytes, written by the Flusher)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bytes, bool]] = []
        self.flushing = False
        self.inner = False  # asyncio's writelines may write through write()

    def of(self, port: int) -> list[tuple[bytes, bool]]:
        return [(data, flushed) for peer, data, flushed in self.calls if peer == port]


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Writes]:
    record = Writes()
    write, writelines = Transport.write, Transport.writelines
    flush = fastpath.Flusher.flush

    def peer(transport: Any) -> int:
        name = transport.get_extra_info("peername")
        return name[1] if name else -1

    def counted_write(self: Any, data: Any) -> None:
        if not record.inner:
            record.calls.append((peer(self), bytes(data), record.flushing))
        write(self, data)

    def counted_writelines(self: Any, lines: Any) -> None:
        lines = list(lines)
        record.calls.append((peer(self), b"".join(lines), record.flushing))
        record.inner = True
        try:
            writelines(self, lines)
        finally:
            record.inner = False

    def counted_flush(self: Any) -> None:
        record.flushing = True
        try:
            flush(self)
        finally:
            record.flushing = False

    monkeypatch.setattr(Transport, "write", counted_write)
    monkeypatch.setattr(Transport, "writelines", counted_writelines)
    monkeypatch.setattr(fastpath.Flusher, "flush", counted_flush)
    yield record


class RawSocket:
    """A websocket client on a bare TCP stream: what it reads is exactly what the server wrote."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> tuple[RawSocket, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            ("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEFAULT_TIMEOUT)
        return cls(reader, writer), head

    @property
    def port(self) -> int:
        port: int = self.writer.get_extra_info("sockname")[1]
        return port

    def send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        assert len(payload) < 65536
        header = bytes((0x81, 0x80 | 126)) + struct.pack("!H", len(payload)) if len(payload) >= 126 else \
            bytes((0x81, 0x80 | len(payload)))
        self.writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    async def frame(self) -> str:
        first, second = await asyncio.wait_for(self.reader.readexactly(2), DEFAULT_TIMEOUT)
        assert first == 0x81 and not second & 0x80  # a final text frame, not masked
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        return (await self.reader.readexactly(size)).decode()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def frame(text: str) -> bytes:
    return fastpath.text_frame(text.encode())


async def test_the_first_bytes_of_a_connection_take_two_writes(tmp_path: Path, writes: Writes) -> None:
    async with ServedHub(tmp_path / "hub") as hub:
        raw, head = await RawSocket.open(hub.port)
        try:
            assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
            opened = await raw.frame()
            assert opened.startswith("0{") and json.loads(opened[1:])["upgrades"] == []
            raw.send("40" + json.dumps({"token": hub.token("bob")}))
            connected = await raw.frame()
            assert connected.startswith("40{") and "sid" in json.loads(connected[2:])
            welcome = await raw.frame()
            assert welcome.startswith('42["hub.welcome",')
            assert json.loads(welcome[2:])[1]["data"]["user"] == "bob"

            # The same bytes, in the same order, in two writes: the 101 with the OPEN
            # frame, the CONNECT reply with the welcome, neither held by the Flusher.
            first = writes.of(raw.port)[:2]
            assert first == [(head + frame(opened), False), (frame(connected) + frame(welcome), False)]

            # A request's acknowledgement is written at once, on its own (not held for a burst).
            raw.send('421["subscribe",{"topic":"room:lobby"}]')
            ack = await raw.frame()
            assert ack.startswith("431[")
            assert writes.of(raw.port)[2] == (frame(ack), False)
        finally:
            await raw.close()
