"""The plugin's settings: defaults, and the checked values the rest of the plugin reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAME = "doc_processing"
KIND = "doc"

DEFAULTS: dict[str, Any] = {
    "workers": 2,
    "lease_seconds": 60.0,
    "poll_interval": 1.0,
    "max_attempts": 3,
    "max_bytes": 50 * 1024 * 1024,
    "max_result_bytes": 1024 * 1024,
    "directory": "",
    "default_processor": "ocr",
    "external_processors": "verification",
    "keep_files": False,
    "retention_days": 7.0,
    "ocr": True,
    "tesseract_cmd": "tesseract",
    "pdftoppm_cmd": "pdftoppm",
    "pdfinfo_cmd": "pdfinfo",
    "language": "eng",
    "dpi": 150,
    "max_pages": 200,
    "page_timeout": 120.0,
}


@dataclass(frozen=True)
class Settings:
    """``[plugins.doc_processing]``, converted and checked (values from the environment arrive as strings)."""

    workers: int
    lease_seconds: float
    poll_interval: float
    max_attempts: int
    max_bytes: int
    max_result_bytes: int
    directory: Path
    default_processor: str
    external_processors: tuple[str, ...]
    keep_files: bool
    retention_days: float
    ocr: bool
    tesseract_cmd: str
    pdftoppm_cmd: str
    pdfinfo_cmd: str
    language: str
    dpi: int
    max_pages: int
    page_timeout: float


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"[plugins.{NAME}] {key} must be true or false, not {value!r}")


def _number(key: str, value: Any, kind: type, minimum: float) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"[plugins.{NAME}] {key} must be a number, not {value!r}") from None
    if number < minimum:
        raise ValueError(f"[plugins.{NAME}] {key} must be at least {minimum}, not {value!r}")
    return number


def _names(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def load(config: Mapping[str, Any], data_dir: str) -> Settings:
    """The checked settings; ``ValueError`` naming the key for a bad value (it stops the start-up)."""
    values = {**DEFAULTS, **config}
    directory = str(values["directory"] or "").strip()
    return Settings(
        workers=_number("workers", values["workers"], int, 0),
        lease_seconds=_number("lease_seconds", values["lease_seconds"], float, 0.5),
        poll_interval=_number("poll_interval", values["poll_interval"], float, 0.05),
        max_attempts=_number("max_attempts", values["max_attempts"], int, 1),
        max_bytes=_number("max_bytes", values["max_bytes"], int, 1),
        max_result_bytes=_number("max_result_bytes", values["max_result_bytes"], int, 1024),
        directory=(Path(directory) if directory else Path(data_dir) / "documents").resolve(),
        default_processor=str(values["default_processor"]).strip(),
        external_processors=_names(values["external_processors"]),
        keep_files=_bool("keep_files", values["keep_files"]),
        retention_days=_number("retention_days", values["retention_days"], float, 0),
        ocr=_bool("ocr", values["ocr"]),
        tesseract_cmd=str(values["tesseract_cmd"]),
        pdftoppm_cmd=str(values["pdftoppm_cmd"]),
        pdfinfo_cmd=str(values["pdfinfo_cmd"]),
        language=str(values["language"]),
        dpi=_number("dpi", values["dpi"], int, 50),
        max_pages=_number("max_pages", values["max_pages"], int, 1),
        page_timeout=_number("page_timeout", values["page_timeout"], float, 1),
    )
