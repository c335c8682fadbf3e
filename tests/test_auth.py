"""Authentication as the contract states it, against a real running hub.

Every test connects a real python-socketio client (or an HTTP client) to a
``hub serve`` process and checks what a client author would see: the welcome,
or the ``connect_error`` data ``{"code", "message"}`` of a refused handshake.
Key material is generated at test time; nothing secret is committed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hub.auth import mint_token
from hub.testing import RunningHub, SocketRecorder, connect_refused, start_hub

AUDIENCE = "hub-clients"
ISSUER = "https://id.example"


# Helpers ----------------------------------------------------------------------


def assert_refused(error: Any, code: str) -> None:
    """``error`` is the contract's connect_error data with ``code`` and a human message."""
    assert isinstance(error, dict), f"connect_error data is not an object: {error!r}"
    assert error["code"] == code, error
    assert_human_message(error["message"])
    # socket.io-client (JavaScript) reads the packet's "data" member as err.data.
    assert set(error) <= {"code", "message", "data"}, error
    if "data" in error:
        assert error["data"] == {"code": error["code"], "message": error["message"]}, error


def assert_human_message(message: Any) -> None:
    """A message for people: a short line, never a stack trace or an exception repr."""
    assert isinstance(message, str) and message.strip()
    assert "\n" not in message
    assert len(message) < 200
    for leak in ("Traceback", 'File "', "Error(", "jwt.", "site-packages", ".py"):
        assert leak not in message, message


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hand_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes, digest: Any = hashlib.sha256) -> str:
    """A JWT signed by hand with HMAC, for tokens PyJWT refuses to produce."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), digest).digest() if key is not None else b""
    return f"{signing_input}.{b64url(signature)}"


def claims(sub: str = "alice", ttl: float = 600, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": sub, "roles": [], "iat": now, "exp": now + int(ttl), **extra}


async def welcome_of(hub: RunningHub, **connect: Any) -> tuple[SocketRecorder, dict[str, Any]]:
    """Connect with ``connect`` options; the client and the data of its ``hub.welcome``."""
    client = await SocketRecorder().connect(hub, **connect)
    welcome = (await client.wait_for("hub.welcome"))[0]
    return client, welcome["data"]


async def assert_accepted(hub: RunningHub, user: str = "alice", **connect: Any) -> dict[str, Any]:
    """Connects, is welcomed as ``user`` and can make a request; the welcome data."""
    client, welcome = await welcome_of(hub, **connect)
    try:
        assert welcome["user"] == user
        reply = await client.call("subscribe", {"topic": f"user:{user}"})
        assert reply["ok"] is True, reply
        assert client.sio.connected
        assert client.of_type("hub.error") == []
    finally:
        await client.close()
    return welcome


# Hubs -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """A hub with the default HS256 secret and the default leeway (30 s)."""
    running = start_hub(tmp_path_factory.mktemp("hs256"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def polling_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """A hub with a 1 s ping interval, for long-polling clients.

    python-socketio's client, on disconnect, waits for its pending long-poll,
    which the server ends only after ping interval + timeout (45 s by default).
    """
    running = start_hub(tmp_path_factory.mktemp("polling"), env={"HUB_PING_INTERVAL": "0.5", "HUB_PING_TIMEOUT": "1"})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def claims_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """A hub that requires an audience and an issuer."""
    running = start_hub(
        tmp_path_factory.mktemp("aud"), env={"HUB_JWT_AUDIENCE": AUDIENCE, "HUB_JWT_ISSUER": ISSUER}
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def rsa_hub(tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey) -> Iterator[RunningHub]:
    """A hub verifying RS256 tokens with a PEM public key (HS256 not allowed)."""
    root = tmp_path_factory.mktemp("rs256")
    pem = root / "public.pem"
    pem.write_bytes(public_pem(rsa_key))
    running = start_hub(
        root / "hub", env={"HUB_JWT_ALGORITHMS": "RS256", "HUB_JWT_PUBLIC_KEY_FILE": str(pem)}
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def ec_keys() -> dict[str, ec.EllipticCurvePrivateKey]:
    return {kid: ec.generate_private_key(ec.SECP256R1()) for kid in ("key-1", "key-2")}


@pytest.fixture(scope="module")
def jwks_hub(
    tmp_path_factory: pytest.TempPathFactory, ec_keys: dict[str, ec.EllipticCurvePrivateKey]
) -> Iterator[RunningHub]:
    """A hub verifying ES256 tokens with a JWKS file of two keys, chosen by ``kid``."""
    root = tmp_path_factory.mktemp("jwks")
    keys = []
    for kid, private in ec_keys.items():
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
        keys.append({**jwk, "kid": kid, "alg": "ES256", "use": "sig"})
    path = root / "jwks.json"
    path.write_text(json.dumps({"keys": keys}))
    running = start_hub(
        root / "hub", env={"HUB_JWT_ALGORITHMS": "ES256", "HUB_JWT_JWKS_FILE": str(path), "HUB_JWT_SECRET": ""}
    )
    yield running
    running.stop()


# A valid token -----------------------------------------------------------------


async def test_valid_token_is_welcomed_with_the_contracts_fields(hub: RunningHub) -> None:
    token = hub.token("alice", roles=["editor"], name="Alice", ttl=600)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    client, welcome = await welcome_of(hub, token=token)
    try:
        assert welcome["user"] == "alice"
        assert welcome["roles"] == ["editor"]
        assert welcome["connection_id"] == client.sio.get_sid()
        assert welcome["protocol"] == 1
        assert isinstance(welcome["plugins"], list)
        assert all(isinstance(name, str) for name in welcome["plugins"])
        server_time = datetime.fromisoformat(welcome["server_time"].replace("Z", "+00:00"))
        assert abs(server_time.timestamp() - time.time()) < 5
        assert welcome["server_time"].endswith("Z")
        expires = datetime.fromisoformat(welcome["token_expires_at"].replace("Z", "+00:00"))
        assert expires.timestamp() == pytest.approx(exp, abs=0.001)
    finally:
        await client.close()


async def test_bearer_header_works_instead_of_auth(hub: RunningHub) -> None:
    token = hub.token("bob", roles=["service"])
    welcome = await assert_accepted(hub, user="bob", headers={"Authorization": f"Bearer {token}"})
    assert welcome["roles"] == ["service"]


async def test_bearer_header_works_over_long_polling(polling_hub: RunningHub) -> None:
    token = polling_hub.token("bob")
    await assert_accepted(polling_hub, user="bob", headers={"Authorization": f"Bearer {token}"}, transport="polling")


async def test_token_expired_within_the_leeway_is_accepted_and_usable(hub: RunningHub) -> None:
    # Expired 10 s ago, default leeway 30 s: the hub accepts it, and must not
    # then disconnect at once a connection it has just accepted.
    token = hub.token("alice", exp=int(time.time()) - 10)
    client, welcome = await welcome_of(hub, token=token)
    try:
        # The client is told at once so it can refresh within the leeway.
        await client.wait_for("hub.token_expiring")
        assert [event for event, _ in client.events][0] == "hub.welcome"
        reply = await client.call("subscribe", {"topic": "user:alice"})
        assert reply["ok"] is True, reply
        assert client.sio.connected
        assert client.of_type("hub.error") == []
    finally:
        await client.close()


async def test_audience_and_issuer_accepted_when_right(claims_hub: RunningHub) -> None:
    await assert_accepted(claims_hub, token=claims_hub.token("alice", aud=AUDIENCE, iss=ISSUER))


# Refusals ----------------------------------------------------------------------


async def test_missing_token_is_auth_required(hub: RunningHub) -> None:
    assert_refused(await connect_refused(hub), "auth_required")


async def test_refusals_over_long_polling(polling_hub: RunningHub) -> None:
    assert_refused(await connect_refused(polling_hub, transport="polling"), "auth_required")
    expired = polling_hub.token("alice", exp=int(time.time()) - 120)
    assert_refused(await connect_refused(polling_hub, token=expired, transport="polling"), "auth_expired")


@pytest.mark.parametrize(
    "token",
    ["not-a-jwt", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30", "....", "x" * 2000],
    ids=["garbage", "three-parts", "two-parts", "dots", "long"],
)
async def test_malformed_token_is_auth_invalid(hub: RunningHub, token: str) -> None:
    assert_refused(await connect_refused(hub, token=token), "auth_invalid")


async def test_non_string_token_is_auth_invalid(hub: RunningHub) -> None:
    assert_refused(await connect_refused(hub, auth={"token": 12345}), "auth_invalid")


async def test_malformed_bearer_header_is_auth_invalid(hub: RunningHub) -> None:
    token = hub.token("alice")
    error = await connect_refused(hub, headers={"Authorization": f"Basic {token}"})
    assert_refused(error, "auth_invalid")


async def test_token_expired_beyond_the_leeway_is_auth_expired(hub: RunningHub) -> None:
    token = hub.token("alice", exp=int(time.time()) - 120)
    assert_refused(await connect_refused(hub, token=token), "auth_expired")


async def test_expired_bearer_header_is_auth_expired(hub: RunningHub) -> None:
    token = hub.token("alice", exp=int(time.time()) - 120)
    error = await connect_refused(hub, headers={"Authorization": f"Bearer {token}"})
    assert_refused(error, "auth_expired")


async def test_token_without_exp_is_auth_invalid(hub: RunningHub) -> None:
    token = jwt.encode({"sub": "alice", "roles": []}, hub.secret, algorithm="HS256")
    assert_refused(await connect_refused(hub, token=token), "auth_invalid")


async def test_token_signed_with_another_secret_is_auth_invalid(hub: RunningHub) -> None:
    token = mint_token("another-secret-of-sufficient-length-123", "alice")
    assert_refused(await connect_refused(hub, token=token), "auth_invalid")


async def test_alg_none_is_auth_invalid(hub: RunningHub) -> None:
    unsigned = f"{b64url(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64url(json.dumps(claims()).encode())}."
    assert_refused(await connect_refused(hub, token=unsigned), "auth_invalid")
    # Same again with a valid HMAC over the token but the header still claiming "none".
    signed = hand_signed({"alg": "none", "typ": "JWT"}, claims(), hub.secret.encode())
    assert_refused(await connect_refused(hub, token=signed), "auth_invalid")


async def test_algorithm_outside_the_allowlist_is_auth_invalid(hub: RunningHub) -> None:
    # Right secret, but HS512 is not in the default allowlist (HS256 only).
    token = hand_signed({"alg": "HS512", "typ": "JWT"}, claims(), hub.secret.encode(), hashlib.sha512)
    assert_refused(await connect_refused(hub, token=token), "auth_invalid")


@pytest.mark.parametrize(
    "bad",
    [{"sub": 42}, {"sub": ["alice"]}, {"sub": ""}, {"roles": "admin"}, {"roles": [1, 2]}, {"roles": {"admin": True}}],
    ids=["sub-int", "sub-list", "sub-empty", "roles-string", "roles-ints", "roles-object"],
)
async def test_bad_claim_types_are_auth_invalid(hub: RunningHub, bad: dict[str, Any]) -> None:
    token = jwt.encode(claims(**bad), hub.secret, algorithm="HS256")
    assert_refused(await connect_refused(hub, token=token), "auth_invalid")


async def test_token_without_sub_is_auth_invalid(hub: RunningHub) -> None:
    payload = claims()
    del payload["sub"]
    token = jwt.encode(payload, hub.secret, algorithm="HS256")
    assert_refused(await connect_refused(hub, token=token), "auth_invalid")


@pytest.mark.parametrize("exp", [10**13, 1e300, float("inf"), float("nan"), "soon"], ids=["year-318857", "1e300", "inf", "nan", "string"])
async def test_exp_that_is_no_date_is_auth_invalid(hub: RunningHub, exp: Any) -> None:
    # Accepted before, such a token got no welcome: the hub could not write its expiry.
    token = hand_signed({"alg": "HS256", "typ": "JWT"}, claims(exp=exp), hub.secret.encode())
    assert_refused(await connect_refused(hub, token=token), "auth_invalid")


async def test_far_but_writable_exp_is_welcomed(hub: RunningHub) -> None:
    welcome = await assert_accepted(hub, token=hub.token("alice", exp=10**11))
    assert welcome["token_expires_at"].startswith("5138-")


@pytest.mark.parametrize("name", ["token", "access_token", "jwt", "%74oken", "%6Awt"])
async def test_token_in_the_query_string_is_refused(hub: RunningHub, name: str) -> None:
    # Refused even alongside a valid auth token: a URL with a token lands in logs.
    token = hub.token("alice")
    error = await connect_refused(hub, token=token, query=f"{name}={token}")
    assert_refused(error, "auth_invalid")


async def test_audience_and_issuer_checked_when_configured(claims_hub: RunningHub) -> None:
    cases = {
        "no aud": claims_hub.token("alice", iss=ISSUER),
        "wrong aud": claims_hub.token("alice", aud="someone-else", iss=ISSUER),
        "no iss": claims_hub.token("alice", aud=AUDIENCE),
        "wrong iss": claims_hub.token("alice", aud=AUDIENCE, iss="https://evil.example"),
    }
    for case, token in cases.items():
        error = await connect_refused(claims_hub, token=token)
        assert isinstance(error, dict) and error.get("code") == "auth_invalid", (case, error)
        assert_refused(error, "auth_invalid")


# Public keys -------------------------------------------------------------------


async def test_rs256_with_a_pem_public_key(rsa_hub: RunningHub, rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(claims("carol", roles=["admin"]), rsa_key, algorithm="RS256")
    welcome = await assert_accepted(rsa_hub, user="carol", token=token)
    assert welcome["roles"] == ["admin"]


async def test_rs256_signed_by_another_key_is_auth_invalid(rsa_hub: RunningHub) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), other, algorithm="RS256")
    assert_refused(await connect_refused(rsa_hub, token=token), "auth_invalid")


async def test_hs256_signed_with_the_rsa_public_key_is_auth_invalid(
    rsa_hub: RunningHub, rsa_key: rsa.RSAPrivateKey
) -> None:
    # The classic key-confusion attack: the public key is public, so anyone can
    # use it as an HMAC secret. PyJWT refuses to sign that, so sign by hand.
    forged = hand_signed({"alg": "HS256", "typ": "JWT"}, claims(roles=["admin"]), public_pem(rsa_key))
    assert_refused(await connect_refused(rsa_hub, token=forged), "auth_invalid")


async def test_key_confusion_refused_even_when_hs256_is_allowed(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    # HS256 in the allowlist but no secret: the public key must never become the HMAC key.
    pem = tmp_path / "public.pem"
    pem.write_bytes(public_pem(rsa_key))
    running = start_hub(
        tmp_path / "hub",
        env={"HUB_JWT_ALGORITHMS": "RS256,HS256", "HUB_JWT_PUBLIC_KEY_FILE": str(pem), "HUB_JWT_SECRET": ""},
    )
    try:
        forged = hand_signed({"alg": "HS256", "typ": "JWT"}, claims(roles=["admin"]), public_pem(rsa_key))
        assert_refused(await connect_refused(running, token=forged), "auth_invalid")
        # The real key still works on that hub.
        await assert_accepted(running, token=jwt.encode(claims(), rsa_key, algorithm="RS256"))
    finally:
        running.stop()


async def test_es256_with_a_jwks_file_chosen_by_kid(
    jwks_hub: RunningHub, ec_keys: dict[str, ec.EllipticCurvePrivateKey]
) -> None:
    for kid, private in ec_keys.items():
        token = jwt.encode(claims("dave"), private, algorithm="ES256", headers={"kid": kid})
        await assert_accepted(jwks_hub, user="dave", token=token)


async def test_es256_with_the_wrong_kid_is_auth_invalid(
    jwks_hub: RunningHub, ec_keys: dict[str, ec.EllipticCurvePrivateKey]
) -> None:
    # Signed by key-1 but naming key-2: the hub must verify with key-2 and fail.
    token = jwt.encode(claims(), ec_keys["key-1"], algorithm="ES256", headers={"kid": "key-2"})
    assert_refused(await connect_refused(jwks_hub, token=token), "auth_invalid")


async def test_es256_with_an_unknown_kid_is_auth_invalid(jwks_hub: RunningHub) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(claims(), stranger, algorithm="ES256", headers={"kid": "key-9"})
    assert_refused(await connect_refused(jwks_hub, token=token), "auth_invalid")


async def test_es256_without_kid_and_several_keys_is_auth_invalid(
    jwks_hub: RunningHub, ec_keys: dict[str, ec.EllipticCurvePrivateKey]
) -> None:
    token = jwt.encode(claims(), ec_keys["key-1"], algorithm="ES256")
    assert_refused(await connect_refused(jwks_hub, token=token), "auth_invalid")


async def test_hs256_refused_by_a_jwks_only_hub(jwks_hub: RunningHub) -> None:
    token = mint_token(jwks_hub.secret, "alice")
    assert_refused(await connect_refused(jwks_hub, token=token), "auth_invalid")


# HTTP --------------------------------------------------------------------------


def assert_http_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert_human_message(body["error"]["message"])


PUBLISH = {"topic": "user:alice", "type": "test.ping", "data": {"n": 1}}


async def test_http_publish_without_a_token_is_401_auth_required(hub: RunningHub) -> None:
    async with hub.http() as http:
        response = await http.post("/api/publish", json=PUBLISH)
    assert_http_error(response, 401, "auth_required")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer " + mint_token("another-secret-of-length-32-bytes!", "svc", ["service"])],
    ids=["garbage", "basic", "other-secret"],
)
async def test_http_publish_with_a_bad_token_is_401_auth_invalid(hub: RunningHub, authorization: str) -> None:
    async with hub.http() as http:
        response = await http.post("/api/publish", json=PUBLISH, headers={"authorization": authorization})
    assert_http_error(response, 401, "auth_invalid")


async def test_http_publish_with_an_expired_token_is_401_auth_expired(hub: RunningHub) -> None:
    token = hub.token("svc", ["service"], exp=int(time.time()) - 120)
    async with hub.http() as http:
        response = await http.post("/api/publish", json=PUBLISH, headers={"authorization": f"Bearer {token}"})
    assert_http_error(response, 401, "auth_expired")


async def test_http_publish_needs_service_or_admin(hub: RunningHub) -> None:
    alice = await SocketRecorder().connect(hub, hub.token("alice"))
    try:
        await alice.wait_for("hub.welcome")
        async with hub.http() as http:
            refused = await http.post("/api/publish", json=PUBLISH, headers=hub.headers("alice", roles=["editor"]))
            assert_http_error(refused, 403, "forbidden")
            as_service = await http.post("/api/publish", json=PUBLISH, headers=hub.headers("svc", roles=["service"]))
            assert as_service.status_code == 201, as_service.text
            as_admin = await http.post(
                "/api/publish", json={**PUBLISH, "data": {"n": 2}}, headers=hub.headers("root", roles=["admin"])
            )
            assert as_admin.status_code == 201, as_admin.text
        assert set(as_service.json()) == {"id", "seq"}
        events = await alice.wait_for("test.ping", count=2)
        assert [event["data"]["n"] for event in events] == [1, 2]
        # The forbidden request published nothing.
        assert len(alice.of_type("test.ping")) == 2
    finally:
        await alice.close()
