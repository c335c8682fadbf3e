"""Getting a document's file onto local disk: a multipart upload streamed to a file, or an upload by reference.

The multipart body goes through the core's streaming receiver
(:func:`hub.receive_multipart`): the ``file`` part straight to disk, stopping at
``max_bytes``; the small fields (``processor``, ``upload_id``) in memory. An
upload by reference asks the ``upload_progress`` service, through the protocol
below (this plugin never imports that one), and carries on without it.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import httpx
from starlette.requests import Request

from hub import (
    Forbidden, Hub, InvalidMessage, MultipartLimits, MultipartReceiver, NotFound, Principal, TooLarge, Unavailable,
    receive_multipart,
)

FIELD_LIMIT = 1024
MAX_PARTS = 8
UPLOADS_SERVICE = "upload_progress"
FETCH_TIMEOUT = 60.0
# Multipart headers and small fields around the file.
BODY_SLACK = 64 * 1024


class UploadRecord(Protocol):
    """What this plugin reads of an upload."""

    @property
    def owner(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def bytes(self) -> int | None: ...
    @property
    def filename(self) -> str | None: ...
    @property
    def content_type(self) -> str | None: ...


@runtime_checkable
class UploadLookup(Protocol):
    """The ``upload_progress`` service, as far as this plugin uses it."""

    async def get(self, upload_id: str) -> UploadRecord | None: ...


async def receive_file(request: Request, scratch: Path, max_bytes: int) -> MultipartReceiver:
    """Stream a ``multipart/form-data`` body; the form, whose file (if any) is at ``form.path``."""
    limits = MultipartLimits(
        max_file_bytes=max_bytes, max_parts=MAX_PARTS, max_field_bytes=FIELD_LIMIT, max_body_bytes=max_bytes + BODY_SLACK
    )
    return await receive_multipart(request, scratch / f"{uuid.uuid4().hex}.part", limits, require_file=False)


async def fetch_upload(
    hub: Hub, principal: Principal, upload_id: Any, scratch: Path, max_bytes: int
) -> tuple[Path, UploadRecord]:
    """The file of a completed upload of the ``upload_progress`` plugin, copied to ``scratch``.

    The upload must be the caller's (admins may use anyone's). The copy comes from the
    upload's URL (local disk or Cloudinary), so any storage backend works.
    """
    uploads = hub.services.get(UPLOADS_SERVICE, UploadLookup)
    if uploads is None:
        raise InvalidMessage("Uploads by reference need the upload_progress plugin, which is not enabled; send the file.")
    if not isinstance(upload_id, str) or not upload_id or len(upload_id) > 64:
        raise InvalidMessage("'upload_id' must be the id of one of your uploads.")
    record = await uploads.get(upload_id)
    if record is None:
        raise NotFound(f"No upload {upload_id}.")
    if record.owner != principal.user and not principal.is_admin:
        raise Forbidden("That upload is not yours.")
    if record.state != "completed" or not record.url:
        raise InvalidMessage(f"The upload {upload_id} is not complete.")
    if record.bytes and record.bytes > max_bytes:
        raise TooLarge(f"Files are limited to {max_bytes} bytes.")
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / f"{uuid.uuid4().hex}.part"
    try:
        await _download(record.url, path, max_bytes)
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
