"""The verified-token cache: a token verified once is served until its ``exp``, never after.

Unit tests drive :class:`TokenVerifier` with real signed tokens (and a clock of
the test's own for the cache where the point is the cache's expiry); the last
tests check the same on a real hub, over HTTP and on a socket connection.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from hub.auth import Principal, TokenCache, TokenVerifier, mint_token
from hub.config import load_settings
from hub.errors import AuthExpired, AuthInvalid
from hub.testing import RunningHub, connect_refused, start_hub

SECRET = "a-test-secret-of-thirty-two-bytes-or-more"


def verifier(cache: TokenCache | None = None, **env: str) -> TokenVerifier:
    settings = load_settings(environ={"HUB_JWT_SECRET": SECRET, **{f"HUB_{k.upper()}": v for k, v in env.items()}})
    return TokenVerifier(settings, cache)


def counting(target: TokenVerifier) -> list[str]:
    """Count the full verifications ``target`` makes (the ones the cache did not answer)."""
    calls: list[str] = []
    full = target._verify

    def _verify(token: str) -> Principal:
        calls.append(token)
        return full(token)

    target._verify = _verify  # type: ignore[method-assign]
    return calls


def wait_past(moment: float) -> None:
    """Block until the wall clock is past ``moment`` (what PyJWT compares ``exp`` with)."""
    while time.time() <= moment:
        time.sleep(min(0.05, max(moment - time.time(), 0) + 0.01))


def test_a_token_is_verified_once_and_served_from_the_cache() -> None:
    check = verifier()
    calls = counting(check)
    token = mint_token(SECRET, "svc", ["service"])
    first, second = check.verify(token), check.verify(token)
    assert first is second and first.user == "svc" and first.roles == ("service",)
    assert len(calls) == 1 and len(check.cache) == 1


def test_the_entry_expires_at_exp_and_the_token_is_verified_again() -> None:
    now = [time.time()]
    check = verifier(TokenCache(clock=lambda: now[0]))
    calls = counting(check)
    token = mint_token(SECRET, "svc", ttl=600)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    check.verify(token)
    now[0] = exp - 0.001
    check.verify(token)
    assert len(calls) == 1
    now[0] = exp
    check.verify(token)  # the real clock is still before exp: valid, verified in full again
    assert len(calls) == 2


def test_the_cache_never_extends_a_token() -> None:
    check = verifier(jwt_leeway="0")
    token = mint_token(SECRET, "svc", exp=time.time() + 1.0)
    principal = check.verify(token)
    assert principal.expires_at == jwt.decode(token, options={"verify_signature": False})["exp"]
    wait_past(principal.expires_at)
    with pytest.raises(AuthExpired):
        check.verify(token)
    assert len(check.cache) == 0


def test_within_the_leeway_a_token_is_accepted_but_never_kept() -> None:
    check = verifier(jwt_leeway="30")
    calls = counting(check)
    token = mint_token(SECRET, "svc", exp=int(time.time()) - 5)
    assert check.verify(token).user == "svc"
    assert check.verify(token).user == "svc"
    assert len(calls) == 2 and len(check.cache) == 0
    with pytest.raises(AuthExpired):
        check.verify(mint_token(SECRET, "svc", exp=int(time.time()) - 60))


def test_refused_tokens_are_not_kept() -> None:
    check = verifier()
    calls = counting(check)
    forged = mint_token("another-secret-of-thirty-two-bytes-long", "svc")
    for _ in range(2):
        with pytest.raises(AuthInvalid):
            check.verify(forged)
    assert len(calls) == 2 and len(check.cache) == 0


def test_only_the_exact_token_string_is_served() -> None:
    check = verifier()
    token = mint_token(SECRET, "svc", ["admin"])
    check.verify(token)
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    with pytest.raises(AuthInvalid):
        check.verify(tampered)
    raised_roles = jwt.encode({**jwt.decode(token, SECRET, algorithms=["HS256"]), "roles": ["admin", "x"]}, "x" * 32)
    with pytest.raises(AuthInvalid):
        check.verify(raised_roles)


def test_audience_and_issuer_are_checked_before_anything_is_kept() -> None:
    check = verifier(jwt_audience="hub", jwt_issuer="https://auth.example")
    good = mint_token(SECRET, "svc", aud="hub", iss="https://auth.example")
    assert check.verify(good).user == "svc"
    for bad in (mint_token(SECRET, "svc", aud="other", iss="https://auth.example"),
                mint_token(SECRET, "svc", aud="hub", iss="https://evil.example"),
                mint_token(SECRET, "svc")):
        with pytest.raises(AuthInvalid):
            check.verify(bad)
    # A token kept by one configuration is nothing to another: each verifier has its own cache.
    with pytest.raises(AuthInvalid):
        verifier(jwt_audience="elsewhere").verify(good)


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    cache = TokenCache(size=2)
    check = verifier(cache)
    calls = counting(check)
    one, two, three = (mint_token(SECRET, sub) for sub in ("one", "two", "three"))
    check.verify(one)
    check.verify(two)
    check.verify(one)  # one is now the most recently used
    check.verify(three)  # two goes
    assert len(cache) == 2 and len(calls) == 3
    check.verify(one)
    check.verify(three)
    assert len(calls) == 3
    check.verify(two)
    assert len(calls) == 4


def test_a_kept_principal_cannot_be_changed_by_one_request_for_the_next() -> None:
    principal = verifier().verify(mint_token(SECRET, "svc", ["service"], team="a"))
    assert principal.claims["team"] == "a"
    with pytest.raises(TypeError):
        principal.claims["roles"] = ["admin"]  # type: ignore[index]


# -- on a real hub --------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    running = start_hub(tmp_path_factory.mktemp("token-cache"), env={"HUB_JWT_LEEWAY": "0"})
    yield running
    running.stop()


async def publish(hub: RunningHub, token: str, **body: Any) -> Any:
    async with hub.http() as http:
        return await http.post(
            "/api/publish", headers={"authorization": f"Bearer {token}"},
            json={"topic": "user:cache-test", "type": "cache.test", "data": {}, **body},
        )


async def test_http_publishes_with_one_token_until_it_expires_then_auth_expired(strict_hub: RunningHub) -> None:
    exp = time.time() + 2.0
    token = strict_hub.token("svc", ["service"], exp=exp)
    seqs = [(await publish(strict_hub, token)).json()["seq"] for _ in range(5)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    wait_past(exp)
    response = await publish(strict_hub, token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "auth_expired"


async def test_a_socket_connect_with_an_expired_kept_token_is_refused(strict_hub: RunningHub) -> None:
    exp = time.time() + 1.5
    token = strict_hub.token("carol", exp=exp)
    assert (await publish(strict_hub, strict_hub.token("svc", ["service"]))).status_code == 201
    # The same token, verified over HTTP first (kept), then offered on a handshake after exp.
    async with strict_hub.http() as http:
        assert (await http.post("/api/publish", headers={"authorization": f"Bearer {token}"},
                                json={"topic": "user:carol", "type": "x.y"})).status_code == 403
    wait_past(exp)
    refusal = await connect_refused(strict_hub, token=token)
    assert "auth_expired" in str(refusal)
