"""The uploads service: who may follow ``upload:<id>``, what a subscriber sees, and one upload's run."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub import Conflict, HubError, InternalError, InvalidMessage, InvalidTopic, NotFound, Principal, Unavailable

from . import records as states
from .config import DEFAULTS, NAME, UploadSettings
from .config import load as load_settings
from .links import LinkSigner, link_key
from .progress import ProgressReporter
from .records import UploadRecords
from .sniff import EXTENSIONS, parse_allowed
from .storage import Storage, open_storage
from .storage.local import uploads_dir

if TYPE_CHECKING:
    from hub import Hub

KIND = "upload"
logger = logging.getLogger("hub.upload_progress")


@dataclass(frozen=True)
class UploadInfo:
    """One upload's latest state, as other plugins get it from the ``upload_progress`` service."""

    upload_id: str
    owner: str
    #: ``pending``, ``receiving``, ``storing``, ``completed`` or ``failed``.
    state: str
    filename: str | None
    content_type: str | None
    bytes: int | None
    storage: str | None
    #: A signed link to the file that expires (``link_ttl``); None until completed.
    url: str | None
    public_id: str | None
    #: ``{code, message}`` of a failed upload.
    error: dict[str, Any] | None
    created_at: str
    updated_at: str


def parse_upload_id(value: Any, error: type[HubError] = InvalidMessage) -> str:
    """An upload id: a UUID in its canonical lower-case form (so one upload has one topic)."""
    try:
        canonical = str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        canonical = None
    if canonical is None or canonical != value:
        raise error("An upload id is a UUID in lower case, like 3f2b9c1e-8d4a-4e7b-9a51-0c6d2e8f7a13.")
    return canonical


class UploadService:
    """Everything the plugin's hooks, policy and routes share; set up when the hub starts."""

    def __init__(self) -> None:
        self.hub: Hub | None = None
        self.records: UploadRecords | None = None
        self.storage: Storage | None = None
        #: The latest progress tick of each upload running in this process, for snapshots.
        self.in_flight: dict[str, dict[str, Any]] = {}

    def configure(self, hub: Hub) -> None:
        self.settings: UploadSettings = load_settings(hub.plugin_config(NAME))
        self.hub = hub
        self.max_bytes = self.settings.max_bytes
        self.allowed = parse_allowed(self.settings.allowed_types)
        self.interval = self.settings.progress_interval
        self.public_url = self.settings.public_url.rstrip("/")
        data_dir = Path(hub.settings.data_dir).resolve()
        # The storage backends read their keys from a mapping: the converted settings.
        section = asdict(self.settings)
        self.files_dir = uploads_dir(section, data_dir)
        self.partial_dir = self.files_dir / ".partial"
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        key = link_key(self.settings.link_key, hub.settings.jwt_secret, data_dir)
        self.signer = LinkSigner(key, self.settings.link_ttl)
        self.storage = open_storage(section, data_dir, self.signer)
        self.outcomes = hub.metrics.counter(
            "hub_upload_progress_uploads_total", "Uploads finished, by outcome: completed or failed.", ["outcome"]
        )
        self.stored_bytes = hub.metrics.counter("hub_upload_progress_stored_bytes_total", "Bytes of completed uploads.")
        self.received_bytes = hub.metrics.counter(
            "hub_upload_progress_received_bytes_total", "Bytes of files received (uploads under way included)."
        )
        self.in_progress = hub.metrics.gauge("hub_upload_progress_in_progress", "Uploads being received or stored here.")
        try:
            self.records = UploadRecords(hub.database)
        except Unavailable:
            # memory:// has no SQL database: the hub runs, uploads answer "unavailable".
            logger.warning("upload_progress: no SQL database, uploads are unavailable")

    def hub_required(self) -> Hub:
        assert self.hub is not None, "upload_progress: used before hub_startup"
        return self.hub

    def require_records(self) -> UploadRecords:
        if self.records is None:
            raise Unavailable("Uploads need the hub's SQL database.")
        return self.records

    async def get(self, upload_id: str) -> UploadInfo | None:
        """An upload's latest state (the topic's snapshot without live progress), or None.

        This is the service's API for other plugins (``hub.services``): an id
        that is not an upload id is simply not found.
        """
        if not isinstance(upload_id, str) or len(upload_id) > 64:
            return None
        row = await self.require_records().get(upload_id)
        return UploadInfo(**self.with_link(row)) if row is not None else None

    async def open(self, upload_id: str) -> AsyncIterator[bytes]:
        """The bytes of a completed upload's file, in chunks, from whichever storage keeps it.

        The service's API for plugins that use an upload (``hub.services``): they
        read the file here, never over its link. ``NotFound`` for an unknown or
        unfinished upload; the caller checks who may read it (see ``get``).
        """
        row = await self.require_records().get(upload_id) if isinstance(upload_id, str) else None
        if row is None or row["state"] != states.COMPLETED or not row["url"]:
            raise NotFound(f"No completed upload {upload_id}.")
        assert self.storage is not None
        async for chunk in self.storage.read(row["url"], row["public_id"], row["content_type"]):
            yield chunk

    def with_link(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row with a fresh signed link as ``url`` (the stored address is never handed out)."""
        if row.get("url") and row.get("state") == states.COMPLETED:
            assert self.storage is not None
            row = {**row, "url": self.storage.link(row["url"], row["public_id"], row["content_type"])}
        return row

    def may_read(self, principal: Principal, owner: str) -> bool:
        """The uploader, admins and services may read an upload's file and get links to it."""
        return principal.user == owner or principal.is_admin or principal.is_service

    # Topic policy and snapshot -----------------------------------------------------

    async def can_subscribe(self, principal: Principal, key: str) -> bool:
        """The owner and admins. An id nobody owns yet becomes the subscriber's (state ``pending``)."""
        upload_id = parse_upload_id(key, InvalidTopic)
        records = self.require_records()
        if principal.is_admin:
            return True
        owner = await records.owner(upload_id)
        if owner is None:
            owner = await records.claim_pending(upload_id, principal.user)
        return owner == principal.user

    async def snapshot(self, principal: Principal, topic: str) -> dict[str, Any] | None:
        upload_id = topic.partition(":")[2]
        row = await self.require_records().get(upload_id)
        if row is None:
            return None
        if upload_id in self.in_flight and row["state"] not in states.FINAL_STATES:
            row["progress"] = dict(self.in_flight[upload_id])
        return self.with_link(row)

    # One upload -------------------------------------------------------------------

    async def begin(self, principal: Principal, requested: str | None, filename: str | None) -> Upload:
        """Claim the upload's id (the client's, or a new one) and announce it."""
        upload_id = parse_upload_id(requested) if requested is not None else str(uuid.uuid4())
        if not await self.require_records().start(upload_id, principal.user, filename):
            raise Conflict(f"The upload id {upload_id} is already taken.")
        assert self.hub is not None and self.storage is not None
        return Upload(self, upload_id, principal.user, filename)

    def storage_name(self, content_type: str) -> str:
        return f"{uuid.uuid4().hex}.{EXTENSIONS[content_type]}"


class Upload:
    """One upload under way: its events and its row."""

    def __init__(self, service: UploadService, upload_id: str, owner: str, filename: str | None) -> None:
        assert service.hub is not None and service.storage is not None and service.records is not None
        self.service = service
        self.hub = service.hub
        self.records = service.records
        self.id = upload_id
        self.owner = owner
        self.filename = filename
        self.topic = f"{KIND}:{upload_id}"
        self.reporter = ProgressReporter(self._emit_progress, service.storage.split, service.interval)
        self.finished = False
        self.received = 0  # bytes counted in hub_upload_progress_received_bytes_total
        service.in_progress.inc()

    async def _emit_progress(self, data: dict[str, Any]) -> None:
        self.service.in_flight[self.id] = data
        await self.hub.publish(self.topic, "upload.progress", data)

    async def started(self, total: int | None) -> None:
        await self.hub.publish(
            self.topic, "upload.started", {"upload_id": self.id, "filename": self.filename, "total": total}
        )

    async def storing(self, size: int, content_type: str) -> None:
        await self.records.update(self.id, state=states.STORING, bytes=size, content_type=content_type)

    async def completed(self, stored: dict[str, Any]) -> str:
        """Record and announce the stored file; the signed link that ``upload.completed`` gave."""
        await self.records.update(
            self.id, state=states.COMPLETED, url=stored["url"], public_id=stored["public_id"], bytes=stored["bytes"],
            content_type=stored["content_type"], storage=stored["storage"],
        )
        self.finished = True
        self.service.in_progress.dec()
        self.service.in_flight.pop(self.id, None)
        self.service.outcomes.labels("completed").inc()
        self.service.stored_bytes.inc(stored["bytes"])
        assert self.service.storage is not None
        link = self.service.storage.link(stored["url"], stored["public_id"], stored["content_type"])
        await self.hub.publish(self.topic, "upload.completed", {**stored, "url": link})
        return link

    async def failed(self, error: BaseException) -> None:
        """Record and announce the failure; an unexpected error is reported as ``internal``, without detail."""
        if self.finished:
            return
        self.finished = True
        self.service.in_progress.dec()
        self.service.in_flight.pop(self.id, None)
        self.service.outcomes.labels("failed").inc()
        wire = (error if isinstance(error, HubError) else InternalError()).to_wire()
        try:
            await self.records.update(self.id, state=states.FAILED, error=wire)
        finally:
            await self.hub.publish(self.topic, "upload.failed", wire)


__all__ = ["DEFAULTS", "KIND", "NAME", "Upload", "UploadInfo", "UploadService", "parse_upload_id"]
