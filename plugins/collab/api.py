"""The HTTP API under ``/api/collab/``: content for backends, service updates, versions, tickets.

| route | who | what |
| --- | --- | --- |
| ``POST /tickets`` ``{document}`` | readers | a one-time websocket ticket ``{ticket, expires_in}`` |
| ``GET /{document}`` | readers | the Y.Text ``name`` (default ``content``) as text; ``?format=json`` for JSON |
| ``POST /{document}/updates`` | service, admin | a Yjs update (``application/octet-stream``, or JSON ``{update: base64}``), or ``{text}`` |
| ``DELETE /{document}`` | service, admin | replace the history by nothing: new epoch, ``collab.reset`` |
| ``GET /{document}/storage`` | service, admin | stored bytes and rows, the encoded size; ``POST /{document}/compact`` |
| ``GET/POST /{document}/versions`` | readers / writers | list, or save ``{name}`` |
| ``GET /{document}/versions/{version}`` | readers | its text (``?format=json``) |
| ``GET /{document}/versions/{version}/compare?to=`` | readers | a unified diff to another version (default: now) |
| ``POST /{document}/versions/{version}/restore`` | writers | a new change that makes the text the version's |
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pycrdt
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from hub import InvalidMessage, JSONResponse, NotFound, Principal, read_json

from .access import Access, decide, require_read, require_write

if TYPE_CHECKING:
    from . import Collab

STATIC = Path(__file__).parent / "static"
STATIC_FILES = ("hub-collab.mjs", "yjs.mjs", "yjs-LICENSE.txt")
NAME_RE = re.compile(r"^[A-Za-z0-9_.@:-]{1,200}$")
SERVICE = ("service", "admin")


def valid_name(name: str) -> bool:
    return bool(NAME_RE.match(name))


def text_of(state: bytes, name: str) -> str:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    if state:
        doc.apply_update(state)
    return str(doc.get(name, type=pycrdt.Text))


def edit_to(state: bytes, name: str, wanted: str) -> bytes:
    """A Yjs update that turns the Y.Text ``name`` of ``state`` into ``wanted``: a new change, merged by everyone."""
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    if state:
        doc.apply_update(state)
    text = doc.get(name, type=pycrdt.Text)
    before = doc.get_state()
    current = str(text)
    with doc.transaction():
        for tag, i1, i2, j1, j2 in reversed(difflib.SequenceMatcher(None, current, wanted, autojunk=False).get_opcodes()):
            if tag in ("replace", "delete"):
                del text[i1:i2]
            if tag in ("replace", "insert"):
                text.insert(i1, wanted[j1:j2])
    return doc.get_update(before)


def routes(plugin: Collab) -> list[BaseRoute]:
    hub = plugin.hub

    def document_of(request: Request) -> str:
        document = str(request.path_params["document"])
        if not valid_name(document):
            raise InvalidMessage("A document name is 1 to 200 letters, digits or _ . @ : -")
        return document

    async def reader(request: Request) -> tuple[Principal, str, Access]:
        principal = await hub.authenticate(request)
        document = document_of(request)
        access = await decide(hub, plugin.config(), principal, document)
        require_read(access, document)
        return principal, document, access

    def text_name(request: Request) -> str:
        return request.query_params.get("name") or plugin.config().text_name

    async def ticket(request: Request) -> JSONResponse:
        """A one-time ticket for the websocket route, valid 30 seconds."""
        principal = await hub.authenticate(request)
        body = await read_json(request, 4096)
        document = body.get("document") if isinstance(body, dict) else None
        if not isinstance(document, str) or not valid_name(document):
            raise InvalidMessage("'document' is required: a document name.")
        require_read(await decide(hub, plugin.config(), principal, document), document)
        config = plugin.config()
        return JSONResponse({"ticket": plugin.tickets.issue(principal, document), "expires_in": config.ticket_seconds})

    async def content(request: Request) -> Response:
        """The document's text now (``?name=`` the Y.Text, ``?format=json`` for JSON)."""
        _, document, access = await reader(request)
        replica = await plugin.running().existing(document)
        name = text_name(request)
        text = str(replica.doc.get(name, type=pycrdt.Text))
        if request.query_params.get("format") == "json":
            return JSONResponse({"document": document, "epoch": replica.epoch, "name": name, "text": text,
                                 "state_vector": base64.b64encode(replica.doc.get_state()).decode(),
                                 "writable": access == "write"})
        return PlainTextResponse(text)

    async def post_update(request: Request) -> JSONResponse:
        """Apply an update from a service: a Yjs update, or ``{text}`` to make the text that."""
        principal = await hub.authenticate(request, roles=SERVICE)
        document = document_of(request)
        documents = plugin.running()
        limit = plugin.config().max_update_bytes
        if request.headers.get("content-type", "").startswith("application/octet-stream"):
            update = await request.body()
            if len(update) > limit:
                from hub import TooLarge
                raise TooLarge(f"An update is limited to {limit} bytes.")
        else:
            body = await read_json(request, limit * 2)
            if not isinstance(body, dict):
                raise InvalidMessage("The body is a JSON object: {update} or {text}.")
            if isinstance(body.get("update"), str):
                try:
                    update = base64.b64decode(body["update"], validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise InvalidMessage("'update' must be base64.") from exc
            elif isinstance(body.get("text"), str):
                replica = await documents.open(document)
                update = edit_to(replica.state(), str(body.get("name") or plugin.config().text_name), body["text"])
            else:
                raise InvalidMessage("The body is a JSON object: {update} (base64) or {text}.")
        replica = await documents.apply(document, update, principal.user)
        return JSONResponse({"document": document, "epoch": replica.epoch}, status_code=201)

    async def reset(request: Request) -> JSONResponse:
        """Replace the document's history by nothing: a new epoch; clients start over."""
        await hub.authenticate(request, roles=SERVICE)
        document = document_of(request)
        return JSONResponse({"document": document, "epoch": await plugin.running().reset(document)})

    async def storage(request: Request) -> JSONResponse:
        """What the document takes in the database, and its own encoded size."""
        await hub.authenticate(request, roles=SERVICE)
        document = document_of(request)
        replica = await plugin.running().existing(document)
        stored, rows = await plugin.running().store.stored_bytes(document)
        return JSONResponse({"document": document, "epoch": replica.epoch, "stored_bytes": stored,
                             "stored_updates": rows, "encoded_bytes": len(replica.state())})

    async def compact(request: Request) -> JSONResponse:
        """Compact now (it also happens in the background)."""
        await hub.authenticate(request, roles=SERVICE)
        document = document_of(request)
        await plugin.running().existing(document)
        return JSONResponse({"document": document, "compacted": await plugin.running().compact(document)})

    async def versions(request: Request) -> JSONResponse:
        """List the named versions (GET), or save the document now under ``{name}`` (POST)."""
        principal, document, access = await reader(request)
        documents = plugin.running()
        if request.method == "GET":
            return JSONResponse({"document": document, "versions": list(await documents.store.list_versions(document))})
        require_write(access, document)
        body = await read_json(request, 4096)
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not valid_name(name):
            raise InvalidMessage("'name' is required: 1 to 200 letters, digits or _ . @ : -")
        replica = await documents.existing(document)
        created = await documents.store.save_version(document, name, replica.state(), principal.user,
                                                     plugin.config().max_versions)
        return JSONResponse({"document": document, "name": name, "created_at": created}, status_code=201)

    async def version_state(document: str, name: str) -> bytes:
        state = await plugin.running().store.version(document, name)
        if state is None:
            raise NotFound(f"Document {document!r} has no version {name!r}.")
        return state

    async def version(request: Request) -> Response:
        """One version's text (``?format=json`` for JSON); DELETE removes it (writers)."""
        _, document, access = await reader(request)
        name = str(request.path_params["version"])
        if request.method == "DELETE":
            require_write(access, document)
            if not await plugin.running().store.delete_version(document, name):
                raise NotFound(f"Document {document!r} has no version {name!r}.")
            return JSONResponse({})
        text = text_of(await version_state(document, name), text_name(request))
        if request.query_params.get("format") == "json":
            return JSONResponse({"document": document, "version": name, "text": text})
        return PlainTextResponse(text)

    async def compare(request: Request) -> JSONResponse:
        """A unified diff from this version to ``?to=`` (another version; default: the document now)."""
        _, document, _ = await reader(request)
        name = str(request.path_params["version"])
        field = text_name(request)
        old = text_of(await version_state(document, name), field)
        other = request.query_params.get("to")
        if other:
            new = text_of(await version_state(document, other), field)
        else:
            new = str((await plugin.running().existing(document)).doc.get(field, type=pycrdt.Text))
        diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), name, other or "current", lineterm=""))
        return JSONResponse({"document": document, "from": name, "to": other or "current", "same": old == new,
                             "diff": diff})

    async def restore(request: Request) -> JSONResponse:
        """Make the text the version's again, as a new change every client merges (not a rewind)."""
        principal, document, access = await reader(request)
        require_write(access, document)
        name = str(request.path_params["version"])
        field = text_name(request)
        wanted = text_of(await version_state(document, name), field)
        documents = plugin.running()
        replica = await documents.existing(document)
        update = edit_to(replica.state(), field, wanted)
        replica = await documents.apply(document, update, principal.user)
        return JSONResponse({"document": document, "restored": name, "epoch": replica.epoch})

    async def static(request: Request) -> Response:
        """The browser modules: the provider (hub-collab.mjs) and the bundled Yjs (yjs.mjs), with its licence."""
        name = str(request.path_params["file"])
        if name not in STATIC_FILES:
            raise NotFound(f"No file {name!r}.")
        kind = "text/plain" if name.endswith(".txt") else "text/javascript"
        return Response((STATIC / name).read_bytes(), media_type=kind, headers={"cache-control": "no-cache"})

    return [
        Route("/static/{file}", static, methods=["GET"], name="collab_static"),
        Route("/tickets", ticket, methods=["POST"], name="collab_ticket"),
        Route("/{document}", content, methods=["GET"], name="collab_content"),
        Route("/{document}", reset, methods=["DELETE"], name="collab_reset"),
        Route("/{document}/updates", post_update, methods=["POST"], name="collab_updates"),
        Route("/{document}/storage", storage, methods=["GET"], name="collab_storage"),
        Route("/{document}/compact", compact, methods=["POST"], name="collab_compact"),
        Route("/{document}/versions", versions, methods=["GET", "POST"], name="collab_versions"),
        Route("/{document}/versions/{version}", version, methods=["GET", "DELETE"], name="collab_version"),
        Route("/{document}/versions/{version}/compare", compare, methods=["GET"], name="collab_compare"),
        Route("/{document}/versions/{version}/restore", restore, methods=["POST"], name="collab_restore"),
    ]
