"""Checking what callers send: a notification to create, a page to list, ids to mark read."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any


from hub import InvalidMessage, encode_json

from .config import Limits

# A user id must make a valid inbox topic `user:<sub>`; a notification id a valid event id.
USER_PATTERN = re.compile(r"^[A-Za-z0-9_.@:-]{1,200}$")
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
CREATE_FIELDS = {"users", "title", "body", "data", "id"}
MAX_READ_IDS = 1000


@dataclass(frozen=True)
class Draft:
    """A checked notification, before it is stored: one per user in ``users`` (deduplicated)."""

    id: str
    users: list[str]
    title: str
    body: str
    data: dict[str, Any]
    id_given: bool


def draft(users: Any, title: Any, body: Any, data: Any, id: Any, limits: Limits) -> Draft:
    """A :class:`Draft`, or ``InvalidMessage`` saying what is wrong."""
    if not isinstance(users, list) or not users:
        raise InvalidMessage("'users' must be a non-empty list of user ids.")
    for user in users:
        if not isinstance(user, str) or not USER_PATTERN.match(user):
            raise InvalidMessage(
                f"'users' holds {_show(user)}: a user id is 1 to 200 letters, digits or _.@:- characters."
            )
    # Duplicates are dropped (first occurrence kept) before the cap applies; the
    # request size limit already bounds the raw list.
    users = list(dict.fromkeys(users))
    if len(users) > limits.max_users:
        raise InvalidMessage(f"'users' is limited to {limits.max_users} distinct user ids per request.")
    if not isinstance(title, str) or not title.strip():
        raise InvalidMessage("'title' is required and must be a non-empty string.")
    if len(title) > limits.max_title_chars:
        raise InvalidMessage(f"'title' is limited to {limits.max_title_chars} characters.")
    if not isinstance(body, str):
        raise InvalidMessage("'body' is required and must be a string.")
    if len(body) > limits.max_body_chars:
        raise InvalidMessage(f"'body' is limited to {limits.max_body_chars} characters.")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidMessage("'data' must be an object.")
    try:
        encoded = encode_json(data)
    except TypeError:
        raise InvalidMessage("'data' must hold JSON values only.") from None
    if len(encoded) > limits.max_data_bytes:
        raise InvalidMessage(f"'data' is limited to {limits.max_data_bytes} bytes of JSON.")
    if id is not None and (not isinstance(id, str) or not ID_PATTERN.match(id)):
        raise InvalidMessage("'id' must be 1 to 128 letters, digits or _.:@- characters.")
    return Draft(
        id=id if id is not None else uuid.uuid4().hex,
        users=users,
        title=title,
        body=body,
        data=data,
        id_given=id is not None,
    )


def draft_from_body(body: dict[str, Any], limits: Limits) -> Draft:
    """A :class:`Draft` from the JSON body of ``POST /api/notifications``."""
    unknown = sorted(set(body) - CREATE_FIELDS)
    if unknown:
        raise InvalidMessage(f"Unknown field {unknown[0]!r}: expected users, title, body, data, id.")
    for name in ("users", "title", "body"):
        if name not in body:
            raise InvalidMessage(f"'{name}' is required.")
    return draft(body["users"], body["title"], body["body"], body.get("data"), body.get("id"), limits)


def read_selection(body: dict[str, Any]) -> list[str] | None:
    """The ids to mark read from ``{ids}``, or ``None`` for ``{all: true}``."""
    unknown = sorted(set(body) - {"ids", "all"})
    if unknown:
        raise InvalidMessage(f"Unknown field {unknown[0]!r}: send {{\"ids\": [...]}} or {{\"all\": true}}.")
    if ("ids" in body) == ("all" in body):
        raise InvalidMessage("Send either {\"ids\": [...]} or {\"all\": true}.")
    if "all" in body:
        if body["all"] is not True:
            raise InvalidMessage("'all' must be true.")
        return None
    ids = body["ids"]
    if not isinstance(ids, list) or not ids or len(ids) > MAX_READ_IDS:
        raise InvalidMessage(f"'ids' must be a list of 1 to {MAX_READ_IDS} notification ids.")
    for value in ids:
        if not isinstance(value, str) or not ID_PATTERN.match(value):
            raise InvalidMessage(f"'ids' holds {_show(value)}, which is not a notification id.")
    return list(dict.fromkeys(ids))


def page_query(params: Any, limits: Limits) -> tuple[bool, int | None, int]:
    """``(unread_only, before, limit)`` from ``?unread=1&cursor=...&limit=...``."""
    unknown = sorted(set(params.keys()) - {"unread", "cursor", "limit"})
    if unknown:
        raise InvalidMessage(f"Unknown parameter {unknown[0]!r}: expected unread, cursor, limit.")
    unread = params.get("unread", "0")
    if unread not in {"0", "1", "true", "false"}:
        raise InvalidMessage("'unread' must be 1 or 0.")
    cursor = params.get("cursor")
    if cursor is not None and not (cursor.isdigit() and len(cursor) <= 18):
        raise InvalidMessage("'cursor' must be a next_cursor value from a previous page.")
    raw_limit = params.get("limit")
    if raw_limit is None:
        limit = limits.page_size
    elif raw_limit.isdigit() and 1 <= int(raw_limit) <= limits.max_page_size:
        limit = int(raw_limit)
    else:
        raise InvalidMessage(f"'limit' must be a whole number from 1 to {limits.max_page_size}.")
    return unread in {"1", "true"}, int(cursor) if cursor is not None else None, limit


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
