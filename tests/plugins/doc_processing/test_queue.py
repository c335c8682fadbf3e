"""The job queue with several workers on one database: never a job twice, and a dead worker's job taken up again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.testing import RunningHub, start_hub

from .support import claim, get_job, history, make_pdf, needs_ocr, put_status, submit, wait_job

QUEUE_ENV = {
    "HUB_PLUGIN_DOC_PROCESSING_WORKERS": "2",
    "HUB_PLUGIN_DOC_PROCESSING_LEASE_SECONDS": "1.5",
    "HUB_PLUGIN_DOC_PROCESSING_POLL_INTERVAL": "0.2",
}


def start_pair(database_url: str, tmp_path: Path) -> list[RunningHub]:
    """Two hub processes on one database, each with two in-hub workers."""
    env = {**QUEUE_ENV, "HUB_DATABASE_URL": database_url}
    first = start_hub(tmp_path / "one", env=env)  # the first one creates a new SQLite file's tables
    second = RunningHub(tmp_path / "two", env={**env, "HUB_JWT_SECRET": first.secret})
    second.secret = first.secret  # both verify the same tokens
    try:
        return [first, second.start()]
    except BaseException:
        first.stop()
        raise


@pytest.fixture
def hubs(database_url: str, tmp_path: Path) -> Iterator[list[RunningHub]]:
    """Two hubs on SQLite, then on PostgreSQL."""
    pair = start_pair(database_url, tmp_path)
    yield pair
    for hub in pair:
        hub.stop()


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[RunningHub]:
    """One hub (its sweeper is the one that notices a lost lease), on SQLite, then on PostgreSQL."""
    running = start_hub(tmp_path / "hub", env={**QUEUE_ENV, "HUB_DATABASE_URL": database_url})
    yield running
    running.stop()


@pytest.fixture
def sqlite_hubs(tmp_path: Path) -> Iterator[list[RunningHub]]:
    pair = start_pair(f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}", tmp_path)
    yield pair
    for hub in pair:
        hub.stop()


def owner_hub(hubs: list[RunningHub], worker: str) -> RunningHub:
    """The hub process whose in-hub worker ``worker`` is (``<host>-<pid>-<n>``)."""
    matches = [hub for hub in hubs if hub.process is not None and f"-{hub.process.pid}-" in worker]
    assert len(matches) == 1, worker
    return matches[0]


@needs_ocr
async def test_two_hubs_never_take_the_same_job(hubs: list[RunningHub]) -> None:
    one, two = hubs
    # In-hub workers: six OCR jobs, submitted to both hubs at once, four workers in two processes.
    jobs = await asyncio.gather(*(
        submit(hubs[n % 2], "alice", make_pdf([[f"Invoice {n}"]]), filename=f"invoice-{n}.pdf") for n in range(6)
    ))
    for job in jobs:
        await wait_job(one, "alice", job["document_id"], lambda job: job["state"] == "completed", timeout=60)
    events = []
    for job in jobs:  # the whole story of each, from the shared log
        events += await history(one, "alice", job["document_id"])
    workers = set()
    for n, job in enumerate(jobs):
        mine = [status for status in events if status["document_id"] == job["document_id"]]
        assert [s["stage"] for s in mine if s["stage"] == "starting"] == ["starting"]  # claimed once
        assert [s["state"] for s in mine].count("completed") == 1
        assert f"invoice {n}" in mine[-1]["result"]["text"].lower()
        final = (await get_job(one, "alice", job["document_id"])).json()
        assert final["attempts"] == 1
        workers.add(owner_hub(hubs, final["worker"]))
    assert len(workers) == 2  # both processes did work

    # External workers: twelve jobs, twenty-four claims racing through both hubs: each job goes to one claim.
    waiting = await asyncio.gather(*(
        submit(hubs[n % 2], "alice", b"%PDF-1.4 verify me", processor="verification") for n in range(12)
    ))
    responses = await asyncio.gather(*(
        claim(hubs[n % 2], {"worker": f"ext-{n}", "processors": ["verification"]}) for n in range(24)
    ))
    claimed = [response.json()["document_id"] for response in responses if response.status_code == 200]
    assert sorted(claimed) == sorted(job["document_id"] for job in waiting)
    assert [response.status_code for response in responses].count(204) == 12


async def test_a_dead_workers_job_is_taken_up_again(hub: RunningHub) -> None:
    job = await submit(hub, "alice", b"%PDF-1.4 verify me", processor="verification")
    document_id = job["document_id"]
    first = await claim(hub, {"worker": "ext-dies", "processors": ["verification"], "lease_seconds": 1})
    assert first.status_code == 200 and first.json()["document_id"] == document_id
    assert first.json()["attempts"] == 1
    # ext-dies never reports: once its lease ran out, a hub puts the job back in the queue.
    requeued = await wait_job(hub, "alice", document_id, lambda job: job["state"] == "queued" and job["attempts"] == 1)
    assert requeued["message"] == "The worker stopped responding; queued again." and requeued["worker"] is None
    second = await claim(hub, {"worker": "ext-lives", "processors": ["verification"]})
    assert second.status_code == 200 and second.json()["document_id"] == document_id
    assert second.json()["attempts"] == 2
    late = await put_status(hub, document_id, {"state": "completed", "result": {}, "worker": "ext-dies"})
    assert late.status_code == 409  # the dead worker woke up: the job is no longer its own
    done = await put_status(hub, document_id, {"state": "completed", "result": {"ok": True}, "worker": "ext-lives"})
    assert done.status_code == 200 and done.json()["worker"] == "ext-lives"


@needs_ocr
async def test_a_killed_hubs_ocr_job_is_finished_by_another(sqlite_hubs: list[RunningHub]) -> None:
    # SQLite only: the lease logic is the one test_a_dead_workers_job_is_taken_up_again runs on both.
    hubs = sqlite_hubs
    pages = [[f"Chapter {n}", "Marmalade"] for n in range(1, 7)]
    job = await submit(hubs[0], "alice", make_pdf(pages), filename="long.pdf")
    document_id = job["document_id"]
    running = await wait_job(hubs[0], "alice", document_id, lambda job: job["stage"] == "ocr")
    holder = owner_hub(hubs, running["worker"])
    survivor = hubs[1] if holder is hubs[0] else hubs[0]
    holder.kill()  # SIGKILL mid-job: no clean hand-back, only the lease running out
    await wait_job(survivor, "alice", document_id, lambda job: job["state"] == "completed", timeout=60)
    statuses = await history(survivor, "alice", document_id)
    assert statuses[-1]["state"] == "completed"
    assert "chapter 6" in statuses[-1]["result"]["text"].lower()
    states = [(s["state"], s.get("message")) for s in statuses]
    assert ("queued", "The worker stopped responding; queued again.") in states
    final = (await get_job(survivor, "alice", document_id)).json()
    assert final["attempts"] == 2 and owner_hub(hubs, final["worker"]) is survivor


async def test_without_tesseract_or_other_plugins_jobs_fail_with_the_reason(tmp_path: Path) -> None:
    # Only this plugin: no notifications to send, no uploads to refer to, and no Tesseract.
    hub = start_hub(tmp_path, env={
        "HUB_PLUGINS": "doc_processing", "HUB_PLUGIN_DOC_PROCESSING_TESSERACT_CMD": "/nonexistent/tesseract",
    })
    try:
        assert "doc_processing: tesseract is not installed" in hub.log()  # said at start-up
        job = await submit(hub, "alice", make_pdf([["Nothing"]]))
        statuses = await history(hub, "alice", job["document_id"])
        assert [s["state"] for s in statuses] == ["queued", "processing", "failed"]
        assert statuses[-1]["error"] == {"code": "unavailable", "message": "tesseract is not installed"}
        async with hub.http() as http:
            by_reference = await http.post("/api/documents", json={"upload_id": "3f2b9c1e-8d4a-4e7b-9a51-0c6d2e8f7a13"},
                                           headers=hub.headers("alice", ()))
        assert by_reference.status_code == 400 and "upload_progress" in by_reference.json()["error"]["message"]
    finally:
        hub.stop()
