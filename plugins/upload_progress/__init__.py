"""upload_progress: streamed uploads to local disk or Cloudinary, with live progress on ``upload:<id>``.

- ``POST /api/uploads`` (multipart: optional ``upload_id``, then ``file``) streams
  the file to a temporary file, checks its size and its bytes' type, hands it to
  the configured storage, and publishes ``upload.started``, ``upload.progress``
  (receiving, then storing), and ``upload.completed`` or ``upload.failed``.
- ``upload:<upload_id>``: the uploader and admins only; subscribing to an id
  nobody owns claims it, so a client can listen before it sends the file. The
  snapshot is the upload's latest state, kept in the table
  ``upload_progress_uploads``: a late subscriber sees how it ended.
- ``GET /api/upload_progress/files/<name>``: files stored on local disk, to a
  signed link that expires (the ``url`` the plugin hands out) or to the
  uploader's, an admin's or a service's token; ``GET /api/upload_progress/uploads/<id>``
  gives the owner a fresh link.

See docs/upload_progress.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub import ConsolePanel, TopicKind, hookimpl

from .routes import upload_routes
from .service import DEFAULTS, KIND, NAME, UploadService

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from hub import Hub



class UploadProgress:
    """The plugin, one instance per hub (the entry point names this class).

    The kind's policy and snapshot are the instance's service, which
    ``hub_startup`` configures: each hub has its own.
    """

    def __init__(self, hub: Hub) -> None:
        self.service = UploadService()

    @staticmethod
    @hookimpl
    def hub_migrations() -> Path:
        # Static: `hub db` asks for the folder without building a hub.
        return Path(__file__).parent / "migrations"

    @staticmethod
    @hookimpl
    def hub_console_panels() -> list[ConsolePanel]:
        # The card on the console's demo page: console/panel.html and its module console/panel.js.
        return [ConsolePanel.in_folder(Path(__file__).parent / "console", id="upload", title="Upload", order=10)]

    @hookimpl
    def hub_config_defaults(self) -> dict[str, Any]:
        return dict(DEFAULTS)

    @hookimpl
    def hub_topic_kinds(self) -> list[TopicKind]:
        return [
            TopicKind(
                name=KIND,
                can_subscribe=self.service.can_subscribe,
                durable=False,  # progress ticks are ephemeral; the final state lives in the uploads table
                snapshot=self.service.snapshot,
                description="One upload's progress: the uploader and admins; snapshot = its latest state.",
            )
        ]

    @hookimpl
    def hub_routes(self) -> list[BaseRoute]:
        return upload_routes(self.service)

    @hookimpl
    def hub_startup(self, hub: Hub) -> None:
        self.service.configure(hub)
        hub.services.provide(NAME, self.service)


__all__ = ["UploadProgress", "UploadService"]
