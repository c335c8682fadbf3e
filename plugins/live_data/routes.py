"""HTTP: the contract's ``/api/live/{collection}/...`` routes (roles service and admin)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from hub import Hub, InvalidMessage, JSONResponse, LimitExceeded, NotFound, describe, read_json

from .changes import KEY_PATTERN, Change, check_id, parse_change
from .config import COLLECTION_PATTERN
from .service import LiveData, error_of

WRITERS = ("service", "admin")
RECORD_BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
CHANGES_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["changes"],
        "properties": {
            "changes": {"type": "array", "items": {"type": "object", "required": ["op", "key"], "properties": {
                "op": {"type": "string", "enum": ["upsert", "patch", "delete"]},
                "key": {"type": "string"}, "record": {"type": "object"},
            }}},
            "id": {"type": "string", "description": "Idempotency: change i is stored once, as event <id>.<i>."},
            "reset": {"type": "boolean", "description": "The upserts replace the whole collection (one live.reset)."},
        },
    }}},
}


def _target(request: Request) -> tuple[str, str | None]:
    collection = request.path_params["collection"]
    if not COLLECTION_PATTERN.match(collection):
        raise InvalidMessage(f"A collection's name matches {COLLECTION_PATTERN.pattern}.")
    key = request.path_params.get("key")
    if key is not None and not KEY_PATTERN.match(key):
        raise InvalidMessage("A key has 1 to 255 characters.")
    return collection, key


def live_routes(hub: Hub, service: LiveData) -> list[BaseRoute]:
    limit = service.config.settings.max_record_bytes + 1024

    async def single(request: Request, op: str) -> JSONResponse:
        await hub.authenticate(request, WRITERS)
        collection, key = _target(request)
        assert key is not None
        record = None if op == "delete" else await read_json(request, limit)
        change = Change(op, key, record, check_id(request.headers.get("idempotency-key"), "Idempotency-Key"))
        result = (await service.write(collection, [change]))[0]
        if "error" in result:
            raise error_of(result["error"])
        if op == "delete" and not result["changed"]:
            return JSONResponse({"key": key, "seq": result["seq"], "deleted": False})
        return JSONResponse(result)

    @describe(summary="Upsert a record (the body is the record)", requestBody=RECORD_BODY)
    async def put(request: Request) -> JSONResponse:
        return await single(request, "upsert")

    @describe(summary="Patch a record (the body holds the changed fields)", requestBody=RECORD_BODY)
    async def patch(request: Request) -> JSONResponse:
        return await single(request, "patch")

    @describe(summary="Delete a record")
    async def delete(request: Request) -> JSONResponse:
        return await single(request, "delete")

    @describe(summary="Apply a batch of changes in order", requestBody=CHANGES_BODY)
    async def changes(request: Request) -> JSONResponse:
        await hub.authenticate(request, WRITERS)
        collection, _ = _target(request)
        max_batch = service.config.settings.max_batch
        body = await read_json(request, limit * min(max_batch, 64) + 65536)
        raw = body.get("changes")
        if not isinstance(raw, list):
            raise InvalidMessage("'changes' must be a list.")
        if len(raw) > max_batch:
            raise LimitExceeded(f"A batch holds at most {max_batch} changes.")
        batch_id = check_id(body.get("id"))
        parsed = [parse_change(item, index, batch_id) for index, item in enumerate(raw)]
        if body.get("reset"):
            if any(change.op != "upsert" for change in parsed):
                raise InvalidMessage("A reset batch holds upserts only.")
            items = {change.key: {**(change.record or {})} for change in parsed}
            seq = await service.reset(collection, _keyed(service, collection, items), id=batch_id)
            return JSONResponse({"seq": seq, "reset": True, "records": len(items)})
        return JSONResponse({"results": await service.write(collection, parsed)})

    async def listing(request: Request) -> JSONResponse:
        """Every record of a collection (admin, service): for checks and scripts."""
        await hub.authenticate(request, WRITERS)
        collection, _ = _target(request)
        store = service.require_store()
        state, seq = await store.state(collection)
        if not seq and not state:
            raise NotFound(f"No collection {collection!r}.")
        return JSONResponse({"seq": seq, "records": [{"key": k, "record": r} for k, r in sorted(state.items())]})

    return [
        Route("/api/live/{collection}/changes", changes, methods=["POST"], name="live_data_changes"),
        Route("/api/live/{collection}/{key:path}", put, methods=["PUT"], name="live_data_put"),
        Route("/api/live/{collection}/{key:path}", patch, methods=["PATCH"], name="live_data_patch"),
        Route("/api/live/{collection}/{key:path}", delete, methods=["DELETE"], name="live_data_delete"),
        Route("/collections/{collection}", listing, methods=["GET"], name="live_data_list"),
    ]


def _keyed(service: LiveData, collection: str, items: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    config = service.collection(collection)
    key_field = config.key if config else "id"
    for key, record in items.items():
        record.setdefault(key_field, key)
    return items

