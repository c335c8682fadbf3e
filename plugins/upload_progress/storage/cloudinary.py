"""Cloudinary, through the official SDK's chunked upload (``cloudinary.uploader.upload_large``).

Credentials come from ``CLOUDINARY_URL`` (``cloudinary://<key>:<secret>@<cloud>``),
which the SDK reads itself. ``upload_large`` has no progress callback, but it
reads the file one chunk at a time and reads the next chunk only after the
previous chunk's request succeeded: the file object handed to it reports, at
each read, the bytes Cloudinary has acknowledged so far. Progress is therefore
true, chunk by chunk.

Files are uploaded with delivery type ``authenticated``: their delivery URL
(``secure_url``) does not work without a signature. Links are Cloudinary's own
signed download URLs (``cloudinary.utils.private_download_url`` with
``expires_at``): Cloudinary checks the signature and the expiry itself, so the
file never passes through the hub. Another plugin reading a file gets its bytes
from such a link, fetched by this module.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from . import Progress, StorageError

logger = logging.getLogger("hub.upload_progress")
MIN_CHUNK = 5 * 1024 * 1024  # Cloudinary refuses smaller chunks (except the last)
DELIVERY_TYPE = "authenticated"
READ_TIMEOUT = 60.0


def _sdk() -> Any:
    try:
        import cloudinary
        import cloudinary.exceptions
        import cloudinary.uploader
    except ImportError:
        raise RuntimeError(
            'upload_progress: storage = cloudinary needs the cloudinary package (run "pip install cloudinary")'
        ) from None
    return cloudinary


def _resource_type(url: str) -> str:
    # A delivery URL reads .../<cloud>/<resource_type>/authenticated/...: the type Cloudinary chose for "auto".
    head, found, _ = url.partition(f"/{DELIVERY_TYPE}/")
    return head.rsplit("/", 1)[-1] if found else "image"


class CloudinaryStorage:
    """Chunked uploads to Cloudinary; ``chunk_size``, ``resource_type`` and ``folder`` from the configuration."""

    name = "cloudinary"
    split = 50  # storing sends every byte again

    def __init__(self, config: Mapping[str, Any], ttl: float) -> None:
        cloudinary = _sdk()
        self.utils = cloudinary.utils
        self.ttl = ttl
        if not os.environ.get("CLOUDINARY_URL") and not cloudinary.config().cloud_name:
            raise RuntimeError("upload_progress: storage = cloudinary needs CLOUDINARY_URL (cloudinary://key:secret@cloud)")
        self.uploader = cloudinary.uploader
        self.errors: tuple[type[BaseException], ...] = (cloudinary.exceptions.Error,)
        self.chunk_size = int(config.get("chunk_size", 6_000_000))
        if self.chunk_size < MIN_CHUNK:
            logger.warning("upload_progress: chunk_size %d is below Cloudinary's minimum of %d", self.chunk_size, MIN_CHUNK)
        self.resource_type = str(config.get("resource_type") or "auto")
        self.folder = str(config.get("folder") or "").strip("/")

    async def store(self, path: Path, name: str, content_type: str, progress: Progress) -> dict[str, Any]:
        loop = asyncio.get_running_loop()

        def report(done: int) -> None:
            asyncio.run_coroutine_threadsafe(progress(done), loop).result(timeout=30)

        public_id = name.rpartition(".")[0] if self.resource_type != "raw" else name
        if self.folder:
            public_id = f"{self.folder}/{public_id}"
        try:
            result = await asyncio.to_thread(self._upload, path, name, public_id, report)
        except self.errors as exc:
            logger.error("cloudinary refused %s: %s", name, exc)
            raise StorageError("The storage service refused the file.", status=502) from None
        except OSError as exc:
            logger.error("cloudinary upload of %s failed: %s", name, exc)
            raise StorageError("The storage service could not be reached.", status=502) from None
        if not isinstance(result, dict) or not result.get("secure_url"):
            logger.error("cloudinary gave no URL for %s: %r", name, result)
            raise StorageError("The storage service gave no URL for the file.", status=502)
        return {
            "url": result["secure_url"],
            "public_id": result.get("public_id", public_id),
            "bytes": path.stat().st_size,
            "content_type": content_type,
            "storage": self.name,
        }

    def _upload(self, path: Path, name: str, public_id: str, report: Callable[[int], None]) -> Any:
        with open(path, "rb") as raw:
            reader = AcknowledgedReads(raw, report)
            return self.uploader.upload_large(
                reader,
                chunk_size=self.chunk_size,
                resource_type=self.resource_type,
                public_id=public_id,
                filename=name,
                type=DELIVERY_TYPE,
            )

    def link(self, url: str, public_id: str, content_type: str) -> str:
        resource_type = _resource_type(url)
        # Cloudinary keeps a raw file's extension in its public id; other types take it as the format.
        extension = "" if resource_type == "raw" else _format(content_type)
        link: str = self.utils.private_download_url(
            public_id, extension, resource_type=resource_type, type=DELIVERY_TYPE,
            expires_at=math.ceil(time.time() + self.ttl),
        )
        return link

    async def read(self, url: str, public_id: str, content_type: str) -> AsyncIterator[bytes]:
        import httpx  # the hub's own dependency; only this path needs it

        try:
            async with httpx.AsyncClient(timeout=READ_TIMEOUT, follow_redirects=True) as client:
                async with client.stream("GET", self.link(url, public_id, content_type)) as response:
                    if response.status_code != 200:
                        logger.error("cloudinary refused to give %s: HTTP %d", public_id, response.status_code)
                        raise StorageError("The storage service refused to give the file.", status=502)
                    async for chunk in response.aiter_bytes():
                        yield chunk
        except httpx.HTTPError as exc:
            logger.error("cloudinary download of %s failed: %s", public_id, exc)
            raise StorageError("The storage service could not be reached.", status=502) from None


def _format(content_type: str) -> str:
    return content_type.rpartition("/")[2].replace("jpeg", "jpg").replace("plain", "txt")


class AcknowledgedReads(io.RawIOBase):
    """A file whose ``read`` first reports the bytes read before it.

    ``upload_large`` reads chunk n+1 only once chunk n's request returned, so at
    each read everything read earlier has reached the service.
    """

    def __init__(self, raw: io.BufferedReader, report: Callable[[int], None]) -> None:
        super().__init__()
        self.raw = raw
        self.report = report
        self.name = raw.name
        self._acknowledged = 0
        self._handed_out = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.raw.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.raw.seek(offset, whence)

    def read(self, size: int = -1) -> bytes:
        if self._handed_out > self._acknowledged:
            self._acknowledged = self._handed_out
            self.report(self._acknowledged)
        chunk = self.raw.read(size)
        self._handed_out += len(chunk)
        return chunk
