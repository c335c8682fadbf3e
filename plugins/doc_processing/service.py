"""The documents service: submitting jobs, changing their status, and publishing every change.

It is also the Python API other code in the hub uses, as the service ``doc_processing``:
:meth:`DocumentService.register_processor` adds an in-hub processor, :meth:`submit`,
:meth:`get` and :meth:`update_status` work as the HTTP routes do.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from hub import Conflict, Forbidden, Hub, InvalidMessage, NotFound, Principal, Retention, Unavailable, load_plugin_config

from . import states
from .config import KIND, NAME, Settings
from .states import StatusUpdate
from .store import JobStore, public

log = logging.getLogger("hub.doc_processing")
CAS_RETRIES = 5
PROCESSOR_NAME = states.STAGE
NOTIFICATIONS_SERVICE = "notifications"


@dataclass(frozen=True)
class Job:
    """What an in-hub processor receives: one claimed document."""

    document_id: str
    owner: str
    processor: str
    path: Path | None
    filename: str | None
    content_type: str | None
    attempts: int
    worker: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        return cls(
            document_id=row["document_id"], owner=row["owner"], processor=row["processor"],
            path=Path(row["file_path"]) if row["file_path"] else None, filename=row["filename"],
            content_type=row["content_type"], attempts=row["attempts"], worker=row["worker"],
        )


@runtime_checkable
class Notifier(Protocol):
    """The ``notifications`` service, as far as this plugin uses it (the plugin is never imported)."""

    async def notify(
        self, users: Sequence[str], title: str, body: str, data: dict[str, Any] | None = None, id: str | None = None
    ) -> Mapping[str, Any]: ...


class NotHolder(Conflict):
    """A report on a job that another worker holds (this worker's lease ran out and it was taken over)."""

    default_message = "Another worker is processing this document."


#: ``await report(stage, progress=None, message=None)``: publish a processing status.
Report = Callable[..., Awaitable[None]]
#: ``async def process(job, report) -> dict``: the result of a completed job.
Processor = Callable[[Job, Report], Awaitable[dict[str, Any] | None]]


def retention(settings: Any, default_days: float) -> Retention:
    """The ``doc`` kind's retention, from the operator's ``retention_days`` (kinds are built before the config merges)."""
    # HUB_PLUGIN_DOC_PROCESSING_RETENTION_DAYS reaches the settings as section "doc", key "processing_retention_days".
    value = settings.plugin_config(NAME).get(
        "retention_days", settings.plugin_config("doc").get("processing_retention_days", default_days)
    )
    days = load_plugin_config(NAME, {"retention_days": value}, Settings).retention_days
    return Retention(max_age=days * 86400) if days > 0 else Retention()


class DocumentService:
    """Everything the hooks, routes and workers share; set up when the hub starts."""

    def __init__(self) -> None:
        self.hub: Hub | None = None
        self.store: JobStore | None = None
        self.settings: Settings | None = None
        self.processors: dict[str, Processor] = {}
        #: Set when a job is queued in this process, so idle workers start at once.
        self.wake = asyncio.Event()
        self._locks: dict[str, asyncio.Lock] = {}

    def configure(self, hub: Hub, settings: Settings, store: JobStore | None) -> None:
        self.hub = hub
        self.settings = settings
        self.store = store
        # asyncio primitives belong to one event loop: a new hub (in the same process) gets new ones.
        self.wake = asyncio.Event()
        self._locks = {}
        self.jobs = hub.metrics.counter(
            "hub_doc_processing_jobs_total", "Jobs submitted (queued) and finished (completed, failed) in this process.",
            ["state"],
        )
        settings.documents.mkdir(parents=True, exist_ok=True)

    def require_store(self) -> JobStore:
        if self.store is None:
            raise Unavailable("Document processing needs the hub's SQL database.")
        return self.store

    # Processors --------------------------------------------------------------------

    def register_processor(self, name: str, process: Processor) -> None:
        """Process jobs of ``name`` in this hub: ``async def process(job, report) -> dict | None``.

        ``report(stage, progress=None, message=None)`` publishes a processing status
        (and renews the job's lease); what ``process`` returns is the result of the
        completed job. A raised ``HubError`` fails the job with its code and message;
        any other exception fails it as ``internal``.
        """
        if not PROCESSOR_NAME.match(name):
            raise ValueError(f"processor name {name!r} must match {PROCESSOR_NAME.pattern}")
        self.processors[name] = process

    def known_processors(self) -> set[str]:
        assert self.settings is not None
        return set(self.processors) | set(self.settings.external_processors)

    # Jobs --------------------------------------------------------------------------

    async def submit(
        self, owner: str, path: Path, filename: str | None, content_type: str | None, processor: str | None = None
    ) -> dict[str, Any]:
        """Queue a job for ``owner`` on a file the service now owns (it moves under the documents directory)."""
        store, settings = self.require_store(), self.settings
        assert settings is not None and self.hub is not None
        name = processor or settings.default_processor
        if name not in self.known_processors():
            raise InvalidMessage(f"Unknown processor {name!r}; this hub has {', '.join(sorted(self.known_processors()))}.")
        document_id = str(uuid.uuid4())
        target = settings.documents / document_id
        await asyncio.to_thread(_move, path, target)
        try:
            row = await store.create({
                "document_id": document_id, "owner": owner, "processor": name, "state": states.QUEUED,
                "stage": "queued", "progress": 0.0, "message": None, "result": None, "error": None,
                "file_path": str(target), "filename": filename, "content_type": content_type,
            })
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        self.jobs.labels(states.QUEUED).inc()
        await self._publish(row)
        self.wake.set()
        return public(row)

    async def get(self, document_id: str) -> dict[str, Any] | None:
        """A job as ``GET /api/documents/{id}`` shows it, or None."""
        row = await self.require_store().get(document_id)
        return public(row) if row is not None else None

    async def readable(self, principal: Principal, document_id: str) -> dict[str, Any]:
        """The job if ``principal`` may see it (owner, admin, service); NotFound or Forbidden."""
        row = await self.require_store().get(document_id)
        if row is None:
            raise NotFound(f"No document {document_id}.")
        if not (row["owner"] == principal.user or principal.is_admin or principal.is_service):
            raise Forbidden("This document is not yours.")
        return row

    async def update_status(
        self, document_id: str, update: StatusUpdate | Mapping[str, Any], worker: str
    ) -> dict[str, Any]:
        """Apply a worker's status change (checked against the state machine) and publish it.

        ``update`` is a :class:`StatusUpdate` or the ``PUT .../status`` body as a dict.
        ``worker`` names who reports: a job being processed accepts reports only
        from the worker holding it (``Conflict`` otherwise); taking a queued job to
        ``processing`` makes ``worker`` its holder, with a lease.
        """
        assert self.settings is not None
        if isinstance(update, StatusUpdate):
            update = states.checked(update, self.settings.max_result_bytes)
        else:
            body = {key: value for key, value in update.items() if key != "worker"}
            update = states.parse_update(body, self.settings.max_result_bytes)
        store = self.require_store()
        async with self._lock(document_id):
            for _ in range(CAS_RETRIES):
                row = await store.get(document_id)
                if row is None:
                    raise NotFound(f"No document {document_id}.")
                if row["state"] == states.PROCESSING and row["worker"] not in (None, worker):
                    raise NotHolder()
                values = states.transition(row, update)
                if values["state"] == states.PROCESSING:
                    values["worker"] = worker
                    # A report renews the lease, never shortening one a claim asked to be longer.
                    renewed = time.time() + self.settings.lease_seconds
                    values["lease_until"] = max(renewed, row["lease_until"] or 0) if row["state"] == states.PROCESSING else renewed
                    if row["state"] == states.QUEUED:
                        values["attempts"] = row["attempts"] + 1
                elif values["state"] in states.FINAL:
                    values["lease_until"] = None
                changed = await store.change(row, values)
                if changed is not None:
                    await self._changed(changed)
                    return public(changed)
            raise Conflict("The document changed too often meanwhile; try again.")

    async def retry(self, document_id: str, message: str | None = None) -> dict[str, Any]:
        """Queue a failed job again (``Conflict`` unless it failed)."""
        return await self.update_status(document_id, StatusUpdate(states.QUEUED, message=message), worker="")

    async def claim(self, worker: str, processors: list[str], lease_seconds: float | None = None) -> dict[str, Any] | None:
        """Take the oldest queued job of ``processors`` for ``worker`` (with a lease), publishing it; or None."""
        assert self.settings is not None
        lease = lease_seconds or self.settings.lease_seconds
        row = await self.require_store().claim(worker, processors, lease)
        if row is not None:
            await self._publish(row)
        return row

    async def extend(self, document_id: str, worker: str, lease_seconds: float | None = None) -> bool:
        assert self.settings is not None
        return await self.require_store().extend(document_id, worker, lease_seconds or self.settings.lease_seconds)

    async def release(self, document_id: str, worker: str, message: str = "The hub stopped; queued again.") -> bool:
        """Give a job ``worker`` holds back to the queue at once (a worker stopping cleanly)."""
        store = self.require_store()
        async with self._lock(document_id):
            row = await store.get(document_id)
            if row is None or row["state"] != states.PROCESSING or row["worker"] != worker:
                return False
            changed = await store.change(row, states.requeued(message))
            if changed is None:
                return False
            await self._changed(changed)
        return True

    async def requeue_expired(self) -> int:
        """Put back in the queue the jobs whose worker stopped renewing its lease; how many moved.

        A job that already used ``max_attempts`` fails instead, so a document that
        kills its worker every time cannot take the workers down forever.
        """
        assert self.settings is not None
        store = self.require_store()
        moved = 0
        for row in await store.expired():
            if row["attempts"] >= self.settings.max_attempts:
                values = {
                    "state": states.FAILED, "message": None, "result": None, "worker": None, "lease_until": None,
                    "error": {"code": "unavailable",
                              "message": f"No worker finished this document in {row['attempts']} attempts."},
                }
            else:
                values = states.requeued("The worker stopped responding; queued again.")
            async with self._lock(row["document_id"]):
                changed = await store.change(row, values)
            if changed is not None:
                moved += 1
                log.warning("document %s: worker %s lost its lease; now %s", row["document_id"], row["worker"],
                            changed["state"])
                await self._changed(changed)
        if moved:
            self.wake.set()
        return moved

    # Publishing --------------------------------------------------------------------

    async def snapshot(self, principal: Principal, topic: str) -> dict[str, Any] | None:
        """A subscriber's snapshot of ``doc:<id>``: the latest status."""
        row = await self.require_store().get(topic.partition(":")[2])
        return states.status(row) if row is not None else None

    async def can_subscribe(self, principal: Principal, key: str) -> bool:
        """The owner and admins (an unknown id is refused like someone else's)."""
        if principal.is_admin:
            return True
        row = await self.require_store().get(key)
        return row is not None and row["owner"] == principal.user

    async def _publish(self, row: dict[str, Any]) -> None:
        assert self.hub is not None
        # The event id is the row's version: publishing one change twice stores it once.
        await self.hub.publish(
            f"{KIND}:{row['document_id']}", "doc.status", states.status(row), id=f"{row['document_id']}.{row['version']}"
        )

    async def _changed(self, row: dict[str, Any]) -> None:
        await self._publish(row)
        if row["state"] == states.QUEUED:
            self.wake.set()
        if row["state"] in states.FINAL:
            await self._finished(row)

    async def _finished(self, row: dict[str, Any]) -> None:
        assert self.hub is not None and self.settings is not None
        self.jobs.labels(row["state"]).inc()
        if row["state"] == states.COMPLETED and not self.settings.keep_files and row["file_path"]:
            Path(row["file_path"]).unlink(missing_ok=True)
        notifications = self.hub.services.get(NOTIFICATIONS_SERVICE, Notifier)
        if notifications is None:
            return
        name = row["filename"] or "Your document"
        if row["state"] == states.COMPLETED:
            title, body = "Document processed", f"{name} is ready."
        else:
            title, body = "Document processing failed", f"{name}: {(row['error'] or {}).get('message', 'failed')}"
        try:
            await notifications.notify(
                [row["owner"]], title, body,
                {"document_id": row["document_id"], "state": row["state"], "topic": f"{KIND}:{row['document_id']}"},
                id=f"doc-{row['document_id']}-{row['version']}",
            )
        except Exception:  # a notification is a courtesy: the job's outcome is already stored and published
            log.exception("document %s: the owner's notification failed", row["document_id"])

    def _lock(self, document_id: str) -> asyncio.Lock:
        # Orders one process's writes to a document so their events leave in version order.
        lock = self._locks.get(document_id)
        if lock is None:
            if len(self._locks) > 10_000:
                self._locks = {key: value for key, value in self._locks.items() if value.locked()}
            lock = self._locks[document_id] = asyncio.Lock()
        return lock


def _move(source: Path, target: Path) -> None:
    import shutil

    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(target))


__all__ = ["DocumentService", "Job", "NotHolder", "Processor", "Report", "retention"]
