"""Getting a document's file onto local disk: a multipart upload streamed to a file, or an upload by reference.

The multipart body goes through the core's streaming receiver
(:func:`hub.receive_multipart`): the ``file`` part straight to disk, stopping at
``max_bytes``; the small fields (``processor``, ``upload_id``) in memory. An
upload by reference asks the ``upload_progress`` service, through the protocol
below (this plugin never imports that one), and reads the file's bytes from
that service too: never over the upload's link, which expires and which another
hub process may not even serve.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from starlette.requests import Request

from hub import (
    Forbidden, Hub, InvalidMessage, MultipartLimits, MultipartReceiver, NotFound, Principal, TooLarge, receive_multipart,
)

FIELD_LIMIT = 1024
MAX_PARTS = 8
UPLOADS_SERVICE = "upload_progress"
# Multipart headers and small fields around the file.
BODY_SLACK = 64 * 1024


class UploadRecord(Protocol):
    """What this plugin reads of an upload."""

    @property
    def owner(self) -> str: ...
    @property
    def state(self) -> str: ...
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

    def open(self, upload_id: str) -> AsyncIterator[bytes]:
        """A completed upload's bytes, in chunks, from whichever storage keeps it."""
        ...


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

    The upload must be the caller's (admins may use anyone's). The bytes come from the
    ``upload_progress`` service, which reads whichever storage backend keeps them.
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
    if record.state != "completed":
        raise InvalidMessage(f"The upload {upload_id} is not complete.")
    if record.bytes and record.bytes > max_bytes:
        raise TooLarge(f"Files are limited to {max_bytes} bytes.")
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / f"{uuid.uuid4().hex}.part"
    try:
        await _copy(uploads.open(upload_id), path, max_bytes)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, record


async def _copy(chunks: AsyncIterator[bytes], path: Path, max_bytes: int) -> None:
    size = 0
    with open(path, "xb") as handle:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:  # the record's size is checked first; this holds even if it was wrong
                raise TooLarge(f"Files are limited to {max_bytes} bytes.")
            handle.write(chunk)
