"""Which browser Origins may connect: the configured list, else the hub's own origin.

Development mode adds any localhost origin, so a page served by a dev server
on another port works. ``*`` is honoured only when configured explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .config import Settings

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


class OriginPolicy:
    """A callable for python-engineio's ``cors_allowed_origins``, also used by the HTTP API."""

    def __init__(self, settings: Settings) -> None:
        self.allow_any = "*" in settings.allowed_origins
        self.allowed = {origin.rstrip("/") for origin in settings.allowed_origins if origin != "*"}
        self.dev = settings.dev

    def __call__(self, origin: str | None, environ: Mapping[str, Any] | None = None) -> bool:
        if origin is None or self.allow_any:
            return True
        if origin in self.allowed:
            return True
        if self.dev and urlsplit(origin).hostname in LOCAL_HOSTS:
            return True
        if not self.allowed and environ is not None:
            return origin == _own_origin(environ)
        return False


def _own_origin(environ: Mapping[str, Any]) -> str | None:
    host = environ.get("HTTP_HOST")
    if not host:
        return None
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}"
