"""Signed links to stored files: ``?expires=<unix seconds>&sig=<hex>``, checked without a database.

A link is a capability that ends: it lets ``<img src>`` and a download work
without a bearer token, for ``link_ttl`` seconds. The signature is an HMAC-SHA256
of the stored name and the expiry, so a link cannot be stretched or moved to
another file. The key must be the same in every hub process behind one load
balancer (any of them may get the link):

- ``link_key`` when configured (rotate it to revoke every link at once);
- else derived from the JWT secret (in development mode, the dev secret), which
  every process sharing the tokens shares already;
- else (public-key tokens and no ``link_key``) a key generated once in the data
  directory, with a warning: processes that do not share that directory must
  then be given ``link_key``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import time
from pathlib import Path

logger = logging.getLogger("hub.upload_progress")
# Separates this use of the JWT secret from its use for tokens.
DERIVATION_LABEL = b"hub upload_progress signed links v1"
KEY_FILE = "upload-link-key"


def link_key(configured: str, jwt_secret: str, data_dir: Path) -> bytes:
    """The signing key, chosen as the module says."""
    if configured:
        return configured.encode()
    if jwt_secret:
        return hmac.new(jwt_secret.encode(), DERIVATION_LABEL, hashlib.sha256).digest()
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "x", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32))
        except FileExistsError:  # another process of this install wrote it first
            pass
        path.chmod(0o600)
    logger.warning(
        "upload_progress: no link_key and no JWT secret; signing links with %s: "
        "hub processes that do not share it need [plugins.upload_progress] link_key", path,
    )
    return path.read_text(encoding="ascii").strip().encode()


class LinkSigner:
    """Signs and checks ``(name, expires)``; ``ttl`` seconds of life for each new link."""

    def __init__(self, key: bytes, ttl: float) -> None:
        self._key = key
        self.ttl = ttl

    def _signature(self, name: str, expires: int) -> str:
        return hmac.new(self._key, f"{name}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def expiry(self) -> int:
        """A new link's expiry: whole seconds, rounded up (a link lives ``ttl`` seconds at least)."""
        return math.ceil(time.time() + self.ttl)

    def query(self, name: str) -> str:
        """The query string of a new link to ``name``."""
        expires = self.expiry()
        return f"expires={expires}&sig={self._signature(name, expires)}"

    def valid(self, name: str, expires: str, signature: str) -> bool:
        """True for an untampered, unexpired link (the comparison takes constant time)."""
        if not expires.isdigit() or len(expires) > 12:
            return False
        good = hmac.compare_digest(self._signature(name, int(expires)).encode(), signature.encode("utf-8", "replace"))
        return good and time.time() < int(expires)
