"""HTTP: ``POST /api/uploads`` (the contract's path) and ``GET /api/upload_progress/files/<name>``."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from hub import HubError, InvalidMessage, JSONResponse, NotFound, TooLarge, describe

from .receive import MultipartReceiver, content_length
from .service import Upload, UploadService
from .sniff import EXTENSIONS, SNIFF_BYTES, sniff

logger = logging.getLogger("hub.upload_progress")
STORED_NAME = re.compile(r"^[0-9a-f]{32}\.[a-z]{2,5}$")
MEDIA_TYPES = {extension: content_type for content_type, extension in EXTENSIONS.items()}
# What a refused body may still send before the connection is dropped: reading
# it lets the client see the error instead of a reset connection.
DRAIN_LIMIT = 16 * 1024 * 1024
# Multipart headers and small fields around the file.
OVERHEAD_SLACK = 16 * 1024


class UnsupportedType(InvalidMessage):
    """The file's bytes are not of an allowed type (HTTP 415; the contract's code ``invalid_message``)."""

    status = 415


UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "upload_id": {"type": "string", "format": "uuid", "description": "Before 'file' in the body."},
                    "file": {"type": "string", "format": "binary"},
                },
            }
        }
    },
}


def upload_routes(service: UploadService) -> list[BaseRoute]:
    @describe(
        requestBody=UPLOAD_BODY,
        responses={
            "201": {"description": "Stored: {upload_id, url, public_id, bytes, content_type, storage, filename}."},
            "409": {"description": "The upload id belongs to another user or was used already."},
            "413": {"description": "The file is larger than max_bytes."},
            "415": {"description": "The file's bytes are not of an allowed type."},
            "502": {"description": "The storage service failed."},
        },
    )
    async def upload(request: Request) -> Response:
        """Upload a file, streamed; progress on upload:<upload_id>.

        Multipart fields: optional `upload_id` (a UUID the client chose, sent before the file), and `file`.
        """
        assert service.hub is not None
        principal = await service.hub.authenticate(request)
        service.require_records()  # unavailable without a SQL database, before reading anything
        media_type, params = parse_options_header(request.headers.get("content-type"))
        boundary = params.get(b"boundary")
        if media_type != b"multipart/form-data" or not boundary:
            raise InvalidMessage("Send the file as multipart/form-data, in a part named 'file'.")
        length = content_length(request.headers)
        partial = service.partial_dir / f"{uuid.uuid4().hex}.part"
        receiver = MultipartReceiver(boundary, partial, service.max_bytes)
        current: Upload | None = None
        stream = request.stream()
        try:
            async for chunk in stream:
                receiver.feed(chunk)
                if current is None and (receiver.file_offset is not None or receiver.file_done):
                    current = await service.begin(principal, receiver.fields.get("upload_id"), receiver.filename)
                    await current.started(receiver.estimated_total(length))
                if current is not None:
                    _check_type(service, receiver, final=False)
                    total = receiver.estimated_total(length)
                    if total is not None and total > service.max_bytes + OVERHEAD_SLACK:
                        raise TooLarge(f"Files are limited to {service.max_bytes} bytes.")
                    await current.reporter.update("receiving", receiver.file_bytes, total)
            receiver.finish()
            assert current is not None
            content_type = _check_type(service, receiver, final=True)
            size = receiver.file_bytes
            await current.reporter.update("receiving", size, size, final=True)
            await current.storing(size, content_type)
            return await _store(service, current, request, partial, size, content_type)
        except ClientDisconnect:
            await _fail(current, InvalidMessage("The client left before the file was complete."))
            return Response(status_code=400)
        except BaseException as exc:
            await _fail(current, exc)
            if isinstance(exc, HubError) and not receiver.ended:
                await _drain(stream, length)
            raise
        finally:
            receiver.close()
            partial.unlink(missing_ok=True)

    async def serve_file(request: Request) -> Response:
        """A file stored on local disk, by the name an upload's URL gives."""
        name = request.path_params["name"]
        if not STORED_NAME.match(name):
            raise NotFound("No such file.")
        path = service.files_dir / name
        if not path.is_file():
            raise NotFound("No such file.")
        media_type = MEDIA_TYPES.get(name.rpartition(".")[2], "application/octet-stream")
        # Names are random and unguessable, as Cloudinary's URLs are: the URL is the capability.
        return FileResponse(path, media_type=media_type, headers={"cache-control": "private, max-age=86400"})

    return [
        Route("/api/uploads", upload, methods=["POST"], name="upload_progress_upload"),
        Route("/files/{name}", serve_file, methods=["GET"], name="upload_progress_file"),
    ]


def _check_type(service: UploadService, receiver: MultipartReceiver, final: bool) -> str:
    """The sniffed content type once enough bytes are in; ``UnsupportedType`` if not allowed."""
    if not final and len(receiver.head) < SNIFF_BYTES and not receiver.file_done:
        return ""
    content_type = sniff(receiver.head)
    if content_type is None or content_type not in service.allowed:
        raise UnsupportedType(f"The file is not of an accepted type ({', '.join(sorted(service.allowed))}).")
    return content_type


async def _store(
    service: UploadService, current: Upload, request: Request, partial: Any, size: int, content_type: str
) -> Response:
    assert service.storage is not None

    async def progress(done: int) -> None:
        if done < size:  # the whole file is the final tick's, once the backend returned
            await current.reporter.update("storing", done, size)

    stored = await service.storage.store(partial, service.storage_name(content_type), content_type, progress)
    if stored["url"].startswith("/"):
        stored["url"] = (service.public_url or str(request.base_url).rstrip("/")) + stored["url"]
    await current.reporter.update("storing", size, size, final=True)
    await current.completed(stored)
    return JSONResponse({"upload_id": current.id, "filename": current.filename, **stored}, status_code=201)


async def _fail(current: Upload | None, error: BaseException) -> None:
    if current is None:
        return
    try:
        await current.failed(error)
    except Exception:  # the original error is what the client must get
        logger.exception("upload %s: could not record its failure", current.id)


async def _drain(stream: Any, length: int | None) -> None:
    """Read (and drop) what is left of a refused body, when it is not much."""
    if length is None or length > DRAIN_LIMIT:
        return
    try:
        async for _ in stream:
            pass
    except Exception:  # the client may well have gone: the error response is all that is left to try
        pass


__all__ = ["UnsupportedType", "upload_routes"]
