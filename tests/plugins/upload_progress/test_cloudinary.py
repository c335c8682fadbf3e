"""upload_progress with storage = cloudinary: the real cloudinary SDK against a local stand-in for its API.

The storing phase must report what Cloudinary acknowledged, chunk by chunk; a
failing service must give upload.failed and a clear HTTP error, with nothing left.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.testing import RunningHub, SocketRecorder, start_hub

from .cloudinary_standin import CloudinaryStandIn
from .support import MB, check_progress, connect, new_id, scanned_pdf, sha256, upload, upload_events

CHUNK = 5 * MB


class WitnessRecorder(SocketRecorder):
    """Also notes, as each event arrives, how many bytes the stand-in had acknowledged by then."""

    def __init__(self, standin: CloudinaryStandIn) -> None:
        super().__init__()
        self.standin = standin
        self.acknowledged_at_arrival: list[int] = []

    async def _record(self, event: str, *args: Any) -> None:
        if event == "upload.progress":
            self.acknowledged_at_arrival.append(self.standin.acknowledged())
        await super()._record(event, *args)


@pytest.fixture(scope="module")
def standin() -> Iterator[CloudinaryStandIn]:
    running = CloudinaryStandIn().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, standin: CloudinaryStandIn) -> Iterator[RunningHub]:
    running = start_hub(
        tmp_path_factory.mktemp("cloudinary") / "hub",
        env={
            "CLOUDINARY_URL": standin.url,
            "HUB_PLUGIN_UPLOAD_PROGRESS_STORAGE": "cloudinary",
            "HUB_PLUGIN_UPLOAD_PROGRESS_CHUNK_SIZE": str(CHUNK),
            "HUB_PLUGIN_UPLOAD_PROGRESS_FOLDER": "scans",
        },
    )
    yield running
    running.stop()


def partial_files(hub: RunningHub) -> list[Path]:
    return [path for path in (hub.data_dir / "uploads").rglob("*") if path.is_file()]


async def test_storing_reports_each_chunk_cloudinary_acknowledged(
    hub: RunningHub, standin: CloudinaryStandIn, tmp_path: Path
) -> None:
    document = scanned_pdf(tmp_path / "scan.pdf", 20 * MB)
    upload_id = new_id()
    watcher = await connect(hub, "alice", recorder=WitnessRecorder(standin))
    assert (await watcher.call("subscribe", {"topic": f"upload:{upload_id}"}))["ok"]

    response = await upload(hub, "alice", document, upload_id, pace=0.005)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["storage"] == "cloudinary" and body["bytes"] == 20 * MB and body["content_type"] == "application/pdf"
    assert body["public_id"].startswith("scans/") and "scan" not in body["public_id"].removeprefix("scans/")
    # The asset is "authenticated" (its delivery URL needs a signature); the url is Cloudinary's own signed
    # download link, which the stand-in checks as Cloudinary does, expiry included.
    assert standin.results[body["public_id"]]["type"] == "authenticated"
    assert body["url"].startswith(f"{standin.api}/v1_1/democloud/image/download?") and "expires_at=" in body["url"]

    await watcher.wait_for("upload.completed")
    events = upload_events(watcher, upload_id)
    ticks = check_progress(events, 20 * MB)
    storing = [(tick, seen) for tick, seen in zip(ticks, watcher.acknowledged_at_arrival) if tick["phase"] == "storing"]
    # Chunk by chunk: 5, 10, 15, 20 MB, each sent once Cloudinary had answered for it; 50% to 100%.
    assert [tick["bytes"] for tick, _ in storing] == [CHUNK, 2 * CHUNK, 3 * CHUNK, 4 * CHUNK]
    assert all(seen >= tick["bytes"] for tick, seen in storing)
    assert [tick["percent"] for tick, _ in storing] == [62, 75, 87, 100]
    assert max(tick["percent"] for tick in ticks if tick["phase"] == "receiving") == 50

    # What Cloudinary put together is the file, in 4 signed chunks with Content-Range.
    result = standin.results[body["public_id"]]
    assert result["bytes"] == 20 * MB and result["sha256"] == sha256(document)
    ranges = [request["range"] for request in standin.requests if request["fields"].get("public_id") == body["public_id"]]
    assert ranges == [f"bytes {n * CHUNK}-{(n + 1) * CHUNK - 1}/{20 * MB}" for n in range(4)]
    assert partial_files(hub) == []

    late = await connect(hub, "alice")
    snapshot = (await late.call("subscribe", {"topic": f"upload:{upload_id}"}))["snapshot"]
    assert snapshot["state"] == "completed" and snapshot["storage"] == "cloudinary"
    async with httpx.AsyncClient(timeout=30) as http:
        for link in (body["url"], snapshot["url"]):
            served = await http.get(link)
            assert served.status_code == 200 and len(served.content) == 20 * MB
        tampered = await http.get(body["url"].replace("public_id=scans", "public_id=other"))
    assert tampered.status_code == 401
    await watcher.close()
    await late.close()


async def test_a_failing_storage_service_fails_the_upload_cleanly(
    hub: RunningHub, standin: CloudinaryStandIn, tmp_path: Path
) -> None:
    document = scanned_pdf(tmp_path / "scan.pdf", 6 * MB)
    upload_id = new_id()
    watcher = await connect(hub, "bob")
    assert (await watcher.call("subscribe", {"topic": f"upload:{upload_id}"}))["ok"]
    standin.fail = True
    try:
        response = await upload(hub, "bob", document, upload_id)
    finally:
        standin.fail = False
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "unavailable" and "storage" in error["message"] and "General Error" not in error["message"]

    failed = (await watcher.wait_for("upload.failed"))[0]
    assert failed["data"] == error and failed["seq"] is None
    types = [event for event, _ in upload_events(watcher, upload_id)]
    assert types[0] == "upload.started" and types[-1] == "upload.failed" and "upload.completed" not in types
    assert partial_files(hub) == []  # the received file is gone too
    snapshot = (await watcher.call("subscribe", {"topic": f"upload:{upload_id}"}))["snapshot"]
    assert snapshot["state"] == "failed" and snapshot["error"] == error and snapshot["url"] is None
    await watcher.close()
