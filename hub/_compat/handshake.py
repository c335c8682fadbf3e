"""The websocket opening handshake, answered without websockets' parser (optimisation ``light_ws_handshake``).

uvicorn parses an upgrade request with httptools, writes it out again as
bytes, and its websocket protocol parses those once more with websockets'
generator parser into a ``Request``, checks it in ``ServerProtocol.accept``
and builds, edits and serialises a ``Response`` for the 101: a tenth of a
connect's server time. For the request every Socket.IO client sends (GET, one
``Upgrade: websocket``, a ``Connection`` naming ``upgrade``, one valid key,
version 13, no subprotocol, no extension to negotiate), :func:`accept_value`
checks exactly what websockets checks and gives the ``Sec-WebSocket-Accept``
value, and :func:`switching_protocols` writes the bytes websockets and
uvicorn write. Any other request gets None: the caller hands it to websockets,
which answers it as it always did (400, 405, 426, or no answer at all).

:mod:`hub._compat.uvicorn` checks at start-up that the code this copies is
still the code websockets and uvicorn run (:func:`same_code`), and imports
this module only then, so a websockets without these helpers turns the
optimisation off instead of stopping the hub.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence

from websockets import http11
from websockets.datastructures import is_valid_header_value
from websockets.exceptions import InvalidHeaderValue
from websockets.utils import accept_key

from .checks import Missing

Header = tuple[bytes, bytes]

_TCHAR = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]"
_TCHARS = b"-!#$%&'*+.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: What may remain of header names joined by newlines once their characters are deleted: nothing
#: (websockets' ``_token_re``).
_NAME_CHARS = _TCHARS + b"\n"
#: The same for values: websockets' ``_value_re`` (tab, printable ASCII, obs-text).
_VALUE_CHARS = bytes([9, 10, *range(0x20, 0x7F), *range(0x80, 0x100)])
#: A Connection value ``parse_connection`` reads as a plain list of tokens.
_TOKENS = re.compile(rb"%s+(?:[ \t]*,[ \t]*%s+)*" % (_TCHAR, _TCHAR))
#: Headers whose presence sends the request to websockets: a body (refused there), a
#: subprotocol offer (parsed and possibly refused there).
_ELSEWHERE = frozenset((b"content-length", b"transfer-encoding", b"sec-websocket-protocol"))
_PREFIX = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "


def accept_value(method: str, url: bytes, headers: Sequence[Header], extensions: bool) -> str | None:
    """``Sec-WebSocket-Accept`` for a request websockets accepts as it is; None for any other.

    ``extensions``: per-message deflate is offered by the server, so a client's
    ``Sec-WebSocket-Extensions`` needs websockets' negotiation.
    """
    limit = http11.MAX_LINE_LENGTH
    if method != "GET" or len(url) + 15 > limit or b" " in url or not url.isascii():
        return None
    if len(headers) > http11.MAX_NUM_HEADERS:
        return None
    key = version = upgrade = None
    keys = versions = upgrades = origins = 0
    connection = False
    for name, value in headers:
        if len(name) + len(value) + 4 > limit:
            return None
        if name == b"sec-websocket-key":
            key = value
            keys += 1
        elif name == b"sec-websocket-version":
            version = value
            versions += 1
        elif name == b"upgrade":
            upgrade = value
            upgrades += 1
        elif name == b"connection":
            if _TOKENS.fullmatch(value) is None:
                return None
            if not connection:
                lowered = value.lower()
                connection = lowered == b"upgrade" or b"upgrade" in [token.strip() for token in lowered.split(b",")]
        elif name == b"origin":
            origins += 1
        elif name in _ELSEWHERE or (extensions and name == b"sec-websocket-extensions"):
            return None
    if not connection or upgrades != 1 or keys != 1 or versions != 1 or origins > 1:
        return None
    assert upgrade is not None and key is not None
    if upgrade.lower() != b"websocket" or version != b"13":
        return None
    names = b"\n".join([name for name, _ in headers])
    if names.translate(None, _NAME_CHARS) or b"\n\n" in names or names[:1] == b"\n" or names[-1:] == b"\n":
        return None
    values = b"\n%s\n" % b"\n".join([value for _, value in headers])
    if values.translate(None, _VALUE_CHARS) or b" \n" in values or b"\t\n" in values or b"\n " in values \
            or b"\n\t" in values:
        return None
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return None
    except binascii.Error:
        return None
    return accept_key(key.decode("ascii"))


def switching_protocols(accept: str, headers: Iterable[Header], subprotocol: str | None) -> str:
    """The 101 as websockets' ``Response`` serialises it after uvicorn's edits (Date dropped, its headers added).

    Raises ``InvalidHeaderValue`` where websockets' ``Headers`` would. The text is
    encoded (ISO-8859-1) by the caller, at the moment uvicorn serialises.
    """
    lines = [_PREFIX, accept, "\r\n"]
    for raw_name, raw_value in headers:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if not is_valid_header_value(value):
            raise InvalidHeaderValue(name, value)
        lines += [name, ": ", value, "\r\n"]
    if subprotocol:
        if not is_valid_header_value(str(subprotocol)):
            raise InvalidHeaderValue("Sec-WebSocket-Protocol", subprotocol)
        lines += ["Sec-WebSocket-Protocol: ", str(subprotocol), "\r\n"]
    lines.append("\r\n")
    return "".join(lines)


def request_bytes(method: str, url: bytes, headers: Iterable[Header]) -> bytes:
    """The request as uvicorn's ``handle_websocket_upgrade`` writes it for the websocket protocol."""
    output = [method.encode(), b" ", url, b" HTTP/1.1\r\n"]
    for name, value in headers:
        output += [name, b": ", value, b"\r\n"]
    output.append(b"\r\n")
    return b"".join(output)


def split_request(data: bytes) -> tuple[str, bytes, list[Header]] | None:
    """``method, url, headers`` of a request written by :func:`request_bytes`; None for anything else."""
    if not data.endswith(b"\r\n\r\n"):
        return None
    lines = data[:-4].split(b"\r\n")
    method, _, rest = lines[0].partition(b" ")
    url, _, protocol = rest.partition(b" ")
    if protocol != b"HTTP/1.1" or not method.isascii():
        return None
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b": ")
        if not sep:
            return None
        headers.append((name, value))
    return method.decode("ascii"), url, headers


def same_code(function: object, names: Iterable[str], where: str) -> None:
    """``function`` reads and calls exactly ``names``: the logic the hub copies from it has not moved."""
    code = getattr(function, "__func__", function)
    code = getattr(code, "__code__", None)
    if code is None:
        raise Missing(f"{where} is not plain Python code any more")
    known: set[str] = set()
    pending = [code]
    while pending:
        current = pending.pop()
        known.update(current.co_names)
        pending.extend(const for const in current.co_consts if hasattr(const, "co_names"))
    expected = set(names)
    if known != expected:
        changes = [f"+{name}" for name in sorted(known - expected)] + [f"-{name}" for name in sorted(expected - known)]
        raise Missing(f"{where} changed ({', '.join(changes)})")
