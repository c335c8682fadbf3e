"""The hub's one JSON codec, on orjson: a ``json``-module look-alike for
python-socketio and python-engineio (:func:`dumps`, :func:`loads`), and bytes
for HTTP bodies, the event log and plugins (:func:`encode_json`, exported from ``hub``).

orjson encodes several times faster than the standard library, and the hub
encodes every event it sends.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError
#: Raised by :func:`encode_json` for a value JSON cannot hold (a subclass of ``TypeError``).
JSONEncodeError = orjson.JSONEncodeError


def encode_json(obj: Any) -> bytes:
    """``obj`` as UTF-8 JSON bytes; :data:`JSONEncodeError` (a ``TypeError``) if it is not JSON."""
    return orjson.dumps(obj)


def decode_json(data: str | bytes) -> Any:
    """The value of a JSON document; :data:`JSONDecodeError` (a ``ValueError``) if it is not one."""
    return orjson.loads(data)


def decode_json_as_stdlib(data: str | bytes) -> Any:
    """The value of a JSON document as the standard library parses it (``ValueError`` if it is not one).

    For code that must read exactly what another library reads with ``json``:
    :mod:`hub.hs_tokens` takes a token's claims as PyJWT would (orjson refuses
    some documents ``json`` accepts, such as ``NaN``, and reads big integers differently).
    """
    return json.loads(data)


def dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj).decode()


def loads(data: str | bytes, **_: Any) -> Any:
    return orjson.loads(data)
