"""Getting a document's file onto local disk: a multipart upload streamed to a file, or an upload by reference.

The multipart body is parsed as it arrives (python-multipart's push parser): the
``file`` part goes straight to disk and stops at ``max_bytes``; the small fields
(``processor``, ``upload_id``) are kept in memory.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import IO, Any

import httpx
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from hub import Forbidden, Hub, InvalidMessage, NotFound, Principal, TooLarge, Unavailable

FIELD_LIMIT = 1024
MAX_PARTS = 8
FILE_FIELD = "file"
UPLOADS_SERVICE = "upload_progress"
FETCH_TIMEOUT = 60.0


class MultipartFile:
    """Feed it the body chunk by chunk; it writes the ``file`` part to ``path`` and keeps the other fields."""

    def __init__(self, boundary: bytes, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.content_type: str | None = None
        self.file_bytes = 0
        self.has_file = False
        self.ended = False
        self._writer: IO[bytes] | None = None
        self._headers: dict[str, str] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._part: str | None = None
        self._data = bytearray()
        self._parts = 0
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        })

    def feed(self, chunk: bytes) -> None:
        if self.ended:
            return
        try:
            self._parser.write(chunk)
        except MultipartParseError:
            raise InvalidMessage("The body is not valid multipart/form-data.") from None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise InvalidMessage(f"At most {MAX_PARTS} parts are accepted.")
        self._headers, self._part, self._data = {}, None, bytearray()

    def _header_end(self) -> None:
        self._headers[bytes(self._field).decode("latin-1").strip().lower()] = bytes(self._value).decode("latin-1").strip()
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.get("content-disposition"))
        name = params.get(b"name")
        if disposition != b"form-data" or name is None:
            raise InvalidMessage("Each part needs 'Content-Disposition: form-data; name=...'.")
        self._part = name.decode("utf-8", "replace")
        if self._part == FILE_FIELD:
            if self.has_file:
                raise InvalidMessage("Send one 'file' part.")
            filename = params.get(b"filename")
            self.filename = filename.decode("utf-8", "replace")[:500] if filename else None
            self.content_type = (self._headers.get("content-type") or "")[:255] or None
            self.has_file = True
            self._writer = open(self.path, "xb")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        piece = data[start:end]
        if self._part != FILE_FIELD:
            if len(self._data) + len(piece) > FIELD_LIMIT:
                raise InvalidMessage(f"Form fields other than 'file' are limited to {FIELD_LIMIT} bytes.")
            self._data.extend(piece)
            return
        self.file_bytes += len(piece)
        if self.file_bytes > self.max_bytes:
            raise TooLarge(f"Files are limited to {self.max_bytes} bytes.")
        assert self._writer is not None
        self._writer.write(piece)

    def _part_end(self) -> None:
        if self._part == FILE_FIELD:
            self.close()
        elif self._part is not None:
            try:
                self.fields[self._part] = bytes(self._data).decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidMessage(f"The field '{self._part}' is not UTF-8.") from None

    def _end(self) -> None:
        self.ended = True


async def receive_multipart(request: Request, scratch: Path, max_bytes: int) -> tuple[MultipartFile, Path]:
    """Stream a ``multipart/form-data`` body; the parsed form and the path its file went to (if any)."""
    _, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidMessage("A multipart/form-data body needs a boundary.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise TooLarge(f"Files are limited to {max_bytes} bytes.")
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / f"{uuid.uuid4().hex}.part"
    form = MultipartFile(boundary, path, max_bytes)
    try:
        async for chunk in request.stream():
            form.feed(chunk)
        if not form.ended:
            raise InvalidMessage("The body ended before the multipart message was complete.")
    except BaseException:
        form.close()
        path.unlink(missing_ok=True)
        raise
    finally:
        form.close()
    return form, path


async def fetch_upload(hub: Hub, principal: Principal, upload_id: Any, scratch: Path, max_bytes: int) -> tuple[Path, dict[str, Any]]:
    """The file of a completed upload of the ``upload_progress`` plugin, copied to ``scratch``.

    The upload must be the caller's (admins may use anyone's). The copy comes from the
    upload's URL (local disk or Cloudinary), so any storage backend works.
    """
    uploads = hub.services.get(UPLOADS_SERVICE)
    if uploads is None:
        raise InvalidMessage("Uploads by reference need the upload_progress plugin, which is not enabled; send the file.")
    if not isinstance(upload_id, str) or not upload_id or len(upload_id) > 64:
        raise InvalidMessage("'upload_id' must be the id of one of your uploads.")
    try:
        record = await uploads.get(upload_id)
    except Unavailable:
        raise
    except Exception:  # a malformed id, as the upload plugin sees it
        record = None
    if record is None:
        raise NotFound(f"No upload {upload_id}.")
    if record.get("owner") != principal.user and not principal.is_admin:
        raise Forbidden("That upload is not yours.")
    if record.get("state") != "completed" or not record.get("url"):
        raise InvalidMessage(f"The upload {upload_id} is not complete.")
    if record.get("bytes") and int(record["bytes"]) > max_bytes:
        raise TooLarge(f"Files are limited to {max_bytes} bytes.")
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / f"{uuid.uuid4().hex}.part"
    try:
        await _download(str(record["url"]), path, max_bytes)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, record


async def _download(url: str, path: Path, max_bytes: int) -> None:
    size = 0
    try:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=True) as client:
            async with client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise Unavailable("The upload's file could not be fetched from its storage.")
                with open(path, "xb") as handle:
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise TooLarge(f"Files are limited to {max_bytes} bytes.")
                        handle.write(chunk)
    except httpx.HTTPError:
        raise Unavailable("The upload's file could not be fetched from its storage.") from None
