"""HTTP: the contract's ``/api/documents`` routes, and the plugin's own under ``/api/doc_processing/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from hub import Conflict, Hub, InvalidMessage, JSONResponse, NotFound, describe, read_json

from . import states
from .files import fetch_upload, receive_file
from .service import PROCESSOR_NAME, DocumentService
from .store import public

JSON_LIMIT = 64 * 1024
WORKER_NAME_LIMIT = 200
LIST_LIMIT = 100

SUBMIT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "A new file."},
                    "upload_id": {"type": "string", "description": "Or a completed upload of the caller's."},
                    "processor": {"type": "string", "description": "Default: the configured default_processor."},
                },
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["upload_id"],
                "properties": {"upload_id": {"type": "string"}, "processor": {"type": "string"}},
            }
        },
    },
}
STATUS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["state"],
                "properties": {
                    "state": {"type": "string", "enum": list(states.STATES)},
                    "stage": {"type": "string"},
                    "progress": {"type": "number", "minimum": 0, "maximum": 100},
                    "message": {"type": "string"},
                    "result": {"type": "object"},
                    "error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
                    "worker": {"type": "string", "description": "Who reports; default the token's sub."},
                },
            }
        }
    },
}
CLAIM_BODY = {
    "required": False,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "worker": {"type": "string"},
                    "processors": {"type": "array", "items": {"type": "string"}},
                    "lease_seconds": {"type": "number"},
                },
            }
        }
    },
}


def document_routes(hub: Hub, service: DocumentService) -> list[BaseRoute]:
    def settings() -> Any:
        assert service.settings is not None
        return service.settings

    @describe(requestBody=SUBMIT_BODY, responses={"201": {"description": "The queued job."}})
    async def submit(request: Request) -> Response:
        """Submit a document for processing; its status follows on doc:<document_id>.

        A new file (multipart `file`), or a completed upload of yours by reference (`upload_id`,
        multipart or JSON). `processor` picks what to do (default `ocr`).
        """
        principal = await hub.authenticate(request)
        service.require_store()
        scratch = settings().documents / ".incoming"
        media_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        path: Path | None = None
        try:
            if media_type == "multipart/form-data":
                form = await receive_file(request, scratch, settings().max_bytes)
                fields: dict[str, Any] = dict(form.fields)
                if form.has_file:
                    path, filename, content_type = form.path, form.filename, form.content_type
                if form.has_file and "upload_id" in fields:
                    raise InvalidMessage("Send either a file or an upload_id, not both.")
                if form.has_file and form.file_bytes == 0:
                    raise InvalidMessage("The file is empty.")
            elif media_type == "application/json":
                fields = await read_json(request, JSON_LIMIT)
                unknown = sorted(set(fields) - {"upload_id", "processor"})
                if unknown:
                    raise InvalidMessage(f"Unknown field(s): {', '.join(unknown)}.")
            else:
                raise InvalidMessage("Send multipart/form-data with a 'file' (or 'upload_id'), or JSON with 'upload_id'.")
            processor = fields.get("processor")
            if processor is not None and (not isinstance(processor, str) or not PROCESSOR_NAME.match(processor)):
                raise InvalidMessage("'processor' is a processor's name, like 'ocr'.")
            if processor is not None and processor not in service.known_processors():
                raise InvalidMessage(f"Unknown processor {processor!r}.")
            if path is None:
                if "upload_id" not in fields:
                    raise InvalidMessage("Send a 'file', or the 'upload_id' of one of your uploads.")
                path, record = await fetch_upload(hub, principal, fields["upload_id"], scratch, settings().max_bytes)
                filename, content_type = record.filename, record.content_type
            job = await service.submit(principal.user, path, filename, content_type, processor)
        finally:
            if path is not None:
                path.unlink(missing_ok=True)  # moved by submit when it succeeded
        return JSONResponse(job, status_code=201)

    async def get_document(request: Request) -> Response:
        """A document's job: state, stage, progress and, once completed, its result.

        The owner, admins and services.
        """
        principal = await hub.authenticate(request)
        row = await service.readable(principal, request.path_params["document_id"])
        return JSONResponse(public(row))

    @describe(requestBody=STATUS_BODY, responses={"409": {"description": "Not a transition the state machine allows."}})
    async def put_status(request: Request) -> Response:
        """Report a document's status (external workers; role service).

        queued -> processing -> completed or failed; failed -> queued retries. Progress (0-100) within a
        stage never goes back. A job being processed takes reports from the worker holding it only.
        """
        principal = await hub.authenticate(request, roles=("service", "admin"))
        document_id = request.path_params["document_id"]
        body = await read_json(request, settings().max_result_bytes + JSON_LIMIT)
        worker = _worker_name(body.get("worker"), principal.user)
        update = states.parse_update(body, settings().max_result_bytes)
        job = await service.update_status(document_id, update, worker=worker)
        return JSONResponse(job)

    async def list_documents(request: Request) -> Response:
        """Your documents' jobs, newest first (`limit`, default 50, at most 100)."""
        principal = await hub.authenticate(request)
        raw = request.query_params.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= LIST_LIMIT:
            raise InvalidMessage(f"'limit' is a number from 1 to {LIST_LIMIT}.")
        rows = await service.require_store().list_for(principal.user, int(raw))
        return JSONResponse({"documents": [public(row) for row in rows]})

    async def retry(request: Request) -> Response:
        """Queue a failed document again (its owner, admins, services); 409 unless it failed."""
        principal = await hub.authenticate(request)
        row = await service.readable(principal, request.path_params["document_id"])
        if row["state"] == states.FAILED and not row["file_path"]:
            raise Conflict("The document's file is gone; submit it again.")
        return JSONResponse(await service.retry(row["document_id"], f"Retried by {principal.user}."))

    @describe(requestBody=CLAIM_BODY, responses={
        "200": {"description": "A claimed job, with `file_url` and `lease_until`."},
        "204": {"description": "Nothing to do."},
    })
    async def claim(request: Request) -> Response:
        """Claim the oldest queued job for an external worker, with a lease (role service).

        Report with PUT /api/documents/{id}/status before the lease ends (each report renews it),
        or the job goes back to the queue. `processors` defaults to the configured external_processors.
        """
        principal = await hub.authenticate(request, roles=("service", "admin"))
        body = await read_json(request, JSON_LIMIT) if await _has_body(request) else {}
        unknown = sorted(set(body) - {"worker", "processors", "lease_seconds"})
        if unknown:
            raise InvalidMessage(f"Unknown field(s): {', '.join(unknown)}.")
        worker = _worker_name(body.get("worker"), principal.user)
        processors = body.get("processors", list(settings().external_processors))
        if not isinstance(processors, list) or not all(isinstance(name, str) for name in processors):
            raise InvalidMessage("'processors' is a list of processor names.")
        lease = body.get("lease_seconds", settings().lease_seconds)
        if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not 1 <= lease <= 86400:
            raise InvalidMessage("'lease_seconds' is a number of seconds from 1 to 86400.")
        row = await service.claim(worker, processors, float(lease))
        if row is None:
            return Response(status_code=204)
        return JSONResponse(
            {**public(row), "file_url": f"/api/doc_processing/documents/{row['document_id']}/file"}
        )

    async def document_file(request: Request) -> Response:
        """The document's file, for the worker processing it (owner, admins, services)."""
        principal = await hub.authenticate(request)
        row = await service.readable(principal, request.path_params["document_id"])
        if not row["file_path"] or not Path(row["file_path"]).is_file():
            raise NotFound("The document's file is gone.")
        return FileResponse(row["file_path"], media_type=row["content_type"] or "application/octet-stream",
                            filename=row["filename"] or None)

    return [
        Route("/api/documents", submit, methods=["POST"], name="doc_processing_submit"),
        Route("/api/documents/{document_id}", get_document, methods=["GET"], name="doc_processing_get"),
        Route("/api/documents/{document_id}/status", put_status, methods=["PUT"], name="doc_processing_status"),
        Route("/documents", list_documents, methods=["GET"], name="doc_processing_list"),
        Route("/documents/{document_id}/retry", retry, methods=["POST"], name="doc_processing_retry"),
        Route("/documents/{document_id}/file", document_file, methods=["GET"], name="doc_processing_file"),
        Route("/claim", claim, methods=["POST"], name="doc_processing_claim"),
    ]


def _worker_name(value: Any, default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or not value or len(value) > WORKER_NAME_LIMIT:
        raise InvalidMessage(f"'worker' is a name of at most {WORKER_NAME_LIMIT} characters.")
    return value


async def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return bool(length and length != "0") or "chunked" in request.headers.get("transfer-encoding", "")
