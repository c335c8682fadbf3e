"""The plugin's settings: ``[plugins.doc_processing]``, converted and checked by the core's loader."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hub import config_defaults, load_plugin_config, setting

NAME = "doc_processing"
KIND = "doc"


@dataclass(frozen=True)
class Settings:
    """``[plugins.doc_processing]`` (values from the environment arrive as strings; the loader converts them)."""

    workers: int = setting(2, "In-hub workers processing jobs (0: only external workers).", minimum=0)
    lease_seconds: float = setting(60.0, "How long a claimed job is held without a report.", minimum=0.5)
    poll_interval: float = setting(1.0, "Seconds between two looks at the queue by an idle worker.", minimum=0.05)
    max_attempts: int = setting(3, "Claims of one job before it fails.", minimum=1)
    max_bytes: int = setting(50 * 1024 * 1024, "Largest document file.", minimum=1)
    max_result_bytes: int = setting(1024 * 1024, "Largest JSON-encoded result.", minimum=1024)
    directory: str = setting("", "Where document files are kept. Default: <data_dir>/documents.")
    default_processor: str = setting("ocr", "The processor of a job that names none.")
    external_processors: tuple[str, ...] = setting(
        ("verification",), "Processors that workers outside the hub run (comma-separated)."
    )
    keep_files: bool = setting(False, "Keep a document's file once its job completed.")
    retention_days: float = setting(7.0, "How long doc.status events are kept (0: no limit).", minimum=0)
    ocr: bool = setting(True, "Register the built-in ocr processor.")
    tesseract_cmd: str = setting("tesseract", "The Tesseract command.")
    pdftoppm_cmd: str = setting("pdftoppm", "poppler's pdftoppm command.")
    pdfinfo_cmd: str = setting("pdfinfo", "poppler's pdfinfo command.")
    language: str = setting("eng", "Tesseract's language(s).")
    dpi: int = setting(150, "Resolution pages are rendered at for OCR.", minimum=50)
    max_pages: int = setting(200, "Most pages read of one document.", minimum=1)
    page_timeout: float = setting(120.0, "Seconds one page's OCR may take.", minimum=1)

    @property
    def documents(self) -> Path:
        """The directory of the documents' files (``directory``, resolved by :func:`load`)."""
        return Path(self.directory)


DEFAULTS: dict[str, Any] = config_defaults(Settings)


def load(config: Mapping[str, Any], data_dir: str) -> Settings:
    """The checked settings; ``ConfigError`` naming the key for a bad value (it stops the start-up)."""
    settings = load_plugin_config(NAME, config, Settings)
    directory = Path(settings.directory.strip()) if settings.directory.strip() else Path(data_dir) / "documents"
    return replace(settings, directory=str(directory.resolve()))
