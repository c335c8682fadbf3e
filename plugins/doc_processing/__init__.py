"""doc_processing: document jobs (OCR, verification...) with live status on ``doc:<document_id>``.

- ``POST /api/documents`` queues a job on a new file or an upload; ``GET /api/documents/{id}``
  shows it; ``PUT /api/documents/{id}/status`` is how external workers (role service) report.
- ``doc:<document_id>``: the owner and admins; every ``doc.status`` is durable, and the
  snapshot is the latest status.
- The queue is the table ``doc_processing_jobs``: workers claim jobs with a compare-and-set
  and hold them with a lease, so several workers (in this hub, other hubs, or external
  services) never take the same job, and a dead worker's job is taken up again.
- Built-in processor ``ocr``: Tesseract and poppler, page by page.
- service ``doc_processing`` (``hub.services``): :class:`DocumentService` (``register_processor``...).

See docs/doc_processing.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub import ConsolePanel, TopicKind, Unavailable, hookimpl

from . import config
from .config import KIND, NAME
from .ocr import OcrProcessor
from .routes import document_routes
from .service import DocumentService, Job, NotHolder, retention
from .store import JobStore
from .workers import WorkerPool

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from hub import Hub, Settings

log = logging.getLogger("hub.doc_processing")



class DocProcessing:
    """The plugin, one instance per hub (the entry point names this class).

    The kind's policy and snapshot are the instance's service, and its worker
    pool runs on that hub only.
    """

    def __init__(self, hub: Hub) -> None:
        self.service = DocumentService()
        self.pool = WorkerPool(self.service)

    @staticmethod
    @hookimpl
    def hub_migrations() -> Path:
        # Static: `hub db` asks for the folder without building a hub.
        return Path(__file__).parent / "migrations"

    @staticmethod
    @hookimpl
    def hub_console_panels() -> list[ConsolePanel]:
        # The card on the console's demo page: console/panel.html and its module console/panel.js.
        return [ConsolePanel.in_folder(Path(__file__).parent / "console", id="documents", title="Document OCR", order=40)]

    @hookimpl
    def hub_config_defaults(self) -> dict[str, Any]:
        return dict(config.DEFAULTS)

    @hookimpl
    def hub_topic_kinds(self, settings: Settings) -> list[TopicKind]:
        return [
            TopicKind(
                name=KIND,
                can_subscribe=self.service.can_subscribe,
                durable=True,
                retention=retention(settings, config.DEFAULTS["retention_days"]),
                snapshot=self.service.snapshot,
                description="One document's processing status: its owner and admins; snapshot = the latest status.",
            )
        ]

    @hookimpl
    def hub_routes(self, hub: Hub) -> list[BaseRoute]:
        return document_routes(hub, self.service)

    # tryfirst: other plugins' hub_startup may register their processors on the service.
    @hookimpl(tryfirst=True)
    def hub_startup(self, hub: Hub) -> None:
        settings = config.load(hub.plugin_config(NAME), hub.settings.data_dir)
        try:
            store: JobStore | None = JobStore(hub.database)
        except Unavailable:
            log.warning("doc_processing: no SQL database (memory store); document routes answer 503")
            store = None
        self.service.configure(hub, settings, store)
        hub.services.provide(NAME, self.service)
        if settings.ocr:
            ocr = OcrProcessor(settings)
            for problem in ocr.problems():
                log.warning("doc_processing: %s", problem)
            self.service.register_processor("ocr", ocr)
        if store is not None and settings.workers > 0:
            self.pool.start(hub, settings.workers)

    @hookimpl
    async def hub_shutdown(self) -> None:
        await self.pool.stop()


__all__ = ["DocProcessing", "DocumentService", "Job", "NotHolder"]
