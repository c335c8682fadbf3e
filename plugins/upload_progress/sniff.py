"""What a file is, from its first bytes: the client's Content-Type is never trusted."""

from __future__ import annotations

# Enough for every signature below (and a fair look at text).
SNIFF_BYTES = 512

EXTENSIONS = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/tiff": "tiff",
    "image/webp": "webp",
    "text/plain": "txt",
}

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


def sniff(head: bytes) -> str | None:
    """The content type that ``head`` (the file's first bytes) shows, or None if unknown."""
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature):
            return content_type
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head and _looks_like_text(head):
        return "text/plain"
    return None


def _looks_like_text(head: bytes) -> bool:
    # UTF-8 without control characters other than tab and line breaks; the sample
    # may end inside a multi-byte character.
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return all(ch >= " " or ch in "\t\r\n\f" for ch in text)


def parse_allowed(value: object) -> frozenset[str]:
    """The allowlist from configuration: a comma-separated string or a list."""
    items = value.split(",") if isinstance(value, str) else list(value or ())  # type: ignore[call-overload]
    allowed = frozenset(str(item).strip().lower() for item in items if str(item).strip())
    unknown = allowed - set(EXTENSIONS)
    if unknown:
        raise ValueError(f"upload_progress: allowed_types has types it cannot recognise: {sorted(unknown)}")
    return allowed
