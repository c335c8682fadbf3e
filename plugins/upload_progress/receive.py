"""Streaming ``multipart/form-data``: the file part goes straight to disk as it arrives.

Starlette's ``request.form()`` spools the whole body before returning, which
leaves nothing to report progress on; python-multipart's push parser is fed
each chunk of ``request.stream()`` instead. Small fields (``upload_id``) are
kept in memory up to a few hundred bytes; the one ``file`` part never is.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from hub import InvalidMessage, TooLarge

from .sniff import SNIFF_BYTES

FIELD_LIMIT = 1024
MAX_FIELDS = 16
FILE_FIELD = "file"


class MultipartReceiver:
    """Feed it the body chunk by chunk; it writes the ``file`` part to ``path`` and keeps the other fields.

    Errors surface from :meth:`feed`: :class:`TooLarge` once the file passes
    ``max_bytes``, :class:`InvalidMessage` for a malformed body.
    """

    def __init__(self, boundary: bytes, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.trailer = len(b"\r\n--" + boundary + b"--\r\n")
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.file_started = False
        self.file_done = False
        self.file_bytes = 0
        #: Where the file's bytes begin in the body (to estimate its size from Content-Length).
        self.file_offset: int | None = None
        self.head = b""
        self.ended = False
        self._consumed = 0
        self._chunk_start = 0
        self._writer: IO[bytes] | None = None
        self._headers: dict[str, str] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._part: str | None = None
        self._value = bytearray()
        self._parts = 0
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": lambda data, start, end: self._header_field.extend(data[start:end]),
                "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    def feed(self, chunk: bytes) -> None:
        if self.ended:
            return  # an epilogue after the closing boundary means nothing
        self._chunk_start = self._consumed
        try:
            self._parser.write(chunk)
        except MultipartParseError:
            raise InvalidMessage("The body is not valid multipart/form-data.") from None
        self._consumed += len(chunk)

    def finish(self) -> None:
        """The body ended: it must have been complete and held a file."""
        if not self.ended:
            raise InvalidMessage("The body ended before the multipart message was complete.")
        if not self.file_done:
            raise InvalidMessage("The body has no 'file' part.")

    def estimated_total(self, content_length: int | None) -> int | None:
        """The file's size as the body's length tells it (exact when the file is the last part)."""
        if content_length is None or self.file_offset is None:
            return None
        return max(self.file_bytes, content_length - self.file_offset - self.trailer)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # python-multipart callbacks --------------------------------------------------

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_FIELDS:
            raise InvalidMessage(f"At most {MAX_FIELDS} parts are accepted.")
        self._headers = {}
        self._part = None
        self._value = bytearray()

    def _header_end(self) -> None:
        name = bytes(self._header_field).decode("latin-1").strip().lower()
        self._headers[name] = bytes(self._header_value).decode("latin-1").strip()
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.get("content-disposition"))
        name = params.get(b"name")
        if disposition != b"form-data" or name is None:
            raise InvalidMessage("Each part needs 'Content-Disposition: form-data; name=...'.")
        self._part = name.decode("utf-8", "replace")
        if self._part == FILE_FIELD:
            if self.file_started:
                raise InvalidMessage("Send one 'file' part per upload.")
            filename = params.get(b"filename")
            self.filename = filename.decode("utf-8", "replace")[:500] if filename else None
            self.file_started = True
            self._writer = open(self.path, "xb")
        elif self.file_started and self._part == "upload_id":
            raise InvalidMessage("'upload_id' must come before 'file' in the body.")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        piece = data[start:end]
        if self._part != FILE_FIELD or self.file_done:
            if len(self._value) + len(piece) > FIELD_LIMIT:
                raise InvalidMessage(f"Form fields other than 'file' are limited to {FIELD_LIMIT} bytes.")
            self._value.extend(piece)
            return
        if self.file_offset is None:
            self.file_offset = self._chunk_start + start
        self.file_bytes += len(piece)
        if self.file_bytes > self.max_bytes:
            raise TooLarge(f"Files are limited to {self.max_bytes} bytes.")
        if len(self.head) < SNIFF_BYTES:
            self.head += piece[: SNIFF_BYTES - len(self.head)]
        assert self._writer is not None
        self._writer.write(piece)

    def _part_end(self) -> None:
        if self._part == FILE_FIELD and not self.file_done:
            self.close()
            self.file_done = True
        elif self._part is not None and self._part != FILE_FIELD:
            try:
                self.fields[self._part] = bytes(self._value).decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidMessage(f"The field '{self._part}' is not UTF-8.") from None

    def _end(self) -> None:
        self.ended = True


def content_length(headers: Any) -> int | None:
    value = headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None
