"""Plain HMAC tokens verified without PyJWT's general machinery: the connect path's token check.

Every socket handshake carries its own token, so the verified-token cache
(:class:`hub.auth.TokenCache`) does not help a connect storm, and PyJWT 2.15
spent about 70 µs on each (a per-character check of each segment, the key
prepared again with a JSON parse and a certificate probe, options merged):
the largest single step of a connect. :class:`PlainHmac` verifies the common
shape, a compact token signed with one of the allowed ``HS*`` algorithms,
header ``{"alg", "typ"}`` only, the usual claims as plain values, in about a
tenth of that.

It only ever *accepts*: whatever it does not recognise as plainly valid (a
``kid``, ``crit`` or other header, padding, a claim of an unusual type, a bad
signature, an expired or not-yet-valid token, a configured audience or
issuer) returns ``None``, and the caller verifies the token with PyJWT as
before, which gives the exact answer and error. So it can never accept a
token PyJWT would refuse: the same alphabet and canonical encoding, the same
signature over the same bytes with a key PyJWT itself prepared, the same
claim checks with the same comparisons (``tests/test_hs_tokens.py`` holds the
two side by side).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
import warnings
from collections.abc import Sequence
from typing import Any

import jwt

from .jsoncodec import decode_json_as_stdlib

#: The hash of each HMAC algorithm.
DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
#: A segment as PyJWT accepts it, without the padding it also tolerates (that goes the long way).
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
#: The header members understood here; any other (``kid``, ``crit``, ``b64``...) goes the long way.
_HEADER_KEYS = frozenset({"alg", "typ"})
#: Claims checked here when present, each with the one type taken without question.
_INT_CLAIMS = ("iat", "nbf")


class PlainHmac:
    """The fast check for one verifier's configuration; ``usable`` is False when it does not apply."""

    def __init__(self, algorithms: Sequence[str], secret: str | None, leeway: float,
                 audience: Any = None, issuer: Any = None) -> None:
        self.leeway = float(leeway)
        #: The key of each allowed algorithm, as PyJWT itself prepared it; empty: not usable.
        self.keys: dict[str, bytes] = {}
        if not secret or audience is not None or issuer is not None:
            return
        keys = {}
        for alg in algorithms:
            if alg not in DIGESTS:
                return  # a key of another family is in play: leave every choice to PyJWT
            algorithm = jwt.get_algorithm_by_name(alg)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    key = algorithm.prepare_key(secret)  # PyJWT's own refusals (an asymmetric key as secret...)
                    if algorithm.check_key_length(key):
                        return  # PyJWT warns on every decode with a short key: let it
            except Exception:
                return
            keys[alg] = bytes(key)
        self.keys = keys

    @property
    def usable(self) -> bool:
        return bool(self.keys)

    def claims(self, token: str, now: float | None = None) -> dict[str, Any] | None:
        """The claims of ``token`` when it is plainly valid; ``None``: verify it with PyJWT."""
        if not self.keys or not token.isascii():
            return None
        parts = token.split(".")
        if len(parts) != 3:
            return None
        header_part, payload_part, signature_part = parts
        header = _json_object(header_part)
        if header is None or not header.keys() <= _HEADER_KEYS:
            return None
        alg = header.get("alg")
        if not isinstance(alg, str):
            return None
        key = self.keys.get(alg)
        signature = _segment(signature_part)
        if key is None or signature is None:
            return None
        signed = token[: len(header_part) + 1 + len(payload_part)].encode()
        expected = hmac.new(key, signed, DIGESTS[alg]).digest()
        if not hmac.compare_digest(expected, signature):
            return None
        payload = _json_object(payload_part)
        if payload is None or not self._plainly_valid(payload, time.time() if now is None else now):
            return None
        return payload

    def _plainly_valid(self, claims: dict[str, Any], now: float) -> bool:
        """PyJWT's claim checks (``require`` exp and sub, iat, nbf, exp, sub, jti), for plain values only."""
        exp, sub = claims.get("exp"), claims.get("sub")
        if type(exp) is not int or type(sub) is not str or "aud" in claims:
            return False
        jti = claims.get("jti", "")
        if type(jti) is not str:
            return False
        for name in _INT_CLAIMS:
            if name in claims:
                value = claims[name]
                if type(value) is not int or value > now + self.leeway:
                    return False
        return exp > now - self.leeway


def _segment(part: str) -> bytes | None:
    """A base64url segment decoded as PyJWT decodes it (canonical only), or None."""
    if len(part) % 4 == 1 or not _SEGMENT.fullmatch(part):
        return None
    try:
        decoded = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return None
    # Non-canonical trailing bits decode to the same bytes; PyJWT refuses them.
    if base64.urlsafe_b64encode(decoded).rstrip(b"=") != part.encode():
        return None
    return decoded


def _json_object(part: str) -> dict[str, Any] | None:
    data = _segment(part)
    if data is None:
        return None
    try:
        # The standard library's parser, as PyJWT's: the same claims from the same bytes.
        value = decode_json_as_stdlib(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


__all__ = ["PlainHmac"]
