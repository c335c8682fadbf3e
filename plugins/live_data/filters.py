"""The filter language of a ``live:<collection>`` subscription: field conditions, all of which must hold.

``{"status": "open"}`` (equality; ``null`` too), ``{"status": {"in": ["open", "new"]}}``,
``{"amount": {"gte": 10, "lt": 100}}``; operators ``eq``, ``ne``, ``in``, ``nin``,
``gt``, ``gte``, ``lt``, ``lte``. A field holds a top-level key of the record.
Comparisons between different types (a number and a string) are false, never an error.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from hub import InvalidMessage, encode_json

OPERATORS = frozenset({"eq", "ne", "in", "nin", "gt", "gte", "lt", "lte"})
MAX_FIELDS = 20
MAX_VALUES = 1000
MAX_FILTER_BYTES = 16 * 1024


@dataclass(frozen=True)
class Filter:
    """A parsed filter: ``conditions`` is ``((field, op, value), ...)``; ``key`` names it (equal filters, equal keys)."""

    conditions: tuple[tuple[str, str, Any], ...]
    key: Hashable

    def matches(self, record: Mapping[str, Any] | None) -> bool:
        if record is None:
            return False
        for field, op, value in self.conditions:
            if not _holds(op, record.get(field), value):
                return False
        return True


EVERYTHING = Filter((), ())


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _comparable(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool)
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return True
    return isinstance(left, str) and isinstance(right, str)


def _equal(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return left is None and right is None
    return _comparable(left, right) and left == right


def _holds(op: str, actual: Any, value: Any) -> bool:
    if op == "eq":
        return _equal(actual, value)
    if op == "ne":
        return not _equal(actual, value)
    if op == "in":
        return any(_equal(actual, item) for item in value)
    if op == "nin":
        return not any(_equal(actual, item) for item in value)
    if actual is None or not _comparable(actual, value):
        return False
    if op == "gt":
        return bool(actual > value)
    if op == "gte":
        return bool(actual >= value)
    if op == "lt":
        return bool(actual < value)
    return bool(actual <= value)


def parse_filter(raw: Any) -> Filter:
    """The :class:`Filter` of a subscription's ``filter``; :class:`InvalidMessage` saying what is wrong."""
    if raw is None:
        return EVERYTHING
    if not isinstance(raw, dict):
        raise InvalidMessage("'filter' must be an object of field conditions.")
    if len(raw) > MAX_FIELDS:
        raise InvalidMessage(f"'filter' holds at most {MAX_FIELDS} fields.")
    if len(encode_json(raw)) > MAX_FILTER_BYTES:
        raise InvalidMessage(f"'filter' is limited to {MAX_FILTER_BYTES} bytes.")
    conditions: list[tuple[str, str, Any]] = []
    for field, condition in raw.items():
        if not isinstance(field, str) or not field or len(field) > 200:
            raise InvalidMessage("A filter's field is a non-empty string of at most 200 characters.")
        if isinstance(condition, dict):
            if not condition:
                raise InvalidMessage(f"filter field {field!r}: an empty condition.")
            for op, value in condition.items():
                conditions.append((field, *_operand(field, op, value)))
        elif _scalar(condition):
            conditions.append((field, "eq", condition))
        else:
            raise InvalidMessage(f"filter field {field!r}: a value, or an object of operators {sorted(OPERATORS)}.")
    conditions.sort(key=lambda item: (item[0], item[1], encode_json(item[2])))
    frozen = tuple(conditions)
    return Filter(frozen, encode_json([list(item) for item in frozen]))


def _operand(field: str, op: Any, value: Any) -> tuple[str, Any]:
    if op not in OPERATORS:
        raise InvalidMessage(f"filter field {field!r}: unknown operator {op!r} (one of {', '.join(sorted(OPERATORS))}).")
    if op in ("in", "nin"):
        if not isinstance(value, list) or len(value) > MAX_VALUES or not all(map(_scalar, value)):
            raise InvalidMessage(f"filter field {field!r}: {op!r} takes a list of at most {MAX_VALUES} values.")
        return op, tuple(value)
    if not _scalar(value):
        raise InvalidMessage(f"filter field {field!r}: {op!r} takes a string, a number, a boolean or null.")
    if op in ("gt", "gte", "lt", "lte") and value is None:
        raise InvalidMessage(f"filter field {field!r}: {op!r} cannot compare with null.")
    return op, value
