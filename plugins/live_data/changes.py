"""Changes to a collection: validated from a request, turned into the events the log stores."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hub import InvalidMessage, NotFound, TooLarge, encode_json

OPS = ("upsert", "patch", "delete")
KEY_PATTERN = re.compile(r"^.{1,255}$", re.DOTALL)
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:@-]{1,100}$")


@dataclass(frozen=True)
class Change:
    """One change: ``op`` is ``upsert`` (the whole record), ``patch`` (changed fields) or ``delete``."""

    op: str
    key: str
    record: dict[str, Any] | None = None
    id: str | None = None
    #: Keep ``id`` so that a retry gets the first answer (the outbox's ids need only the log's own dedup).
    remember: bool = True


def check_id(value: Any, label: str = "id") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise InvalidMessage(f"{label!r} must match {ID_PATTERN.pattern}.")
    return value


def parse_change(raw: Any, index: int, batch_id: str | None) -> Change:
    where = f"changes[{index}]"
    if not isinstance(raw, dict):
        raise InvalidMessage(f"{where} must be an object {{op, key, record?}}.")
    op, key, record = raw.get("op"), raw.get("key"), raw.get("record")
    if op not in OPS:
        raise InvalidMessage(f"{where}.op must be one of {', '.join(OPS)}.")
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise InvalidMessage(f"{where}.key must be a string of 1 to 255 characters.")
    if op == "delete":
        if record is not None:
            raise InvalidMessage(f"{where}: a delete carries no record.")
    elif not isinstance(record, dict):
        raise InvalidMessage(f"{where}.record must be an object.")
    return Change(op, key, record, None if batch_id is None else f"{batch_id}.{index}")


def build_event(change: Change, previous: dict[str, Any] | None, key_field: str, max_bytes: int) -> tuple[str, dict[str, Any]] | None:
    """The ``(type, data)`` to store for ``change`` over ``previous``; ``None`` when it changes nothing.

    A change that changes nothing but carries an idempotency id is still stored
    (no subscriber sees it: ``record`` equals ``previous``), so that every retry
    of it gets the answer of the first try.
    """
    if change.op == "delete":
        if previous is None:
            if change.id is not None and change.remember:
                return "live.removed", {"key": change.key, "record": None, "previous": None}
            return None
        return "live.removed", {"key": change.key, "record": None, "previous": previous}
    assert change.record is not None
    if change.op == "patch":
        if previous is None:
            raise NotFound(f"No record {change.key!r} to patch.")
        record = {**previous, **change.record}
    else:
        record = dict(change.record)
    given = record.get(key_field)
    if given is None:
        record[key_field] = change.key
    elif str(given) != change.key:
        raise InvalidMessage(f"The record's {key_field!r} ({given!r}) is not its key {change.key!r}.")
    if len(encode_json(record)) > max_bytes:
        raise TooLarge(f"A record is limited to {max_bytes} bytes of JSON.")
    if record == previous:
        return None if change.id is None or not change.remember else ("live.changed", {"key": change.key, "record": record, "previous": record})
    if previous is None:
        return "live.added", {"key": change.key, "record": record, "previous": None}
    return "live.changed", {"key": change.key, "record": record, "previous": previous}
