"""One ``POST /api/uploads`` body, streamed through the core's multipart receiver.

The file part goes straight to disk (:class:`hub.MultipartReceiver`); small
fields (``upload_id``) are kept in memory. The upload begins when its file
does: by then ``upload_id`` (which must come first) is known, so the id is
claimed and ``upload.started`` sent while the bytes are still arriving, and each
chunk after that checks the type, the size, and reports progress.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from pathlib import Path

from hub import InvalidMessage, MultipartLimits, MultipartReceiver, Principal, TooLarge

from .service import Upload, UploadService
from .sniff import SNIFF_BYTES, sniff

MAX_PARTS = 16
FIELD_LIMIT = 1024
# Multipart headers and small fields around the file.
OVERHEAD_SLACK = 16 * 1024


class UnsupportedType(InvalidMessage):
    """The file's bytes are not of an allowed type (HTTP 415; the contract's code ``invalid_message``)."""

    status = 415


class UploadBody:
    """The body of one upload request; :meth:`receive` returns the upload and its checked content type."""

    def __init__(self, service: UploadService, principal: Principal, headers: Mapping[str, str], partial: Path) -> None:
        self.service = service
        self.principal = principal
        limits = MultipartLimits(
            max_file_bytes=service.max_bytes, max_parts=MAX_PARTS, max_field_bytes=FIELD_LIMIT,
            before_file=("upload_id",), head_bytes=SNIFF_BYTES,
        )
        self.form = MultipartReceiver.from_headers(headers, partial, limits)
        #: The upload, once its file began (None before: a failure then has no upload to fail).
        self.upload: Upload | None = None

    async def receive(self, stream: AsyncIterable[bytes]) -> tuple[Upload, str]:
        await self.form.receive(stream, self._progress)
        assert self.upload is not None  # the file is there, so the first tick began the upload
        return self.upload, self.check_type(final=True)

    async def _progress(self, form: MultipartReceiver) -> None:
        if self.upload is None and (form.file_offset is not None or form.file_done):
            self.upload = await self.service.begin(self.principal, form.fields.get("upload_id"), form.filename)
            await self.upload.started(form.estimated_total())
        if self.upload is not None:
            self.check_type(final=False)
            total = form.estimated_total()
            if total is not None and total > self.service.max_bytes + OVERHEAD_SLACK:
                raise TooLarge(f"Files are limited to {self.service.max_bytes} bytes.")
            self.service.received_bytes.inc(form.file_bytes - self.upload.received)
            self.upload.received = form.file_bytes
            await self.upload.reporter.update("receiving", form.file_bytes, total)

    def check_type(self, final: bool) -> str:
        """The sniffed content type once enough bytes are in; ``UnsupportedType`` if not allowed."""
        form = self.form
        if not final and len(form.head) < SNIFF_BYTES and not form.file_done:
            return ""
        content_type = sniff(form.head)
        allowed = self.service.allowed
        if content_type is None or content_type not in allowed:
            raise UnsupportedType(f"The file is not of an accepted type ({', '.join(sorted(allowed))}).")
        return content_type


__all__ = ["UnsupportedType", "UploadBody"]
