"""The core's streaming multipart receiver: limits, progress, errors of the contract, nothing left behind.

The receiver is fed real multipart bodies (as httpx encodes them, and hand-made
ones for the malformed cases); the request path runs a Starlette app over a
real socket (uvicorn on a loopback port) with the body streamed in chunks.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub import HubError, InvalidMessage, MultipartLimits, MultipartReceiver, TooLarge, receive_multipart
from hub.testing import free_port

BOUNDARY = "test-boundary-7f3a"


def body(*parts: tuple[str, bytes, str | None], close: bool = True) -> bytes:
    """A multipart body: (name, content, filename or None) per part."""
    out = b""
    for name, content, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename:
            out += b"Content-Type: application/pdf\r\n"
        out += b"\r\n" + content + b"\r\n"
    return out + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


def receiver(tmp_path: Path, **limits: Any) -> MultipartReceiver:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    return MultipartReceiver.from_headers(headers, tmp_path / "in" / "file.part", MultipartLimits(**{"max_file_bytes": 1000, **limits}))


async def chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def test_the_file_goes_to_disk_and_the_fields_stay_in_memory(tmp_path: Path) -> None:
    form = receiver(tmp_path, head_bytes=4)
    seen: list[int] = []

    async def progress(current: MultipartReceiver) -> None:
        seen.append(current.file_bytes)

    await form.receive(chunks(body(("note", "héllo".encode(), None), ("file", b"%PDF-" + b"x" * 300, "a.pdf"))), progress)
    assert form.fields == {"note": "héllo"}
    assert form.filename == "a.pdf" and form.content_type == "application/pdf" and form.has_file
    assert form.path.read_bytes() == b"%PDF-" + b"x" * 300 and form.file_bytes == 305
    assert form.head == b"%PDF"
    # Progress after every chunk, never going back, ending at the whole file.
    assert len(seen) > 40 and seen == sorted(seen) and seen[-1] == 305 and seen[0] == 0


async def test_estimated_total_from_the_declared_length(tmp_path: Path) -> None:
    data = body(("file", b"y" * 500, "b.pdf"))
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}", "content-length": str(len(data))}
    form = MultipartReceiver.from_headers(headers, tmp_path / "f.part", MultipartLimits(max_file_bytes=1000))
    estimates: list[int | None] = []

    async def progress(current: MultipartReceiver) -> None:
        estimates.append(current.estimated_total())

    await form.receive(chunks(data, 64), progress)
    # Exact as soon as the file began: it is the last part.
    assert [estimate for estimate in estimates if estimate is not None] and all(
        estimate == 500 for estimate in estimates if estimate is not None
    )


@pytest.mark.parametrize(
    ("limits", "data", "error", "message"),
    [
        ({}, body(("file", b"z" * 1001, "c.pdf")), TooLarge, "Files are limited to 1000 bytes."),
        ({"max_parts": 2}, body(("a", b"1", None), ("b", b"2", None), ("c", b"3", None)), InvalidMessage,
         "At most 2 parts are accepted."),
        ({"max_field_bytes": 4}, body(("a", b"12345", None)), InvalidMessage, "limited to 4 bytes"),
        ({"before_file": ("upload_id",)}, body(("file", b"z", "d.pdf"), ("upload_id", b"x", None)), InvalidMessage,
         "'upload_id' must come before 'file' in the body."),
        ({}, body(("file", b"1", "e.pdf"), ("file", b"2", "f.pdf")), InvalidMessage, "Send one 'file' part."),
        ({}, body(("a", b"\xff\xfe", None)), InvalidMessage, "The field 'a' is not UTF-8."),
        ({}, body(("file", b"z" * 10, "g.pdf"), close=False), InvalidMessage, "ended before the multipart message"),
        ({}, body(("note", b"no file", None)), InvalidMessage, "The body has no 'file' part."),
        ({}, b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: attachment\r\n\r\nx\r\n", InvalidMessage,
         "Each part needs 'Content-Disposition: form-data"),
        ({}, b"not multipart at all\r\n", InvalidMessage, "not valid multipart/form-data"),
        ({"max_body_bytes": 100}, body(("a", b"1" * 90, None), ("b", b"2" * 90, None)), TooLarge, "Files are limited"),
    ],
)
async def test_every_limit_and_malformation_gives_the_contracts_error(
    tmp_path: Path, limits: dict[str, Any], data: bytes, error: type[HubError], message: str
) -> None:
    form = receiver(tmp_path, **limits)
    with pytest.raises(error) as raised:
        await form.receive(chunks(data, 16))
    assert message in raised.value.message
    assert raised.value.code == error.code
    assert not form.path.exists()  # a refused body leaves nothing on disk


async def test_a_missing_file_is_fine_when_not_required(tmp_path: Path) -> None:
    form = receiver(tmp_path)
    await form.receive(chunks(body(("upload_id", b"u-1", None))), require_file=False)
    assert form.fields == {"upload_id": "u-1"} and not form.has_file and not form.path.exists()


def test_headers_are_checked_before_anything_is_read(tmp_path: Path) -> None:
    limits = MultipartLimits(max_file_bytes=10, max_body_bytes=100)
    for headers in ({"content-type": "application/json"}, {"content-type": "multipart/form-data"}, {}):
        with pytest.raises(InvalidMessage, match="Send multipart/form-data, with the file in a part named 'file'."):
            MultipartReceiver.from_headers(headers, tmp_path / "x", limits)
    declared = {"content-type": f"multipart/form-data; boundary={BOUNDARY}", "content-length": "101"}
    with pytest.raises(TooLarge):
        MultipartReceiver.from_headers(declared, tmp_path / "x", limits)


# Over a real socket ------------------------------------------------------------------


@pytest.fixture
async def upload_server(tmp_path: Path) -> AsyncIterator[tuple[str, list[int]]]:
    """A Starlette app on uvicorn whose one route streams a body through :func:`receive_multipart`."""
    ticks: list[int] = []

    async def upload(request: Request) -> Response:
        async def progress(form: MultipartReceiver) -> None:
            ticks.append(form.file_bytes)

        path = tmp_path / "uploads" / f"{secrets.token_hex(8)}.part"
        try:
            form = await receive_multipart(request, path, MultipartLimits(max_file_bytes=200_000), progress)
        except HubError as exc:
            return JSONResponse({"error": exc.to_wire(), "left": path.exists()}, status_code=exc.status)
        return JSONResponse({"fields": form.fields, "bytes": path.stat().st_size, "name": form.filename})

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        Starlette(routes=[Route("/upload", upload, methods=["POST"])]), host="127.0.0.1", port=port, log_level="warning",
    ))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}", ticks
    server.should_exit = True
    await task


async def test_a_streamed_request_reports_progress_and_is_refused_past_the_limit(
    upload_server: tuple[str, list[int]],
) -> None:
    url, ticks = upload_server
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        ok = await http.post("/upload", data={"kind": "scan"}, files={"file": ("s.pdf", b"p" * 150_000)})
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"fields": {"kind": "scan"}, "bytes": 150_000, "name": "s.pdf"}
        assert len(ticks) > 1 and ticks[-1] == 150_000  # the body arrived in several chunks, each reported
        # A little over the limit: the part never read fits the socket buffers, so the reply arrives whole.
        big = await http.post("/upload", files={"file": ("b.pdf", b"p" * 200_500)})
        assert big.status_code == 413
        assert big.json() == {"error": {"code": "too_large", "message": "Files are limited to 200000 bytes."}, "left": False}
