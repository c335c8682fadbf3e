"""A real OCR job on a running hub: the status sequence a subscriber sees, the snapshot, access, 409s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.testing import RunningHub, start_hub

from .support import connect, ended, get_job, history, make_pdf, needs_ocr, put_status, submit

PAGES = [["Apricot Harbour", "first page"], ["Walrus Lantern", "second page"], ["Quartz Meadow", "third page"]]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    running = start_hub(tmp_path_factory.mktemp("doc_processing"))
    yield running
    running.stop()


@needs_ocr
async def test_a_subscriber_sees_every_stage_of_a_real_ocr_job(hub: RunningHub) -> None:
    alice = await connect(hub, "alice")
    try:
        job = await submit(hub, "alice", make_pdf(PAGES), filename="three-pages.pdf")
        document_id = job["document_id"]
        assert job["state"] == "queued" and job["owner"] == "alice" and job["processor"] == "ocr"
        reply = await alice.call("subscribe", {"topic": f"doc:{document_id}", "since": 0})
        assert reply["ok"], reply
        await alice.wait_for("doc.status", where=ended(document_id), timeout=60)
        events = alice.of_type("doc.status")
        seqs = [event["seq"] for event in events]
        assert seqs == list(range(1, len(events) + 1))  # durable, numbered, none missed
        statuses = [event["data"] for event in events]
        assert [(s["state"], s["stage"]) for s in statuses[:3]] == [
            ("queued", "queued"), ("processing", "starting"), ("processing", "rendering")
        ]
        pages = [s for s in statuses if s["state"] == "processing" and s["stage"] == "ocr"]
        assert [s["progress"] for s in pages] == [33.33, 66.67, 100.0]
        assert [s["message"] for s in pages] == ["Page 1 of 3", "Page 2 of 3", "Page 3 of 3"]
        final = statuses[-1]
        assert final["state"] == "completed" and final["progress"] == 100.0 and len(statuses) == 7
        text = final["result"]["text"].lower()
        for lines in PAGES:
            for word in " ".join(lines).lower().split():
                assert word in text
        assert final["result"]["page_count"] == 3
        assert "walrus" in final["result"]["pages"][1]["text"].lower()
        # The owner is told through the notifications plugin.
        note = (await alice.wait_for("notification.created", where=lambda e: e["data"]["data"]["document_id"] == document_id))[0]
        assert note["data"]["title"] == "Document processed" and note["data"]["data"]["state"] == "completed"

        # A late subscriber (no since) gets the latest status as the snapshot, and GET shows the same.
        late = await connect(hub, "alice")
        try:
            reply = await late.call("subscribe", {"topic": f"doc:{document_id}"})
            assert reply["snapshot"] == final and reply["seq"] == len(events)
        finally:
            await late.close()
        response = await get_job(hub, "alice", document_id)
        assert response.status_code == 200
        assert response.json()["state"] == "completed" and response.json()["result"] == final["result"]
        assert response.json()["attempts"] == 1
    finally:
        await alice.close()


async def test_a_user_who_does_not_own_the_document_is_refused(hub: RunningHub) -> None:
    job = await submit(hub, "alice", b"not a document at all")
    document_id = job["document_id"]
    mallory = await connect(hub, "mallory")
    try:
        reply = await mallory.call("subscribe", {"topic": f"doc:{document_id}"})
        assert reply["ok"] is False and reply["error"]["code"] == "forbidden"
    finally:
        await mallory.close()
    response = await get_job(hub, "mallory", document_id)
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    async with hub.http() as http:
        retry = await http.post(f"/api/doc_processing/documents/{document_id}/retry", headers=hub.headers("mallory", ()))
        refused = await http.put(f"/api/documents/{document_id}/status", json={"state": "processing"},
                                 headers=hub.headers("mallory", ()))
        missing = await http.get("/api/documents/00000000-0000-4000-8000-000000000000", headers=hub.headers("alice", ()))
    assert retry.status_code == 403
    assert refused.status_code == 403  # only services report status
    assert missing.status_code == 404
    # Admins may watch anyone's document.
    admin_view = await get_job(hub, "root", document_id, roles=("admin",))
    assert admin_view.status_code == 200 and admin_view.json()["owner"] == "alice"
    # The file was no image: the job fails with a reason, and the owner may retry it.
    statuses = await history(hub, "alice", document_id)
    assert statuses[-1]["state"] == "failed" and statuses[-1]["error"]["code"] == "invalid_message"


async def test_invalid_transitions_are_409_and_progress_never_goes_back(hub: RunningHub) -> None:
    job = await submit(hub, "alice", make_pdf([["x"]]), processor="verification")  # an external processor
    document_id = job["document_id"]

    async def status(body: dict[str, object], worker: str = "verifier") -> tuple[int, dict[str, Any]]:
        response = await put_status(hub, document_id, body, worker)
        return response.status_code, response.json()

    code, body = await status({"state": "completed", "result": {}})
    assert code == 409 and body["error"]["code"] == "conflict"  # queued -> completed skips processing
    assert (await status({"state": "queued"}))[0] == 409
    assert (await status({"state": "processing", "stage": "signature", "progress": 40}))[0] == 200
    code, body = await status({"state": "processing", "stage": "signature", "progress": 10})
    assert code == 409 and "never goes back" in body["error"]["message"]
    assert (await status({"state": "processing", "stage": "signature", "progress": 40, "worker": "other"}))[0] == 409
    assert (await status({"state": "processing", "stage": "checksum", "progress": 5}))[0] == 200  # a new stage
    assert (await status({"state": "processing", "progress": 101}))[0] == 400
    assert (await status({"state": "processing", "result": {"a": 1}}))[0] == 400
    assert (await status({"state": "failed", "error": {"code": "bad_signature", "message": "Not signed."}}))[0] == 200
    assert (await status({"state": "completed", "result": {}}))[0] == 409  # failed -> completed
    async with hub.http() as http:  # the owner retries: failed -> queued
        retried = await http.post(f"/api/doc_processing/documents/{document_id}/retry", headers=hub.headers("alice", ()))
    assert retried.status_code == 200 and retried.json()["state"] == "queued" and retried.json()["attempts"] == 0
    assert (await status({"state": "processing", "stage": "signature"}))[0] == 200
    code, body = await status({"state": "completed", "result": {"valid": True}})
    assert code == 200 and body["state"] == "completed" and body["result"] == {"valid": True}
    assert (await status({"state": "failed"}))[0] == 409  # completed is final
    statuses = await history(hub, "alice", document_id, until=lambda event: event["data"]["state"] == "completed")
    assert [(s["state"], s["stage"], s["progress"]) for s in statuses] == [
        ("queued", "queued", 0.0),
        ("processing", "signature", 40.0),
        ("processing", "checksum", 5.0),
        ("failed", "checksum", 5.0),
        ("queued", "queued", 0.0),
        ("processing", "signature", 0.0),
        ("completed", "signature", 100.0),
    ]


async def test_submissions_are_validated(hub: RunningHub) -> None:
    async with hub.http() as http:
        anonymous = await http.post("/api/documents", files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")})
        no_file = await http.post("/api/documents", data={"processor": "ocr"}, files={"other": ("a", b"x")},
                                  headers=hub.headers("alice", ()))
        unknown = await http.post("/api/documents", data={"processor": "astrology"},
                                  files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")}, headers=hub.headers("alice", ()))
        bad_type = await http.post("/api/documents", content=b"hello", headers=hub.headers("alice", ()))
        missing_upload = await http.post("/api/documents", json={"upload_id": "3f2b9c1e-8d4a-4e7b-9a51-0c6d2e8f7a13"},
                                         headers=hub.headers("alice", ()))
        both = await http.post("/api/documents", data={"upload_id": "3f2b9c1e-8d4a-4e7b-9a51-0c6d2e8f7a13"},
                               files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")}, headers=hub.headers("alice", ()))
        empty = await http.post("/api/documents", files={"file": ("a.pdf", b"", "application/pdf")},
                                headers=hub.headers("alice", ()))
        mine = await http.get("/api/doc_processing/documents", headers=hub.headers("alice", ()))
        theirs = await http.get("/api/doc_processing/documents", headers=hub.headers("nobody-yet", ()))
    assert both.status_code == 400 and empty.status_code == 400
    assert mine.status_code == 200 and {d["owner"] for d in mine.json()["documents"]} == {"alice"}
    assert theirs.json() == {"documents": []}
    assert anonymous.status_code == 401
    assert no_file.status_code == 400 and unknown.status_code == 400 and bad_type.status_code == 400
    assert missing_upload.status_code == 404


@needs_ocr
async def test_a_document_by_upload_reference(hub: RunningHub, tmp_path: Path) -> None:
    async with hub.http() as http:
        uploaded = await http.post("/api/uploads", files={"file": ("scan.pdf", make_pdf([["Saffron Kettle"]]), "application/pdf")},
                                   headers=hub.headers("alice", ()))
        assert uploaded.status_code == 201, uploaded.text
        upload_id = uploaded.json()["upload_id"]
        foreign = await http.post("/api/documents", json={"upload_id": upload_id}, headers=hub.headers("bob", ()))
        response = await http.post("/api/documents", json={"upload_id": upload_id}, headers=hub.headers("alice", ()))
    assert foreign.status_code == 403
    assert response.status_code == 201, response.text
    statuses = await history(hub, "alice", response.json()["document_id"])
    assert statuses[-1]["state"] == "completed" and "saffron" in statuses[-1]["result"]["text"].lower()
