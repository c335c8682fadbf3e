"""upload_progress with local storage, against a running hub: real HTTP uploads, real Socket.IO subscribers.

One hub for the module (SQLite, default limits); the limits have a second hub with max_bytes = 1 MB.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.testing import RunningHub, start_hub

from .support import MB, check_progress, connect, new_id, scanned_pdf, sha256, upload, upload_events

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    running = start_hub(tmp_path_factory.mktemp("uploads") / "hub")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def small_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    running = start_hub(
        tmp_path_factory.mktemp("uploads-small") / "hub",
        env={"HUB_PLUGIN_UPLOAD_PROGRESS_MAX_BYTES": str(MB), "HUB_PLUGIN_UPLOAD_PROGRESS_ALLOWED_TYPES": "application/pdf,image/png"},
    )
    yield running
    running.stop()


def leftovers(hub: RunningHub) -> list[str]:
    """Every file under the uploads directory (partial files included)."""
    root = hub.data_dir / "uploads"
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


async def test_a_20_mb_upload_shows_both_phases_to_a_subscriber(hub: RunningHub, tmp_path: Path) -> None:
    document = scanned_pdf(tmp_path / "scan.pdf", 20 * MB)
    upload_id = new_id()
    watcher = await connect(hub, "alice")
    reply = await watcher.call("subscribe", {"topic": f"upload:{upload_id}"})
    assert reply["ok"] and reply["snapshot"]["state"] == "pending" and reply["snapshot"]["owner"] == "alice"

    started = time.monotonic()
    response = await upload(hub, "alice", document, upload_id, filename="Scan 2026-11 (2).pdf", pace=0.01)
    elapsed = time.monotonic() - started
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["upload_id"] == upload_id and body["filename"] == "Scan 2026-11 (2).pdf"
    assert body["bytes"] == 20 * MB and body["content_type"] == "application/pdf" and body["storage"] == "local"
    # A generated name: nothing of the client's filename reaches the disk.
    address, _, signature = body["url"].partition("?")
    assert address.startswith(f"{hub.url}/api/upload_progress/files/") and address.endswith(".pdf")
    assert "Scan" not in address and body["public_id"] == address.rsplit("/", 1)[1]
    assert signature.startswith("expires=") and "&sig=" in signature

    await watcher.wait_for("upload.completed")
    events = upload_events(watcher, upload_id)
    ticks = check_progress(events, 20 * MB)
    assert events[0][1]["data"] == {"upload_id": upload_id, "filename": "Scan 2026-11 (2).pdf", "total": 20 * MB}
    assert events[-1][1]["data"] == {key: body[key] for key in ("url", "public_id", "bytes", "content_type", "storage")}
    receiving = [tick for tick in ticks if tick["phase"] == "receiving"]
    # The bar fills while the body arrives (total from Content-Length), but a few ticks a second at most.
    assert len(receiving) >= 3 and any(0 < tick["percent"] < 99 for tick in receiving)
    assert all(tick["total"] == 20 * MB for tick in receiving[1:])
    assert len(ticks) <= 3 + 10 * elapsed, f"{len(ticks)} ticks in {elapsed:.2f}s"
    print(f"\n20 MB local upload: {elapsed:.2f}s, {len(ticks)} progress ticks: {[t['percent'] for t in ticks]}")

    async with httpx.AsyncClient(timeout=30) as http:
        served = await http.get(body["url"])
    assert served.status_code == 200 and served.headers["content-type"] == "application/pdf"
    assert served.content[:8] == b"%PDF-1.4" and len(served.content) == 20 * MB
    stored = hub.data_dir / "uploads" / body["public_id"]
    assert sha256(stored) == sha256(document)
    assert not any(name.startswith(".partial/") for name in leftovers(hub))
    await watcher.close()


async def test_a_late_subscriber_gets_the_final_state_as_snapshot(hub: RunningHub, tmp_path: Path) -> None:
    document = tmp_path / "page.png"
    document.write_bytes(PNG)
    upload_id = new_id()
    # Nobody listens while it runs: the client chose no subscription before sending.
    response = await upload(hub, "bob", document, upload_id, filename="page.png", declared_type="image/png")
    assert response.status_code == 201, response.text
    url = response.json()["url"]
    for user, roles in (("bob", ()), ("root", ("admin",))):
        late = await connect(hub, user, roles)
        reply = await late.call("subscribe", {"topic": f"upload:{upload_id}"})
        assert reply["ok"] and reply["seq"] == 0
        snapshot = reply["snapshot"]
        # A fresh signed link to the same file each time.
        assert snapshot["state"] == "completed" and snapshot["owner"] == "bob"
        assert snapshot["url"].partition("?")[0] == url.partition("?")[0] and "sig=" in snapshot["url"]
        assert snapshot["bytes"] == len(PNG) and snapshot["content_type"] == "image/png"
        assert snapshot["storage"] == "local" and snapshot["filename"] == "page.png" and snapshot["error"] is None
        await late.close()
    # Without upload_id the hub picks one; the snapshot is found by it.
    response = await upload(hub, "bob", document, filename="again.png")
    assert response.status_code == 201
    chosen = response.json()["upload_id"]
    late = await connect(hub, "bob")
    assert (await late.call("subscribe", {"topic": f"upload:{chosen}"}))["snapshot"]["state"] == "completed"
    await late.close()


async def test_an_id_owned_by_another_user_is_a_conflict(hub: RunningHub, tmp_path: Path) -> None:
    document = scanned_pdf(tmp_path / "a.pdf", 4096)
    upload_id = new_id()
    carol = await connect(hub, "carol")
    assert (await carol.call("subscribe", {"topic": f"upload:{upload_id}"}))["ok"]
    stolen = await upload(hub, "dave", document, upload_id)
    assert stolen.status_code == 409 and stolen.json()["error"]["code"] == "conflict"
    # Carol's own upload with her id still works, once; the id cannot be used again.
    assert (await upload(hub, "carol", document, upload_id)).status_code == 201
    again = await upload(hub, "carol", document, upload_id)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    snapshot = (await carol.call("subscribe", {"topic": f"upload:{upload_id}"}))["snapshot"]
    assert snapshot["state"] == "completed" and snapshot["owner"] == "carol"
    bad = await upload(hub, "carol", document, "not-a-uuid")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_message"
    await carol.close()


async def test_only_the_owner_and_admins_may_subscribe(hub: RunningHub, tmp_path: Path) -> None:
    upload_id = new_id()
    erin, mallory, admin = await connect(hub, "erin"), await connect(hub, "mallory"), await connect(hub, "root", ("admin",))
    # An admin listening to an unclaimed id does not claim it.
    assert (await admin.call("subscribe", {"topic": f"upload:{upload_id}"}))["ok"]
    assert (await erin.call("subscribe", {"topic": f"upload:{upload_id}"}))["ok"]
    refused = await mallory.call("subscribe", {"topic": f"upload:{upload_id}"})
    assert refused == {"ok": False, "error": {"code": "forbidden", "message": refused["error"]["message"]}}
    assert (await mallory.call("subscribe", {"topic": "upload:NOT-A-UUID"}))["error"]["code"] == "invalid_topic"

    document = scanned_pdf(tmp_path / "e.pdf", 2 * MB)
    assert (await upload(hub, "erin", document, upload_id)).status_code == 201
    await admin.wait_for("upload.completed")
    await erin.wait_for("upload.completed")
    assert upload_events(mallory, upload_id) == []
    for client in (erin, mallory, admin):
        await client.close()


async def test_requests_without_a_token_or_a_multipart_body_are_refused(hub: RunningHub) -> None:
    async with hub.http() as http:
        anonymous = await http.post("/api/uploads", files={"file": ("a.pdf", b"%PDF-1.4 x")})
        assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "auth_required"
        plain = await http.post("/api/uploads", json={"file": "x"}, headers={"authorization": f"Bearer {hub.token('x')}"})
        assert plain.status_code == 400 and plain.json()["error"]["code"] == "invalid_message"
        missing = await http.post(
            "/api/uploads", data={"note": "no file"}, files={"other": ("a.pdf", b"%PDF-1.4 x")},
            headers={"authorization": f"Bearer {hub.token('x')}"},
        )
        assert missing.status_code == 400 and "file" in missing.json()["error"]["message"]
        assert (await http.get("/api/upload_progress/files/..%2Fhub.db")).status_code == 404
        openapi = (await http.get("/openapi.json")).json()
    assert "post" in openapi["paths"]["/api/uploads"]
    assert "multipart/form-data" in openapi["paths"]["/api/uploads"]["post"]["requestBody"]["content"]


async def test_a_file_over_the_limit_is_refused_while_streaming(small_hub: RunningHub, tmp_path: Path) -> None:
    document = scanned_pdf(tmp_path / "big.pdf", 3 * MB)
    upload_id = new_id()
    owner = await connect(small_hub, "frank")
    assert (await owner.call("subscribe", {"topic": f"upload:{upload_id}"}))["ok"]
    response = await upload(small_hub, "frank", document, upload_id)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    failed = (await owner.wait_for("upload.failed"))[0]
    assert failed["data"]["code"] == "too_large" and failed["seq"] is None
    assert leftovers(small_hub) == []  # the partial file is gone, nothing was stored
    snapshot = (await owner.call("subscribe", {"topic": f"upload:{upload_id}"}))["snapshot"]
    assert snapshot["state"] == "failed" and snapshot["error"]["code"] == "too_large" and snapshot["url"] is None
    # Under the limit is fine.
    assert (await upload(small_hub, "frank", scanned_pdf(tmp_path / "ok.pdf", MB - 1024))).status_code == 201
    await owner.close()


async def test_the_type_comes_from_the_bytes_not_the_header(small_hub: RunningHub, tmp_path: Path) -> None:
    disguised = tmp_path / "invoice.pdf"
    disguised.write_bytes(b"MZ\x90\x00" + os.urandom(4000))  # a Windows executable, named and sent as a PDF
    upload_id = new_id()
    owner = await connect(small_hub, "gina")
    assert (await owner.call("subscribe", {"topic": f"upload:{upload_id}"}))["ok"]
    response = await upload(small_hub, "gina", disguised, upload_id, filename="invoice.pdf", declared_type="application/pdf")
    assert response.status_code == 415 and response.json()["error"]["code"] == "invalid_message"
    assert (await owner.wait_for("upload.failed"))[0]["data"]["code"] == "invalid_message"
    assert not any(name.startswith(".partial/") for name in leftovers(small_hub))

    # A GIF is a known type, but not in this hub's allowlist.
    gif = tmp_path / "anim.gif"
    gif.write_bytes(b"GIF89a" + bytes(100))
    assert (await upload(small_hub, "gina", gif, declared_type="application/pdf")).status_code == 415

    # A real PNG sent as "application/octet-stream" named .pdf is a PNG.
    png = tmp_path / "photo.pdf"
    png.write_bytes(PNG)
    response = await upload(small_hub, "gina", png, filename="photo.pdf", declared_type="application/octet-stream")
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "image/png" and response.json()["public_id"].endswith(".png")
    await owner.close()
