"""HTTP: ``POST /api/uploads`` (the contract's path), ``GET /api/upload_progress/uploads/<id>`` and ``.../files/<name>``."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from hub import Forbidden, HubError, InvalidMessage, JSONResponse, NotFound, describe

from .receive import UnsupportedType, UploadBody
from .service import Upload, UploadService, parse_upload_id
from .sniff import EXTENSIONS

logger = logging.getLogger("hub.upload_progress")
STORED_NAME = re.compile(r"^[0-9a-f]{32}\.[a-z]{2,5}$")
MEDIA_TYPES = {extension: content_type for content_type, extension in EXTENSIONS.items()}
# What a refused body may still send before the connection is dropped: reading
# it lets the client see the error instead of a reset connection.
DRAIN_LIMIT = 16 * 1024 * 1024


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
        partial = service.partial_dir / f"{uuid.uuid4().hex}.part"
        body = UploadBody(service, principal, request.headers, partial)
        stream = request.stream()
        try:
            current, content_type = await body.receive(stream)
            size = body.form.file_bytes
            await current.reporter.update("receiving", size, size, final=True)
            await current.storing(size, content_type)
            return await _store(service, current, request, partial, size, content_type)
        except ClientDisconnect:
            await _fail(body.upload, InvalidMessage("The client left before the file was complete."))
            return Response(status_code=400)
        except BaseException as exc:
            await _fail(body.upload, exc)
            if isinstance(exc, HubError) and not body.form.ended:
                await _drain(stream, body.form.content_length)
            raise
        finally:
            body.form.close()
            partial.unlink(missing_ok=True)

    @describe(responses={
        "200": {"description": "The upload's record, with `url` a fresh signed link (null until completed)."},
        "403": {"description": "Not the uploader, an admin or a service."},
        "404": {"description": "No such upload."},
    })
    async def get_upload(request: Request) -> Response:
        """One upload's record; its `url` is a new signed link, for when the one of upload.completed expired."""
        assert service.hub is not None
        principal = await service.hub.authenticate(request)
        upload_id = parse_upload_id(request.path_params["upload_id"], NotFound)
        row = await service.require_records().get(upload_id)
        if row is None:
            raise NotFound(f"No upload {upload_id}.")
        if not service.may_read(principal, row["owner"]):
            raise Forbidden("That upload is not yours.")
        return JSONResponse(service.with_link(row))

    @describe(responses={
        "200": {"description": "The file."},
        "401": {"description": "Neither a signed link nor a bearer token."},
        "403": {"description": "A link expired or tampered with, or a token of someone else (`forbidden`)."},
        "404": {"description": "No such file."},
    })
    async def serve_file(request: Request) -> Response:
        """A file stored on local disk: to its signed link (?expires=&sig=), or to its uploader's, an admin's or a service's token."""
        name = request.path_params["name"]
        if not STORED_NAME.match(name):
            raise NotFound("No such file.")
        query = request.query_params
        if "sig" in query or "expires" in query:
            # A link is checked before anything is looked up: a bad one learns nothing, not even if the file exists.
            if not service.signer.valid(name, query.get("expires", ""), query.get("sig", "")):
                raise Forbidden("This link expired or is not valid; ask for a fresh one.")
        else:
            principal = await service.hub_required().authenticate(request)
            owner = await service.require_records().owner_of_file(name)
            if owner is None:
                raise NotFound("No such file.")
            if not service.may_read(principal, owner):
                raise Forbidden("That file is not yours.")
        path = service.files_dir / name
        if not path.is_file():
            raise NotFound("No such file.")
        media_type = MEDIA_TYPES.get(name.rpartition(".")[2], "application/octet-stream")
        # Private: a shared cache must not keep a file that needs a token or a signature.
        return FileResponse(path, media_type=media_type, headers={"cache-control": "private, no-store"})

    return [
        Route("/api/uploads", upload, methods=["POST"], name="upload_progress_upload"),
        Route("/uploads/{upload_id}", get_upload, methods=["GET"], name="upload_progress_get"),
        Route("/files/{name}", serve_file, methods=["GET"], name="upload_progress_file"),
    ]


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
    link = await current.completed(stored)
    return JSONResponse({"upload_id": current.id, "filename": current.filename, **stored, "url": link}, status_code=201)


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
