"""collab over Socket.IO with python-socketio clients and pycrdt: sync, updates, storage, policy, limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pycrdt
import pytest

from hub.testing import RunningHub, SocketRecorder, start_hub, welcomed

ENV = {"HUB_PLUGIN_COLLAB_MAX_UPDATE_BYTES": "4096", "HUB_PLUGIN_COLLAB_MAX_DOCUMENT_BYTES": "20000"}


@pytest.fixture
def hub(tmp_path: Path, database_url: str) -> Iterator[RunningHub]:
    running = start_hub(tmp_path / "hub", {"HUB_DATABASE_URL": database_url, **ENV})
    yield running
    running.stop()


@pytest.fixture
async def clients(hub: RunningHub) -> AsyncIterator[list[SocketRecorder]]:
    opened: list[SocketRecorder] = []
    yield opened
    for client in opened:
        await client.close()


async def user(hub: RunningHub, clients: list[SocketRecorder], name: str, roles: tuple[str, ...] = ()) -> SocketRecorder:
    client = await welcomed(hub, name, roles)
    clients.append(client)
    return client


def edit(doc: pycrdt.Doc, text: str, at: int = 0) -> bytes:
    before = doc.get_state()
    doc.get("content", type=pycrdt.Text).insert(at, text)
    return doc.get_update(before)


def content(doc: pycrdt.Doc) -> str:
    return str(doc.get("content", type=pycrdt.Text))


async def test_sync_update_relay_and_storage(hub: RunningHub, clients: list[SocketRecorder]) -> None:
    alice, bob = await user(hub, clients, "alice"), await user(hub, clients, "bob")
    first = await alice.call("subscribe", {"topic": "collab:contract"})
    assert first["ok"] is True, first
    snapshot = first["snapshot"]
    assert isinstance(snapshot["update"], bytes) and snapshot["writable"] is True and snapshot["epoch"]
    assert (await bob.call("subscribe", {"topic": "collab:contract"}))["snapshot"]["epoch"] == snapshot["epoch"]

    doc = pycrdt.Doc()
    reply = await alice.call("collab.update", {"document": "contract", "update": edit(doc, "Hello")})
    assert reply == {"ok": True}
    relayed = (await bob.wait_for("collab.update"))[0]
    assert relayed["seq"] is None and relayed["topic"] == "collab:contract"
    bobs = pycrdt.Doc()
    bobs.apply_update(relayed["data"]["update"])
    assert content(bobs) == "Hello"
    assert not alice.of_type("collab.update")  # not echoed to its sender

    # Sync step 1 from a client that has part of it: step 2 is the rest, plus the server's state vector.
    late = pycrdt.Doc()
    synced = await bob.call("collab.sync", {"document": "contract", "state_vector": late.get_state()})
    assert synced["ok"] is True and synced["epoch"] == snapshot["epoch"]
    late.apply_update(synced["update"])
    assert content(late) == "Hello" and synced["state_vector"] == doc.get_state()

    async with hub.http() as http:
        text = await http.get("/api/collab/contract", headers=hub.headers("carol", ()))
        assert text.status_code == 200 and text.text == "Hello"
        as_json = (await http.get("/api/collab/contract?format=json", headers=hub.headers("carol", ()))).json()
        assert as_json["text"] == "Hello" and as_json["epoch"] == snapshot["epoch"]


async def test_a_restarted_hub_serves_what_was_stored(tmp_path: Path) -> None:
    hub = start_hub(tmp_path / "hub", ENV)
    doc = pycrdt.Doc()
    try:
        alice = await welcomed(hub, "alice")
        for word in ("one ", "two ", "three "):
            assert (await alice.call("collab.update", {"document": "notes", "update": edit(doc, word, len(content(doc)))}))["ok"]
        await alice.close()
    finally:
        hub.stop()
    hub.start()
    try:
        bob = await welcomed(hub, "bob")
        synced = await bob.call("collab.sync", {"document": "notes", "state_vector": pycrdt.Doc().get_state()})
        fresh = pycrdt.Doc()
        fresh.apply_update(synced["update"])
        assert content(fresh) == "one two three "
        await bob.close()
    finally:
        hub.stop()


async def test_bad_input_gets_the_contract_codes(hub: RunningHub, clients: list[SocketRecorder]) -> None:
    alice = await user(hub, clients, "alice")
    cases = [
        ({"document": "d", "update": b"\x05garbage"}, "invalid_message"),
        ({"document": "d", "update": "text"}, "invalid_message"),
        ({"document": "bad name!", "update": b"\x00\x00"}, "invalid_message"),
        ({"document": "d", "update": edit(pycrdt.Doc(), "x" * 5000)}, "too_large"),
    ]
    for payload, code in cases:
        reply = await alice.call("collab.update", payload)
        assert reply["ok"] is False and reply["error"]["code"] == code, (payload, reply)
    # The document as a whole is limited too.
    doc = pycrdt.Doc()
    codes = []
    for _ in range(8):
        reply = await alice.call("collab.update", {"document": "big", "update": edit(doc, "y" * 3000)})
        codes.append(reply["ok"] or reply["error"]["code"])
    assert codes[:6] == [True] * 6 and codes[-1] == "too_large"
    stale = await alice.call("collab.update", {"document": "d", "update": edit(pycrdt.Doc(), "z"), "epoch": "old"})
    assert stale["error"]["code"] == "conflict"
    # and the bad ones hurt nobody: the hub still answers.
    assert (await alice.call("collab.sync", {"document": "d"}))["ok"] is True


async def test_a_read_only_users_updates_are_refused_never_stored_or_relayed(
        hub: RunningHub, clients: list[SocketRecorder]) -> None:
    writer, viewer = await user(hub, clients, "writer"), await user(hub, clients, "viewer", ("viewer",))
    await writer.call("subscribe", {"topic": "collab:memo"})
    assert (await viewer.call("subscribe", {"topic": "collab:memo"}))["snapshot"]["writable"] is False
    refused = await viewer.call("collab.update", {"document": "memo", "update": edit(pycrdt.Doc(), "sneaky")})
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden"
    synced = await viewer.call("collab.sync", {"document": "memo", "update": edit(pycrdt.Doc(), "sneaky too")})
    assert synced["ok"] is True and synced["writable"] is False
    doc = pycrdt.Doc()
    assert (await writer.call("collab.update", {"document": "memo", "update": edit(doc, "fine")}))["ok"]
    await viewer.wait_for("collab.update")  # the writer's change reaches the viewer ...
    assert not writer.of_type("collab.update")  # ... and nothing of the viewer's reached the writer
    async with hub.http() as http:
        assert (await http.get("/api/collab/memo", headers=hub.headers("x", ()))).text == "fine"
        storage = (await http.get("/api/collab/memo/storage", headers=hub.headers())).json()
    assert storage["stored_updates"] == 1
