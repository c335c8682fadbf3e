"""The hub's errors: one base class carrying its wire code and HTTP status.

Every error that reaches a client, over the socket or over HTTP, is produced
from a :class:`HubError` by :func:`error_body`, so the wire format lives here
and nowhere else. Unexpected exceptions become :class:`InternalError`, whose
message never carries internal detail. The way back, :func:`error_from_wire`,
is here too: the Python client raises these same classes.
"""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    """Base of every error the hub reports to a client."""

    code = "internal"
    status = 500
    default_message = "Internal error."

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        if code is not None:
            self.code = code  # a code this version has no class for, read from the wire
        self.message = message or self.default_message
        super().__init__(self.message)

    def to_wire(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class AuthRequired(HubError):
    code, status, default_message = "auth_required", 401, "A token is required."


class AuthInvalid(HubError):
    code, status, default_message = "auth_invalid", 401, "The token is not valid."


class AuthExpired(HubError):
    code, status, default_message = "auth_expired", 401, "The token has expired."


class Forbidden(HubError):
    code, status, default_message = "forbidden", 403, "Not allowed."


class InvalidTopic(HubError):
    code, status, default_message = "invalid_topic", 400, "The topic is not valid."


class UnknownTopic(HubError):
    code, status, default_message = "unknown_topic", 404, "No such topic kind."


class InvalidMessage(HubError):
    code, status, default_message = "invalid_message", 400, "The message is not valid."


class UnsupportedMediaType(InvalidMessage):
    """A body in a media type the route does not read: ``invalid_message``, with HTTP status 415."""

    status, default_message = 415, "The body's content type is not accepted."


class TooLarge(HubError):
    code, status, default_message = "too_large", 413, "The message is too large."


class RateLimited(HubError):
    code, status, default_message = "rate_limited", 429, "Too many requests."


class LimitExceeded(HubError):
    """A cap on what one connection or user holds was reached (subscriptions, connections).

    HTTP 429, like ``rate_limited``: the request is refused for quantity, not for who
    asks (403), and succeeds once the client holds less.
    """

    code, status, default_message = "limit_exceeded", 429, "A limit was reached."


class NotFound(HubError):
    code, status, default_message = "not_found", 404, "Not found."


class Conflict(HubError):
    code, status, default_message = "conflict", 409, "Conflict."


class Unavailable(HubError):
    code, status, default_message = "unavailable", 503, "Temporarily unavailable."


class InternalError(HubError):
    code, status, default_message = "internal", 500, "Internal error."


#: The class of each wire code.
ERRORS: dict[str, type[HubError]] = {
    cls.code: cls
    for cls in (
        AuthRequired, AuthInvalid, AuthExpired, Forbidden, InvalidTopic, UnknownTopic,
        InvalidMessage, TooLarge, RateLimited, LimitExceeded, NotFound, Conflict, Unavailable, InternalError,
    )
}
ERROR_CODES: tuple[str, ...] = tuple(ERRORS)


def error_from_wire(error: Any) -> HubError:
    """The exception of a contract error object ``{"code", "message"}``, as a client receives it.

    A known code gives its class; a code this version does not know gives a
    plain :class:`HubError` carrying that code.
    """
    if not isinstance(error, dict):
        return InternalError(str(error))
    code, message = str(error.get("code", "internal")), str(error.get("message", ""))
    cls = ERRORS.get(code)
    return cls(message) if cls is not None else HubError(message, code=code)


def error_body(error: BaseException) -> dict[str, Any]:
    """The contract's error object for any exception; internals are never shown."""
    if not isinstance(error, HubError):
        error = InternalError()
    return {"error": error.to_wire()}


def error_reply(error: BaseException) -> dict[str, Any]:
    """A failed socket request's acknowledgement: ``{"ok": false, "error": ...}``."""
    return {"ok": False, **error_body(error)}
