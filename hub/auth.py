"""JWT verification: who a connection or an HTTP request is.

The algorithm allowlist comes from configuration. The key is chosen from the
algorithm family in the token's header (a secret for HS*, a public key for RS*
and ES*), so a token signed with HS256 using the RSA public key as its secret
never verifies.

A token verified once is kept (:class:`TokenCache`) until its ``exp``: a backend
publishing over HTTP sends the same token with every request, and verifying it
cost more than storing the event.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs

import jwt

from .config import ConfigError, Settings
from .errors import AuthExpired, AuthInvalid, AuthRequired
from .hs_tokens import PlainHmac
from .jsoncodec import decode_json

ADMIN = "admin"
SERVICE = "service"
QUERY_TOKEN_NAMES = ("token", "access_token", "jwt", "auth")


@dataclass(frozen=True)
class Principal:
    """The verified identity behind a connection or request."""

    user: str
    roles: tuple[str, ...] = ()
    name: str | None = None
    expires_at: float = 0.0
    claims: Mapping[str, Any] = field(default_factory=dict)

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def is_service(self) -> bool:
        return SERVICE in self.roles


class TokenCache:
    """Principals of tokens that verified, by the exact token string, each until its ``exp``.

    Only a token that passed every check (signature, algorithm, key, audience,
    issuer, ``nbf``, ``iat``) is put here, by the verifier whose configuration
    checked it; nothing here outlives ``exp``. From ``exp`` on the token is
    verified in full again, so the leeway and the refusal after it are the
    verifier's alone: the cache never extends a token. At most ``size`` entries,
    the least recently used dropped first; tokens longer than ``MAX_TOKEN`` are
    not kept. The size is for the few tokens that send many requests (backends):
    socket handshakes pass through too, but a connection keeps its principal
    itself, so the cache stays a fixed ~1 MB rather than growing with connections.
    """

    MAX_TOKEN = 8192

    def __init__(self, size: int = 1024, clock: Callable[[], float] = time.time) -> None:
        self.size = size
        self.clock = clock
        self._entries: OrderedDict[str, Principal] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> Principal | None:
        """The principal of ``token`` while it is kept and before its ``exp``; None otherwise."""
        principal = self._entries.get(token)
        if principal is None:
            return None
        if self.clock() >= principal.expires_at:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return principal

    def put(self, token: str, principal: Principal) -> None:
        """Keep ``principal`` for ``token``, unless it is already at or past its ``exp``."""
        if self.size <= 0 or len(token) > self.MAX_TOKEN or self.clock() >= principal.expires_at:
            return
        self._entries[token] = principal
        self._entries.move_to_end(token)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


class TokenVerifier:
    """Verifies tokens against the configured algorithms, keys, audience and issuer.

    Each verifier keeps its own :class:`TokenCache`: a token is only ever served
    from the cache of the configuration that verified it.
    """

    def __init__(self, settings: Settings, cache: TokenCache | None = None) -> None:
        self.cache = cache if cache is not None else TokenCache()
        self.algorithms = tuple(settings.jwt_algorithms)
        self.secret = settings.jwt_secret
        self.audience = settings.jwt_audience or None
        self.issuer = settings.jwt_issuer or None
        self.leeway = settings.jwt_leeway
        self.public_key: Any = None
        self.jwks: jwt.PyJWKSet | None = None
        if settings.jwt_public_key_file:
            try:
                self.public_key = Path(settings.jwt_public_key_file).read_bytes()
            except OSError as exc:
                raise ConfigError(f"HUB_JWT_PUBLIC_KEY_FILE: {exc}") from None
        if settings.jwt_jwks_file:
            try:
                self.jwks = jwt.PyJWKSet.from_dict(decode_json(Path(settings.jwt_jwks_file).read_text()))
            except (OSError, ValueError, jwt.PyJWTError) as exc:
                raise ConfigError(f"HUB_JWT_JWKS_FILE: {exc}") from None
        unknown = [alg for alg in self.algorithms if alg not in jwt.algorithms.get_default_algorithms()]
        if unknown or "none" in [a.lower() for a in self.algorithms]:
            raise ConfigError(f"HUB_JWT_ALGORITHMS: unsupported algorithm(s) {unknown or ['none']}")
        #: The connect path's check of plain HS* tokens; anything else goes through PyJWT.
        self.plain = PlainHmac(self.algorithms, self.secret, self.leeway, self.audience, self.issuer)

    def _key_for(self, header: Mapping[str, Any]) -> Any:
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise AuthInvalid("The token's algorithm is not allowed.")
        if alg.startswith("HS"):
            if not self.secret:
                raise AuthInvalid("The token's algorithm is not allowed.")
            return self.secret
        if self.jwks is not None:
            kid = header.get("kid")
            keys = self.jwks.keys
            matching = [key for key in keys if kid is None or key.key_id == kid]
            if kid is None and len(keys) != 1:
                raise AuthInvalid("The token has no key id (kid).")
            if not matching:
                raise AuthInvalid("The token's key id is unknown.")
            return matching[0].key
        if self.public_key is not None:
            return self.public_key
        raise AuthInvalid("The token's algorithm is not allowed.")

    def verify(self, token: Any) -> Principal:
        """The principal of a valid token; :class:`AuthInvalid` or :class:`AuthExpired` otherwise."""
        if not token:
            raise AuthRequired()
        if not isinstance(token, str):
            raise AuthInvalid("The token must be a string.")
        principal = self.cache.get(token)
        if principal is None:
            principal = self._verify(token)
            self.cache.put(token, principal)
        return principal

    def _verify(self, token: str) -> Principal:
        claims = self.plain.claims(token)
        if claims is not None:
            return principal_from_claims(claims)
        try:
            header = jwt.get_unverified_header(token)
            key = self._key_for(header)
            claims = jwt.decode(
                token,
                key,
                algorithms=[header["alg"]],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthExpired() from None
        except jwt.InvalidAudienceError:
            raise AuthInvalid("The token's audience is not accepted.") from None
        except jwt.InvalidIssuerError:
            raise AuthInvalid("The token's issuer is not accepted.") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthInvalid(f"The token lacks the {exc.claim!r} claim.") from None
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            raise AuthInvalid() from None
        return principal_from_claims(claims)


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    sub = claims.get("sub")
    roles = claims.get("roles", [])
    name = claims.get("name")
    if not isinstance(sub, str) or not sub:
        raise AuthInvalid("The token's 'sub' must be a non-empty string.")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise AuthInvalid("The token's 'roles' must be a list of strings.")
    if name is not None and not isinstance(name, str):
        raise AuthInvalid("The token's 'name' must be a string.")
    expires_at = float(claims["exp"])
    try:
        # The welcome reports it as a date; one past year 9999 cannot be written.
        datetime.fromtimestamp(expires_at, timezone.utc)
    except (OverflowError, ValueError, OSError):
        raise AuthInvalid("The token's 'exp' is out of range.") from None
    # Read-only: one principal serves every request with the same token (TokenCache).
    return Principal(user=sub, roles=tuple(roles), name=name, expires_at=expires_at,
                     claims=MappingProxyType(dict(claims)))


def token_from_handshake(auth: Any, environ: Mapping[str, Any]) -> str | None:
    """The token of a Socket.IO handshake: ``auth.token``, else the bearer header.

    A token in the query string is refused outright, because URLs end up in logs.
    """
    query_string = environ.get("QUERY_STRING", "")
    # Parsed only when one of the names may be there, spelt out or percent-encoded
    # (Engine.IO's own query, EIO=4&transport=websocket, has none).
    if "%" in query_string or any(name in query_string for name in QUERY_TOKEN_NAMES):
        query = parse_qs(query_string)
        if any(name in query for name in QUERY_TOKEN_NAMES):
            raise AuthInvalid("Tokens in the query string are refused; send auth.token or a bearer header.")
    if isinstance(auth, Mapping) and auth.get("token") is not None:
        return auth["token"]  # type: ignore[no-any-return]
    if auth is not None and not isinstance(auth, Mapping):
        raise AuthInvalid("The auth payload must be an object with a token.")
    return bearer_token(environ.get("HTTP_AUTHORIZATION"))


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None when there is none."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthInvalid("The Authorization header must be 'Bearer <token>'.")
    return token.strip()


def mint_token(
    secret: str,
    sub: str,
    roles: Sequence[str] = (),
    name: str | None = None,
    ttl: float = 3600,
    algorithm: str = "HS256",
    **claims: Any,
) -> str:
    """A signed token, for development (``hub token``) and tests."""
    now = int(time.time())
    payload: dict[str, Any] = {"sub": sub, "roles": list(roles), "iat": now, "exp": now + int(ttl), **claims}
    if name:
        payload["name"] = name
    return jwt.encode(payload, secret, algorithm=algorithm)
