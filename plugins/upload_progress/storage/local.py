"""Local disk: files under ``<HUB_DATA_DIR>/uploads``, served at ``/api/upload_progress/files/<name>``.

That route serves a file to a signed link (``?expires=&sig=``, see links.py) or
to a bearer token of its uploader, an admin or a service; to nobody else.
"""

from __future__ import annotations

import asyncio
import logging
import errno
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from ..links import LinkSigner
from . import Progress, StorageError

logger = logging.getLogger("hub.upload_progress")
COPY_CHUNK = 1 << 20
FILES_PATH = "/api/upload_progress/files/"


def uploads_dir(config: Mapping[str, Any], data_dir: Path) -> Path:
    configured = str(config.get("directory") or "").strip()
    return Path(configured) if configured else data_dir / "uploads"


class LocalStorage:
    """Moves the received file into the uploads directory (copies it when that is another file system)."""

    name = "local"
    split = 99

    def __init__(self, config: Mapping[str, Any], data_dir: Path, signer: LinkSigner) -> None:
        self.directory = uploads_dir(config, data_dir)
        self.signer = signer

    def link(self, url: str, public_id: str, content_type: str) -> str:
        # Only the name is signed: a link stays valid when public_url changes the host.
        return f"{url}?{self.signer.query(public_id)}"

    async def read(self, url: str, public_id: str, content_type: str) -> AsyncIterator[bytes]:
        path = self.directory / public_id
        try:
            handle = await asyncio.to_thread(open, path, "rb")
        except OSError as exc:
            logger.error("local storage cannot read %s: %s", public_id, exc)
            raise StorageError("The stored file could not be read.") from None
        try:
            while chunk := await asyncio.to_thread(handle.read, COPY_CHUNK):
                yield chunk
        finally:
            handle.close()

    async def store(self, path: Path, name: str, content_type: str, progress: Progress) -> dict[str, Any]:
        size = path.stat().st_size
        target = self.directory / name
        loop = asyncio.get_running_loop()

        def report(done: int) -> None:
            asyncio.run_coroutine_threadsafe(progress(done), loop).result(timeout=30)

        try:
            await asyncio.to_thread(_move, path, target, report)
        except OSError as exc:
            logger.error("local storage failed for %s: %s", name, exc)
            target.unlink(missing_ok=True)
            raise StorageError("The file could not be stored.") from None
        return {
            "url": FILES_PATH + name,  # made absolute by the route
            "public_id": name,
            "bytes": size,
            "content_type": content_type,
            "storage": self.name,
        }


def _move(source: Path, target: Path, report: Any) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:  # another file system: copy instead
            raise
    partial = target.with_name(target.name + ".partial")
    try:
        with open(source, "rb") as reader, open(partial, "wb") as writer:
            done = 0
            while chunk := reader.read(COPY_CHUNK):
                writer.write(chunk)
                done += len(chunk)
                report(done)
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    source.unlink(missing_ok=True)
