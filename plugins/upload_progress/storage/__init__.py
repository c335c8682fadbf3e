"""Storage backends, chosen by the ``storage`` setting; one module each, imported lazily.

A backend takes the received file (a complete temporary file on local disk)
and keeps it somewhere durable::

    stored = await backend.store(path, name, content_type, progress)

``name`` is the generated storage name (``<32 hex>.<ext>``); ``progress`` is
``async progress(bytes_stored)``, called as the backend really moves bytes. The
result holds ``url``, ``public_id``, ``bytes``, ``content_type`` and ``storage``;
``url`` is the file's lasting address, which works only with a signature: the
hub never hands it out as it is, only ``backend.link(...)`` (a signed link that
expires). Other plugins read a file with ``backend.read(...)``, not over a link.
A backend that fails raises :class:`StorageError` and leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, Protocol

from hub import Unavailable

from ..links import LinkSigner

Progress = Callable[[int], Coroutine[Any, Any, None]]


class StorageError(Unavailable):
    """The storage backend failed: ``unavailable``, 502 when a remote service refused, 503 otherwise."""

    def __init__(self, message: str, status: int = 503) -> None:
        super().__init__(message)
        self.status = status


class Storage(Protocol):
    """What every backend offers."""

    name: str
    #: The percent at which receiving ends and storing begins (see progress.py).
    split: int

    async def store(self, path: Path, name: str, content_type: str, progress: Progress) -> dict[str, Any]: ...

    def link(self, url: str, public_id: str, content_type: str) -> str:
        """A signed link to a stored file that expires (after the ``link_ttl`` setting)."""
        ...

    def read(self, url: str, public_id: str, content_type: str) -> AsyncIterator[bytes]:
        """The stored file's bytes, in chunks."""
        ...


def open_storage(config: Mapping[str, Any], data_dir: Path, signer: LinkSigner) -> Storage:
    """The backend named by ``config["storage"]``."""
    kind = str(config.get("storage", "local")).strip().lower()
    if kind == "local":
        from .local import LocalStorage

        return LocalStorage(config, data_dir, signer)
    if kind == "cloudinary":
        from .cloudinary import CloudinaryStorage

        return CloudinaryStorage(config, signer.ttl)
    raise ValueError(f"upload_progress: unknown storage {kind!r} (use local or cloudinary)")
