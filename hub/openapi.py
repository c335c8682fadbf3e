"""An OpenAPI 3 description built from the app's routes.

Each endpoint's docstring gives the operation's summary (first line) and
description; an endpoint may add details in an ``openapi`` attribute (a dict
merged into the operation), for example a request body schema.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from starlette.routing import BaseRoute, Mount, Route

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "required": ["code", "message"],
        }
    },
}


def _walk(routes: Iterable[BaseRoute], prefix: str = "") -> Iterable[tuple[str, Route]]:
    for route in routes:
        if isinstance(route, Route):
            yield prefix + route.path, route
        elif isinstance(route, Mount):
            yield from _walk(route.routes, prefix + route.path)


def build_openapi(routes: Iterable[BaseRoute], title: str, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for path, route in _walk(routes):
        if getattr(route, "include_in_schema", True) is False:
            continue
        doc = inspect.getdoc(route.endpoint) or route.name or path
        summary, _, description = doc.partition("\n")
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            operation: dict[str, Any] = {
                "summary": summary.strip(),
                "operationId": f"{method.lower()}_{route.name}",
                "responses": {
                    "200": {"description": "Success."},
                    "default": {
                        "description": "An error.",
                        "content": {"application/json": {"schema": ERROR_SCHEMA}},
                    },
                },
            }
            if description.strip():
                operation["description"] = description.strip()
            extra = getattr(route.endpoint, "openapi", None)
            if isinstance(extra, dict):
                operation.update(extra)
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def describe(**operation: Any) -> Callable[[Endpoint], Endpoint]:
    """Decorator adding OpenAPI details to an endpoint: ``@describe(requestBody=...)``."""

    def mark(endpoint: Endpoint) -> Endpoint:
        endpoint.openapi = operation  # type: ignore[attr-defined]
        return endpoint

    return mark
