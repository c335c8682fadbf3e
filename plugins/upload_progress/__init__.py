"""upload_progress: streamed uploads to local disk or Cloudinary, with live progress on ``upload:<id>``.

- ``POST /api/uploads`` (multipart: optional ``upload_id``, then ``file``) streams
  the file to a temporary file, checks its size and its bytes' type, hands it to
  the configured storage, and publishes ``upload.started``, ``upload.progress``
  (receiving, then storing), and ``upload.completed`` or ``upload.failed``.
- ``upload:<upload_id>``: the uploader and admins only; subscribing to an id
  nobody owns claims it, so a client can listen before it sends the file. The
  snapshot is the upload's latest state, kept in the table
  ``upload_progress_uploads``: a late subscriber sees how it ended.
- ``GET /api/upload_progress/files/<name>``: files stored on local disk.

See docs/upload_progress.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub import TopicKind, hookimpl

from .routes import upload_routes
from .service import DEFAULTS, KIND, NAME, UploadService

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from hub import Hub, Settings

# One hub per process: the policy and snapshot need the hub, which only the later hooks receive.
service = UploadService()


@hookimpl
def hub_config_defaults() -> dict[str, Any]:
    return dict(DEFAULTS)


@hookimpl
def hub_topic_kinds(settings: Settings) -> list[TopicKind]:
    return [
        TopicKind(
            name=KIND,
            can_subscribe=service.can_subscribe,
            durable=False,  # progress ticks are ephemeral; the final state lives in the uploads table
            snapshot=service.snapshot,
            description="One upload's progress: the uploader and admins; snapshot = its latest state.",
        )
    ]


@hookimpl
def hub_routes(hub: Hub) -> list[BaseRoute]:
    return upload_routes(service)


@hookimpl
def hub_startup(hub: Hub) -> None:
    service.configure(hub)
    hub.services.provide(NAME, service)


__all__ = ["service"]
