"""The publish routes served from the top of the app, past Starlette's middleware stack and router.

A backend publishing one event per ``POST /api/publish`` paid more of the hub's
CPU for the layers around the route than for storing the event: python-engineio's
dispatch, Starlette's error, CORS and exception middlewares (each wrapping
``send`` again), the hub's own error middleware, the router's matching, and
two socket writes per answer. :class:`PublishFastPath` takes exactly
``POST /api/publish`` and ``POST /api/publish/batch`` and calls the very
endpoint functions of those routes (:mod:`hub.publish_api`); an exception goes
to the same handlers Starlette would give it (``hub_error`` for a
:class:`HubError`, the app's ``unexpected_error`` for anything else), so every
answer, its status, headers and body, is the one the routes give. The answer
is written in one piece where uvicorn allows (:mod:`hub._compat.response`).
What the middlewares add to such an answer is added here the same way: the
CORS middleware's ``Vary: Origin`` (it marks every answer that depends on a
request's origin, including those to requests without one).
tests/test_publish_fast.py compares the bytes of both paths' answers.

Requests it leaves to the full stack: any other method or path (a trailing
slash, ``OPTIONS`` preflights), one with an ``Origin`` header (the CORS
middleware adds its headers to those answers), and an app mounted under a
``root_path``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ._compat.response import send_response
from .auth import ADMIN, SERVICE, Principal
from .errors import HubError
from .httpjson import check_media_type, json_object
from .jsoncodec import encode_json
from .publish_api import publish_event
from .types import Hub

Endpoint = Callable[[Request], Awaitable[Response]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]

#: The routes served here (their endpoints come from the app's routes, by path).
PATHS = ("/api/publish", "/api/publish/batch")


class PublishFastPath:
    """Serves the publish routes' requests that need nothing of the middleware stack."""

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint],
        hub_error: ErrorHandler,
        unexpected_error: ErrorHandler,
        one_write: type | None = None,
    ) -> None:
        self.endpoints = dict(endpoints)
        self.hub_error = hub_error
        self.unexpected_error = unexpected_error
        #: uvicorn's cycle class whose answers go in one write (None: two sends, as Starlette does).
        self.one_write = one_write
        self._direct: DirectPublish | None = None

    def direct(self, hub: Hub) -> DirectPublish | None:
        """What serves ``POST /api/publish`` straight from the HTTP protocol (hub/_compat/http_fast.py)."""
        endpoint = self.endpoints.get("/api/publish")
        if endpoint is None:
            return None
        if self._direct is None or self._direct.hub is not hub:
            self._direct = DirectPublish(hub, self.hub_error, self.unexpected_error)
        return self._direct

    def match(self, scope: Scope) -> Endpoint | None:
        """The endpoint that serves this request here, or None to leave it to the app."""
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("root_path"):
            return None
        endpoint = self.endpoints.get(scope["path"])
        if endpoint is None:
            return None
        for name, _ in scope["headers"]:
            if name == b"origin":
                return None
        return endpoint

    async def serve(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except HubError as exc:
            response = await self.hub_error(request, exc)
        except Exception as exc:
            response = await self.unexpected_error(request, exc)
        await respond(response, scope, receive, send, self.one_write)


#: The answer's headers but its length, as ``JSONResponse`` and then :func:`vary_origin` give them.
_CREATED_HEADERS = ((b"content-type", b"application/json"), (b"vary", b"Origin"))


class DirectPublish:
    """``POST /api/publish`` answered without ASGI: the same checks, in the same order, as the route.

    The HTTP protocol (:mod:`hub._compat.http_fast`) hands over a request it
    parsed, with its headers as uvicorn lists them (lower-cased names), when
    :meth:`admit` takes it; :meth:`answer` gives the status, headers and body the
    route gives (its errors made by the app's own handlers), which the protocol
    writes as uvicorn would. :meth:`admit` leaves to the app every request whose
    answer could depend on more than this: one with an ``Origin`` (CORS), a body
    sent chunked or without a length, or declared larger than the route takes
    (answered before the body arrives), or a length given twice.
    """

    path = b"/api/publish"
    roles = (SERVICE, ADMIN)
    #: Principals by the exact ``Authorization`` value; bounded, cleared when full.
    MAX_PRINCIPALS = 256

    def __init__(self, hub: Hub, hub_error: ErrorHandler, unexpected_error: ErrorHandler) -> None:
        self.hub = hub
        self.hub_error = hub_error
        self.unexpected_error = unexpected_error
        self.limit = hub.settings.max_message_bytes
        self._principals: dict[bytes, Principal] = {}

    def admit(self, headers: list[tuple[bytes, bytes]]) -> tuple[bytes | None, bytes | None] | None:
        """The request's ``Authorization`` and ``Content-Type`` (first of each), or None: leave it to the app."""
        authorization = content_type = length = None
        for name, value in headers:
            if name == b"authorization":
                if authorization is None:
                    authorization = value
            elif name == b"content-type":
                if content_type is None:
                    content_type = value
            elif name == b"content-length":
                if length is not None:
                    return None
                length = value
            elif name == b"origin" or name == b"transfer-encoding":
                return None
        if length is None or not length.isdigit() or int(length) > self.limit:
            return None
        return authorization, content_type

    def principal(self, authorization: bytes | None, scope: Scope) -> Principal | Awaitable[Principal]:
        """The caller, as ``hub.authenticate`` with the route's roles finds it.

        A principal that passed is kept by the header's exact value until its
        ``exp``, as the verifier's own cache keeps it by token (from ``exp`` on,
        the header goes through ``hub.authenticate`` again, leeway and all).
        """
        if authorization is not None:
            principal = self._principals.get(authorization)
            if principal is not None:
                if time.time() < principal.expires_at:
                    return principal
                del self._principals[authorization]
        return self._authenticate(authorization, scope)

    async def _authenticate(self, authorization: bytes | None, scope: Scope) -> Principal:
        principal = await self.hub.authenticate(Request(scope), roles=self.roles)
        if authorization is not None:
            if len(self._principals) >= self.MAX_PRINCIPALS:
                self._principals.clear()
            self._principals[authorization] = principal
        return principal

    async def answer(
        self, admitted: tuple[bytes | None, bytes | None], body: bytes | None, scope: Scope
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The route's answer to the request: status, headers (``Vary: Origin`` included) and body.

        ``body`` (bytes, or the bytearray uvicorn gathered it in) is None when the client left before sending all of it.
        """
        authorization, content_type = admitted
        try:
            principal = self.principal(authorization, scope)
            if not isinstance(principal, Principal):
                principal = await principal
            if content_type != b"application/json":
                check_media_type(content_type.decode("latin-1") if content_type is not None else None)
            if body is None:
                raise ClientDisconnect()
            result = await publish_event(self.hub, principal, json_object(body))
            content = encode_json(result)
            return 201, [(b"content-length", b"%d" % len(content)), *_CREATED_HEADERS], content
        except HubError as exc:
            response = await self.hub_error(Request(scope), exc)
        except Exception as exc:
            response = await self.unexpected_error(Request(scope), exc)
        body_bytes: Any = response.body
        return response.status_code, vary_origin(response.raw_headers), body_bytes


async def respond(response: Response, scope: Scope, receive: Receive, send: Send, one_write: type | None) -> None:
    """Send ``response`` as Starlette would, in one write where ``one_write`` allows."""
    body: Any = getattr(response, "body", None)
    if response.background is not None or not isinstance(body, bytes):
        await response(scope, receive, send)
        return
    await send_response(send, response.status_code, vary_origin(response.raw_headers), body, one_write)


def vary_origin(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` with ``Vary: Origin``, as Starlette's CORS middleware sets it on an answer to a request
    without an ``Origin`` (``MutableHeaders``: the first ``vary`` takes every value joined, the others go)."""
    found = [index for index, (name, _) in enumerate(headers) if name == b"vary"]
    value = b", ".join([*(headers[index][1] for index in found), b"Origin"])
    if not found:
        return [*headers, (b"vary", value)]
    kept = [header for index, header in enumerate(headers) if index not in found[1:]]
    kept[found[0]] = (b"vary", value)
    return kept


__all__ = ["PATHS", "DirectPublish", "PublishFastPath", "vary_origin"]
