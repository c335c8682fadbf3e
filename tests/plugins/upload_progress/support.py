"""Helpers for the upload_progress tests: real multipart uploads, paced like a slow link, and checks."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from hub.testing import RunningHub, SocketRecorder

MB = 1024 * 1024


def scanned_pdf(path: Path, size: int) -> Path:
    """A file whose bytes say PDF: the header, then noise (a scan compresses no further)."""
    header = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    with open(path, "wb") as handle:
        handle.write(header)
        left = size - len(header)
        while left > 0:
            block = os.urandom(min(MB, left))
            handle.write(block)
            left -= len(block)
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(MB):
            digest.update(block)
    return digest.hexdigest()


def new_id() -> str:
    return str(uuid.uuid4())


async def connect(hub: RunningHub, user: str, roles: tuple[str, ...] = (), recorder: SocketRecorder | None = None) -> SocketRecorder:
    client = await (recorder or SocketRecorder()).connect(hub, hub.token(user, roles))
    await client.wait_for("hub.welcome")
    return client


async def upload(
    hub: RunningHub,
    user: str,
    path: Path,
    upload_id: str | None = None,
    filename: str = "scan.pdf",
    declared_type: str = "application/pdf",
    pace: float = 0.0,
    chunk: int = 256 * 1024,
) -> httpx.Response:
    """``POST /api/uploads`` with a multipart body streamed from ``path``, ``pace`` seconds between chunks."""
    boundary = secrets.token_hex(16)
    head = b""
    if upload_id is not None:
        head += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"upload_id\"\r\n\r\n{upload_id}\r\n").encode()
    head += (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
        f"Content-Type: {declared_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size

    async def body() -> AsyncIterator[bytes]:
        yield head
        with open(path, "rb") as handle:
            while block := handle.read(chunk):
                yield block
                if pace:
                    await asyncio.sleep(pace)  # a slow link, not a wait for the hub
        yield tail

    headers = {
        "authorization": f"Bearer {hub.token(user)}",
        "content-type": f"multipart/form-data; boundary={boundary}",
        "content-length": str(len(head) + size + len(tail)),
    }
    async with httpx.AsyncClient(base_url=hub.url, timeout=60) as http:
        return await http.post("/api/uploads", content=body(), headers=headers)


def upload_events(client: SocketRecorder, upload_id: str) -> list[tuple[str, Any]]:
    """``(type, envelope)`` of every upload event the client got for that upload, in order."""
    return [
        (event, data) for event, data in client.events
        if event.startswith("upload.") and isinstance(data, dict) and data.get("topic") == f"upload:{upload_id}"
    ]


def check_progress(events: list[tuple[str, Any]], size: int) -> list[dict[str, Any]]:
    """The sequence a subscriber must see: started, progress (receiving then storing,
    never backwards, ending at 100 with every byte), completed. Returns the progress ticks."""
    types = [event for event, _ in events]
    assert types[0] == "upload.started" and types[-1] == "upload.completed", types
    assert set(types[1:-1]) == {"upload.progress"}, types
    ticks = [data["data"] for _, data in events[1:-1]]
    phases = [tick["phase"] for tick in ticks]
    assert "receiving" in phases and "storing" in phases
    assert phases == sorted(phases, key=["receiving", "storing"].index), "receiving, then storing"
    percents = [tick["percent"] for tick in ticks]
    assert percents == sorted(percents), f"percent went backwards: {percents}"
    assert all(isinstance(p, int) and 0 <= p <= 100 for p in percents)
    for phase in ("receiving", "storing"):
        done = [tick["bytes"] for tick in ticks if tick["phase"] == phase]
        assert done == sorted(done) and done[-1] == size, (phase, done)
    assert ticks[-1] == {"phase": "storing", "bytes": size, "total": size, "percent": 100}
    # Ephemeral: none of them is numbered.
    assert all(data["seq"] is None for _, data in events)
    return ticks
