"""Helpers of the doc_processing tests: PDFs with known text, submitting, and reading a document's events."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from hub.testing import RunningHub, SocketRecorder

needs_ocr = pytest.mark.skipif(
    shutil.which("tesseract") is None or shutil.which("pdftoppm") is None,
    reason="tesseract or poppler is not installed (run scripts/setup-system.sh as root)",
)


def make_pdf(pages: list[list[str]]) -> bytes:
    """A valid PDF written by hand: one page per list of lines, in 40 pt Helvetica (a standard font)."""
    count = len(pages)
    kids = " ".join(f"{4 + 2 * index} 0 R" for index in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for index, lines in enumerate(pages):
        operators = ["BT", "/F1 40 Tf", "60 700 Td", "52 TL", *(f"({line}) Tj T*" for line in lines), "ET"]
        stream = "\n".join(operators).encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {5 + 2 * index} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


async def submit(hub: RunningHub, user: str, content: bytes, filename: str = "scan.pdf", **fields: str) -> dict[str, Any]:
    """``POST /api/documents`` with a new file; the created job (asserts 201)."""
    async with hub.http() as http:
        response = await http.post(
            "/api/documents", files={"file": (filename, content, "application/pdf")}, data=fields,
            headers=hub.headers(user, ()),
        )
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


async def get_job(hub: RunningHub, user: str, document_id: str, roles: tuple[str, ...] = ()) -> Any:
    async with hub.http() as http:
        return await http.get(f"/api/documents/{document_id}", headers=hub.headers(user, roles))


async def put_status(hub: RunningHub, document_id: str, body: dict[str, Any], worker: str = "svc") -> Any:
    async with hub.http() as http:
        return await http.put(
            f"/api/documents/{document_id}/status", json=body, headers=hub.headers(worker, ("service",))
        )


async def claim(hub: RunningHub, body: dict[str, Any]) -> Any:
    async with hub.http() as http:
        return await http.post("/api/doc_processing/claim", json=body, headers=hub.headers("svc", ("service",)))


async def connect(hub: RunningHub, user: str, roles: tuple[str, ...] = ()) -> SocketRecorder:
    client = await SocketRecorder().connect(hub, hub.token(user, roles))
    await client.wait_for("hub.welcome")
    return client


def ended(document_id: str) -> Any:
    def match(event: Any) -> bool:
        return bool(event["data"]["document_id"] == document_id and event["data"]["state"] in ("completed", "failed"))

    return match


async def history(hub: RunningHub, user: str, document_id: str, until: Any = None, timeout: float = 30) -> list[dict[str, Any]]:
    """Every ``doc.status`` of a document from the first (subscribe since 0), once ``until`` matched one."""
    client = await connect(hub, user)
    try:
        reply = await client.call("subscribe", {"topic": f"doc:{document_id}", "since": 0})
        assert reply["ok"], reply
        await client.wait_for("doc.status", where=until or ended(document_id), timeout=timeout)
        return [event["data"] for event in client.of_type("doc.status")]
    finally:
        await client.close()


async def wait_job(hub: RunningHub, user: str, document_id: str, until: Any, timeout: float = 30) -> dict[str, Any]:
    """Poll ``GET /api/documents/{id}`` until ``until(job)``.

    For several hub processes on one database: each process delivers live only the
    events it published itself (the core has no broker between processes yet), so a
    test watching another process's worker reads the stored job instead.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    async with hub.http() as http:
        while True:
            response = await http.get(f"/api/documents/{document_id}", headers=hub.headers(user, ()))
            job: dict[str, Any] = response.json()
            if response.status_code == 200 and until(job):
                return job
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"document {document_id} never got there; it is {job}")
            await asyncio.sleep(0.05)
