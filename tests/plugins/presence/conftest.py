"""Fixtures of the presence tests; each module provides its own module-scoped ``hub``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.testing import RunningHub, SocketRecorder

from .support import connect


@pytest.fixture
async def clients(hub: RunningHub) -> AsyncIterator[Any]:
    """``await clients("alice", name=None)``: a connected client of the module's hub, closed after the test."""
    opened: list[SocketRecorder] = []

    async def open_client(user: str, name: str | None = None) -> SocketRecorder:
        client = await connect(hub, user, name)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        await client.close()
