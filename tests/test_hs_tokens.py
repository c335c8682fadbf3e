"""The connect path's check of plain HS* tokens (``hub.hs_tokens``) beside PyJWT.

The fast check may only ever accept what PyJWT accepts, with the same claims;
everything else it hands back to PyJWT (``None``), whose answer the verifier
gives as before. Each token here goes through a verifier with the fast check
and one without it, and both must say the same; the fast check's own answer
is checked too, so a test fails if it stops taking the plain tokens at all.
A real hub accepting such a token end to end is in ``tests/test_auth.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest

from hub.auth import Principal, TokenCache, TokenVerifier
from hub.config import load_settings
from hub.errors import HubError
from hub.hs_tokens import PlainHmac

SECRET = "s" * 40


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(header: dict[str, Any], claims: Any, key: str = SECRET, digest: Any = hashlib.sha256,
           raw_claims: bytes | None = None) -> str:
    head = b64url(json.dumps(header).encode())
    body = b64url(raw_claims if raw_claims is not None else json.dumps(claims).encode())
    signature = hmac.new(key.encode(), f"{head}.{body}".encode(), digest).digest()
    return f"{head}.{body}.{b64url(signature)}"


def verifiers(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[TokenVerifier, TokenVerifier]:
    monkeypatch.setenv("HUB_JWT_SECRET", SECRET)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    fast, slow = TokenVerifier(settings, TokenCache(size=0)), TokenVerifier(settings, TokenCache(size=0))
    slow.plain = PlainHmac((), None, 0)  # never usable: PyJWT only
    return fast, slow


def outcome(verifier: TokenVerifier, token: str) -> Principal | str:
    try:
        return verifier.verify(token)
    except HubError as error:
        return f"{error.code}: {error.message}"


def hs(claims: dict[str, Any], **header: Any) -> str:
    return signed({"alg": "HS256", "typ": "JWT", **header}, claims)


def tables() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """The tokens, made now: their times are relative to the moment the test runs."""
    global NOW, PLAIN
    NOW = int(time.time())
    PLAIN = {"sub": "ann", "roles": ["r"], "name": "Ann", "iat": NOW, "exp": NOW + 600}
    return _accepted(), _handed_on(), _refused()


NOW = int(time.time())
PLAIN: dict[str, Any] = {}


def _accepted() -> dict[str, str]:
    """Tokens the fast check takes itself."""
    return {
    "plain": hs(PLAIN),
    "no typ": signed({"alg": "HS256"}, PLAIN),
    "no iat": hs({"sub": "ann", "exp": NOW + 600}),
    "nbf now": hs({**PLAIN, "nbf": NOW}),
    "iat within the leeway": hs({**PLAIN, "iat": NOW + 20}),
    "exp within the leeway": hs({**PLAIN, "exp": NOW - 20}),
    "jti": hs({**PLAIN, "jti": "abc"}),
    "extra claims": hs({**PLAIN, "tenant": {"id": 7}}),
}


def _handed_on() -> dict[str, str]:
    """Tokens it hands to PyJWT: accepted or refused there, the same either way."""
    return {
    "expired": hs({**PLAIN, "exp": NOW - 60}),
    "iat in the future": hs({**PLAIN, "iat": NOW + 120}),
    "nbf in the future": hs({**PLAIN, "nbf": NOW + 120}),
    "bad signature": hs(PLAIN)[:-2] + ("AA" if not hs(PLAIN).endswith("AA") else "BB"),
    "other key": signed({"alg": "HS256"}, PLAIN, key="t" * 40),
    "alg none": signed({"alg": "none"}, PLAIN),
    "alg not allowed": signed({"alg": "HS512"}, PLAIN, digest=hashlib.sha512),
    "alg not a string": signed({"alg": ["HS256"]}, PLAIN),
    "kid": hs(PLAIN, kid="k1"),
    "kid not a string": hs(PLAIN, kid=5),
    "crit": hs(PLAIN, crit=["exp"]),
    "b64 false": hs(PLAIN, b64=False),
    "no exp": hs({"sub": "ann"}),
    "exp null": hs({**PLAIN, "exp": None}),
    "exp as a string": hs({**PLAIN, "exp": str(NOW + 600)}),
    "exp as a float": hs({**PLAIN, "exp": NOW + 600.5}),
    "exp true": hs({**PLAIN, "exp": True}),
    "no sub": hs({"exp": NOW + 600}),
    "sub a number": hs({**PLAIN, "sub": 42}),
    "iat as a string": hs({**PLAIN, "iat": "soon"}),
    "nbf as a string": hs({**PLAIN, "nbf": "x"}),
    "jti a number": hs({**PLAIN, "jti": 5}),
    "jti null": hs({**PLAIN, "jti": None}),
    "aud": hs({**PLAIN, "aud": "someone"}),
    "payload an array": signed({"alg": "HS256"}, None, raw_claims=b"[1, 2]"),
    "payload not json": signed({"alg": "HS256"}, None, raw_claims=b"{nope"),
    "padded": hs(PLAIN).replace(".", "==.", 1) if len(hs(PLAIN).split(".")[0]) % 4 == 2 else hs(PLAIN) + "=",
    "two segments": ".".join(hs(PLAIN).split(".")[:2]),
    "four segments": hs(PLAIN) + ".x",
    "not base64": "!!!." + hs(PLAIN).split(".", 1)[1],
    "non-ascii": hs(PLAIN) + "é",
}


def _refused() -> dict[str, str]:
    """Tokens PyJWT accepts and the hub then refuses for their claims: the same refusal either way."""
    return {
    "sub empty": hs({**PLAIN, "sub": ""}),
    "roles not a list": hs({**PLAIN, "roles": "admin"}),
    "name a number": hs({**PLAIN, "name": 5}),
}


NAMES = [list(table) for table in tables()]


@pytest.mark.parametrize("name", NAMES[0])
def test_plain_tokens_are_taken_by_the_fast_check_with_pyjwt_s_claims(
    monkeypatch: pytest.MonkeyPatch, name: str,
) -> None:
    fast, slow = verifiers(monkeypatch)
    token = tables()[0][name]
    assert fast.plain.usable
    assert fast.plain.claims(token) == jwt.decode(token, SECRET, algorithms=["HS256"], leeway=30,
                                                  options={"require": ["exp", "sub"]})
    assert outcome(fast, token) == outcome(slow, token)
    assert isinstance(outcome(fast, token), Principal)


@pytest.mark.parametrize("name", NAMES[1])
def test_anything_else_is_answered_by_pyjwt_as_before(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    fast, slow = verifiers(monkeypatch)
    token = tables()[1][name]
    assert fast.plain.claims(token) is None
    assert outcome(fast, token) == outcome(slow, token)


@pytest.mark.parametrize("name", NAMES[2])
def test_claims_the_hub_refuses_are_refused_the_same_way(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    fast, slow = verifiers(monkeypatch)
    token = tables()[2][name]
    assert outcome(fast, token) == outcome(slow, token)
    assert isinstance(outcome(fast, token), str)


def test_a_non_canonical_signature_encoding_is_handed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trailing bits that decode to the same bytes: PyJWT refuses them, so the fast check may not accept."""
    fast, slow = verifiers(monkeypatch)
    token = tables()[0]["plain"]
    head, body, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # A 32-byte signature is 43 characters: the last carries 2 unused bits.
    index = alphabet.index(signature[-1])
    tampered = f"{head}.{body}.{signature[:-1]}{alphabet[index | 1]}"
    if tampered == token:
        tampered = f"{head}.{body}.{signature[:-1]}{alphabet[index | 2]}"
    assert fast.plain.claims(tampered) is None
    assert outcome(fast, tampered) == outcome(slow, tampered)


@pytest.mark.parametrize("env", [
    {"HUB_JWT_AUDIENCE": "hub-clients"},
    {"HUB_JWT_ISSUER": "https://id.example"},
    {"HUB_JWT_SECRET": "short"},  # PyJWT warns about the key length on every decode: its path
])
def test_configurations_it_does_not_cover_leave_every_token_to_pyjwt(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
) -> None:
    fast, _ = verifiers(monkeypatch, **env)
    assert not fast.plain.usable
    assert fast.plain.claims(tables()[0]["plain"]) is None


def test_several_hmac_algorithms_each_with_its_own_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    tables()
    key = "k" * 64  # PyJWT wants HS512 keys as long as its digest
    fast, slow = verifiers(monkeypatch, HUB_JWT_ALGORITHMS="HS256,HS512", HUB_JWT_SECRET=key)
    token = signed({"alg": "HS512"}, PLAIN, key=key, digest=hashlib.sha512)
    assert fast.plain.claims(token) is not None
    assert outcome(fast, token) == outcome(slow, token)
    wrong = signed({"alg": "HS512"}, PLAIN, key=key, digest=hashlib.sha256)
    assert fast.plain.claims(wrong) is None
    assert outcome(fast, wrong) == outcome(slow, wrong)


def test_with_an_asymmetric_algorithm_allowed_pyjwt_chooses_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    fast, _ = verifiers(monkeypatch, HUB_JWT_ALGORITHMS="HS256,RS256")
    assert not fast.plain.usable
