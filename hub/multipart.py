"""Streaming ``multipart/form-data``: one file part straight to disk as it arrives, small fields in memory.

Starlette's ``request.form()`` spools the whole body before returning, which
leaves nothing to report progress on and no way to stop a body at a limit;
python-multipart's push parser is fed each chunk of ``request.stream()``
instead. Every limit is checked while the body streams in, and every error is a
:class:`~hub.errors.HubError` of the contract: :class:`TooLarge` past a size
limit, :class:`InvalidMessage` for anything malformed or out of bounds.

    limits = MultipartLimits(max_file_bytes=50 * 1024 * 1024)
    form = await receive_multipart(request, scratch / "incoming.part", limits)
    form.fields, form.filename, form.file_bytes   # the file is at form.path
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from .errors import InvalidMessage, TooLarge

if TYPE_CHECKING:
    from starlette.requests import Request


@dataclass(frozen=True)
class MultipartLimits:
    """What one body may hold; past any limit the receiver stops with the contract's error."""

    #: Bytes of the file part (:class:`TooLarge`).
    max_file_bytes: int
    #: Parts in the body, the file included (:class:`InvalidMessage`).
    max_parts: int = 16
    #: Bytes of each field other than the file (:class:`InvalidMessage`).
    max_field_bytes: int = 1024
    #: Bytes of the whole body, checked against ``Content-Length`` first (:class:`TooLarge`); None: no limit.
    max_body_bytes: int | None = None
    #: The name of the one part that is a file.
    file_field: str = "file"
    #: Fields that must come before the file (the receiver acts on them while the file streams).
    before_file: tuple[str, ...] = ()
    #: How many of the file's first bytes to keep in :attr:`MultipartReceiver.head` (to sniff its type).
    head_bytes: int = 0


#: ``await progress(receiver)`` after each chunk of the body: the receiver's counters are current.
Progress = Callable[["MultipartReceiver"], Awaitable[None]]


class MultipartReceiver:
    """Feed it a body chunk by chunk; it writes the file part to ``path`` and keeps the other fields.

    Errors surface from :meth:`feed` (and :meth:`finish`). :meth:`receive` drives
    a whole stream, with a progress callback.
    """

    def __init__(self, boundary: bytes, path: Path, limits: MultipartLimits, content_length: int | None = None) -> None:
        self.path = path
        self.limits = limits
        #: The body's declared length (``Content-Length``), when known.
        self.content_length = content_length
        self.trailer = len(b"\r\n--" + boundary + b"--\r\n")
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        #: The file part's own ``Content-Type`` header, as the client declared it.
        self.content_type: str | None = None
        self.file_started = False
        self.file_done = False
        self.file_bytes = 0
        self.body_bytes = 0
        #: Where the file's bytes begin in the body (to estimate its size from Content-Length).
        self.file_offset: int | None = None
        self.head = b""
        self.ended = False
        self._chunk_start = 0
        self._writer: IO[bytes] | None = None
        self._headers: dict[str, str] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._part: str | None = None
        self._value = bytearray()
        self._parts = 0
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        })

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], path: Path, limits: MultipartLimits) -> MultipartReceiver:
        """A receiver for a request with these headers; :class:`InvalidMessage` unless it is multipart/form-data."""
        media_type, params = parse_options_header(headers.get("content-type"))
        boundary = params.get(b"boundary")
        if media_type != b"multipart/form-data" or not boundary:
            raise InvalidMessage(f"Send multipart/form-data, with the file in a part named '{limits.file_field}'.")
        declared = headers.get("content-length")
        length = int(declared) if declared is not None and declared.isdigit() else None
        if limits.max_body_bytes is not None and length is not None and length > limits.max_body_bytes:
            raise TooLarge(_file_limit(limits))
        return cls(boundary, path, limits, length)

    @property
    def has_file(self) -> bool:
        return self.file_started

    async def receive(self, stream: AsyncIterable[bytes], progress: Progress | None = None,
                      require_file: bool = True) -> None:
        """Feed the whole ``stream``, awaiting ``progress(self)`` after each chunk, then :meth:`finish`.

        On any error the file is closed and deleted, and the error propagates;
        :attr:`ended` tells whether the body was read to its end.
        """
        try:
            async for chunk in stream:
                self.feed(chunk)
                if progress is not None:
                    await progress(self)
            self.finish(require_file)
        except BaseException:
            self.close()
            self.path.unlink(missing_ok=True)
            raise
        self.close()

    def feed(self, chunk: bytes) -> None:
        if self.ended:
            return  # an epilogue after the closing boundary means nothing
        self._chunk_start = self.body_bytes
        self.body_bytes += len(chunk)
        if self.limits.max_body_bytes is not None and self.body_bytes > self.limits.max_body_bytes:
            raise TooLarge(_file_limit(self.limits))
        try:
            self._parser.write(chunk)
        except MultipartParseError:
            raise InvalidMessage("The body is not valid multipart/form-data.") from None

    def finish(self, require_file: bool = True) -> None:
        """The body ended: it must have been complete (and, if ``require_file``, held the file)."""
        if not self.ended:
            raise InvalidMessage("The body ended before the multipart message was complete.")
        if require_file and not self.file_done:
            raise InvalidMessage(f"The body has no '{self.limits.file_field}' part.")

    def estimated_total(self, content_length: int | None = None) -> int | None:
        """The file's size as the body's length tells it (exact when the file is the last part)."""
        length = self.content_length if content_length is None else content_length
        if length is None or self.file_offset is None:
            return None
        return max(self.file_bytes, length - self.file_offset - self.trailer)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # python-multipart callbacks --------------------------------------------------

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > self.limits.max_parts:
            raise InvalidMessage(f"At most {self.limits.max_parts} parts are accepted.")
        self._headers, self._part, self._value = {}, None, bytearray()

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
        file_field = self.limits.file_field
        if self._part == file_field:
            if self.file_started:
                raise InvalidMessage(f"Send one '{file_field}' part.")
            filename = params.get(b"filename")
            self.filename = filename.decode("utf-8", "replace")[:500] if filename else None
            self.content_type = (self._headers.get("content-type") or "")[:255] or None
            self.file_started = True
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = open(self.path, "xb")
        elif self.file_started and self._part in self.limits.before_file:
            raise InvalidMessage(f"'{self._part}' must come before '{file_field}' in the body.")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        piece = data[start:end]
        if self._part != self.limits.file_field:
            if len(self._value) + len(piece) > self.limits.max_field_bytes:
                raise InvalidMessage(
                    f"Form fields other than '{self.limits.file_field}' are limited to {self.limits.max_field_bytes} bytes."
                )
            self._value.extend(piece)
            return
        if self.file_offset is None:
            self.file_offset = self._chunk_start + start
        self.file_bytes += len(piece)
        if self.file_bytes > self.limits.max_file_bytes:
            raise TooLarge(_file_limit(self.limits))
        if len(self.head) < self.limits.head_bytes:
            self.head += piece[: self.limits.head_bytes - len(self.head)]
        assert self._writer is not None
        self._writer.write(piece)

    def _part_end(self) -> None:
        if self._part == self.limits.file_field:
            self.close()
            self.file_done = True
        elif self._part is not None:
            try:
                self.fields[self._part] = bytes(self._value).decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidMessage(f"The field '{self._part}' is not UTF-8.") from None

    def _end(self) -> None:
        self.ended = True


async def receive_multipart(
    request: Request, path: Path, limits: MultipartLimits, progress: Progress | None = None, require_file: bool = True
) -> MultipartReceiver:
    """Stream a request's ``multipart/form-data`` body: the file to ``path``, the fields in memory.

    On an error nothing is left at ``path``. On success the file (if any) is
    there and the caller owns it.
    """
    receiver = MultipartReceiver.from_headers(request.headers, path, limits)
    await receiver.receive(request.stream(), progress, require_file)
    return receiver


def _file_limit(limits: MultipartLimits) -> str:
    # The body limit exists to bound the file: the client is told about the file.
    return f"Files are limited to {limits.max_file_bytes} bytes."


__all__ = ["MultipartLimits", "MultipartReceiver", "Progress", "receive_multipart"]
