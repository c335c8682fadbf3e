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

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ._compat.response import send_response
from .errors import HubError

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


__all__ = ["PATHS", "PublishFastPath", "vary_origin"]
