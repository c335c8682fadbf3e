"""Two hubs in one process stay independent: the built-in plugins keep their state per hub.

Two ``create_app()`` on two SQLite files, each served by uvicorn in this test's
process, with every built-in plugin enabled. What one hub's presence rooms,
uploads and documents hold is not seen by the other.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hub.plugins import plugin_object
from hub.testing import ServedHub, SocketRecorder

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"0" * 2048


@pytest.fixture
async def two_hubs(tmp_path: Path) -> AsyncIterator[tuple[ServedHub, ServedHub]]:
    def env(name: str) -> dict[str, str]:
        return {
            "HUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}",
            "HUB_PLUGIN_DOC_PROCESSING_WORKERS": "0",  # the job stays queued: only who sees it matters here
        }

    async with ServedHub(tmp_path / "one", env("one")) as one, ServedHub(tmp_path / "two", env("two")) as two:
        yield one, two


async def connect(hub: ServedHub, user: str) -> SocketRecorder:
    client = await SocketRecorder().connect(hub, hub.token(user))
    await client.wait_for("hub.welcome")
    return client


def members(reply: dict[str, Any]) -> list[str]:
    assert reply["ok"] is True, reply
    return [member["user"] for member in reply["snapshot"]["members"]]


async def test_presence_rooms_are_per_hub(two_hubs: tuple[ServedHub, ServedHub]) -> None:
    one, two = two_hubs
    alice, bob = await connect(one, "alice"), await connect(two, "bob")
    try:
        assert members(await alice.call("subscribe", {"topic": "presence:lobby"})) == ["alice"]
        assert members(await bob.call("subscribe", {"topic": "presence:lobby"})) == ["bob"]
        assert one.app.hub.services.get("presence", object) is not two.app.hub.services.get("presence", object)
    finally:
        await alice.close()
        await bob.close()


async def test_uploads_are_per_hub(two_hubs: tuple[ServedHub, ServedHub]) -> None:
    one, two = two_hubs
    upload_id = str(uuid.uuid4())
    async with one.http() as http:
        response = await http.post(
            "/api/uploads", data={"upload_id": upload_id}, files={"file": ("scan.pdf", PDF, "application/pdf")},
            headers={"authorization": f"Bearer {one.token('alice')}"},
        )
    assert response.status_code in (200, 201), response.text
    alice_one, alice_two = await connect(one, "alice"), await connect(two, "alice")
    try:
        seen = await alice_one.call("subscribe", {"topic": f"upload:{upload_id}"})
        assert seen["ok"] is True and seen["snapshot"]["state"] == "completed", seen
        # The other hub never heard of it: the id is free there, and subscribing only claims it.
        unseen = await alice_two.call("subscribe", {"topic": f"upload:{upload_id}"})
        assert unseen["ok"] is True and unseen["snapshot"]["state"] == "pending", unseen
    finally:
        await alice_one.close()
        await alice_two.close()
    services = [plugin_object(hub.app.hub.pm, "upload_progress").service for hub in two_hubs]  # type: ignore[attr-defined]
    assert services[0] is not services[1]
    assert services[0].hub is one.app.hub and services[1].hub is two.app.hub


async def test_documents_are_per_hub(two_hubs: tuple[ServedHub, ServedHub]) -> None:
    one, two = two_hubs
    async with one.http() as http:
        response = await http.post(
            "/api/documents", files={"file": ("scan.pdf", PDF, "application/pdf")}, headers=one.headers("alice", ())
        )
    assert response.status_code == 201, response.text
    document_id = response.json()["document_id"]
    async with one.http() as http:
        assert (await http.get(f"/api/documents/{document_id}", headers=one.headers("alice", ()))).status_code == 200
    async with two.http() as http:
        assert (await http.get(f"/api/documents/{document_id}", headers=two.headers("alice", ()))).status_code == 404
    plugins = [plugin_object(hub.app.hub.pm, "doc_processing") for hub in two_hubs]
    assert plugins[0].service is not plugins[1].service  # type: ignore[attr-defined]
    assert plugins[0].service.hub is one.app.hub  # type: ignore[attr-defined]
