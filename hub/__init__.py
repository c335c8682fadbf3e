"""hub: a realtime event hub on Socket.IO, with topics, one envelope, a durable queue and plugins.

Plugins import what they need from here: ``from hub import hookimpl, TopicKind``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .auth import Principal
from .connection import Connection
from .envelope import Envelope
from .errors import (
    AuthExpired, AuthInvalid, AuthRequired, Conflict, Forbidden, HubError, InternalError,
    InvalidMessage, InvalidTopic, NotFound, RateLimited, TooLarge, Unavailable, UnknownTopic,
)
from .hookspecs import hookimpl
from .requests import ClientRequest
from .topics import Retention, TopicKind, anyone, nobody, owner_or_admin, with_roles

__all__ = [
    "AuthExpired", "AuthInvalid", "AuthRequired", "ClientRequest", "Conflict", "Connection", "Envelope",
    "Forbidden", "HubError", "InternalError", "InvalidMessage", "InvalidTopic", "NotFound", "Principal",
    "RateLimited", "Retention", "TooLarge", "TopicKind", "Unavailable", "UnknownTopic", "__version__",
    "anyone", "hookimpl", "nobody", "owner_or_admin", "with_roles",
]
