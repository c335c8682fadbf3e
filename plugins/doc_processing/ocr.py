"""The built-in processor ``ocr``: Tesseract on images and PDFs, page by page.

PDF pages are rendered one at a time with poppler's ``pdftoppm`` and read by the
``tesseract`` command line, each in a subprocess with a time limit; progress is
reported after every page. Without Tesseract (or poppler, for PDFs) the job
fails at once with ``unavailable`` and says what is missing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hub import InvalidMessage, Unavailable

from .config import Settings
from .service import Job, Report

log = logging.getLogger("hub.doc_processing")
IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
PDF = "application/pdf"
PAGES = re.compile(rb"^Pages:\s+(\d+)\s*$", re.MULTILINE)
ERROR_OUTPUT = 300  # characters of a tool's stderr kept in the log (never shown to the user)


def sniff(head: bytes) -> str | None:
    """The type the file's first bytes show, among those the processor reads."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for signature, content_type in IMAGE_SIGNATURES:
        if head.startswith(signature):
            return content_type
    return None


class OcrProcessor:
    """``async def process(job, report)`` for the processor name ``ocr``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tesseract = shutil.which(settings.tesseract_cmd)
        self.pdftoppm = shutil.which(settings.pdftoppm_cmd)
        self.pdfinfo = shutil.which(settings.pdfinfo_cmd)

    def problems(self) -> list[str]:
        """What is missing, as a start-up warning would say it."""
        missing = []
        if self.tesseract is None:
            missing.append(f"tesseract is not installed ({self.settings.tesseract_cmd!r} not found; "
                           "install the Debian package tesseract-ocr): OCR jobs will fail")
        if self.pdftoppm is None or self.pdfinfo is None:
            missing.append("poppler is not installed (pdftoppm, pdfinfo; the Debian package poppler-utils): "
                           "OCR jobs on PDFs will fail")
        return missing

    async def __call__(self, job: Job, report: Report) -> dict[str, Any]:
        if self.tesseract is None:
            raise Unavailable("tesseract is not installed")
        if job.path is None or not job.path.is_file():
            raise Unavailable("The document's file is no longer on this server.")
        with open(job.path, "rb") as handle:
            kind = sniff(handle.read(16))
        if kind is None:
            raise InvalidMessage("OCR reads PDF, PNG, JPEG, TIFF, GIF, BMP and WebP files; this is none of them.")
        if kind != PDF:
            await report("ocr", 0, "Reading the image")
            text = await self._tesseract(job.path)
            await report("ocr", 100, "Page 1 of 1")
            return self._result([text])
        if self.pdftoppm is None or self.pdfinfo is None:
            raise Unavailable("poppler (pdftoppm) is not installed")
        await report("rendering", 0, "Counting pages")
        count = await self._page_count(job.path)
        if count > self.settings.max_pages:
            raise InvalidMessage(f"The PDF has {count} pages; OCR takes at most {self.settings.max_pages}.")
        texts: list[str] = []
        with tempfile.TemporaryDirectory(prefix="hub-ocr-") as scratch:
            for page in range(1, count + 1):
                image = await self._render(job.path, page, Path(scratch))
                texts.append(await self._tesseract(image))
                image.unlink(missing_ok=True)
                await report("ocr", round(page * 100 / count, 2), f"Page {page} of {count}")
        return self._result(texts)

    def _result(self, texts: list[str]) -> dict[str, Any]:
        pages = [{"page": number, "text": text} for number, text in enumerate(texts, start=1)]
        text = "\n\f".join(texts)
        # Whatever else the result holds, it stays within max_result_bytes: long text is cut, and says so.
        budget = self.settings.max_result_bytes // 2 - 1024
        truncated = len(text.encode()) > budget
        if truncated:
            text = text.encode()[:budget].decode(errors="ignore")
            pages = []
        return {"text": text, "pages": pages, "page_count": len(texts), "language": self.settings.language,
                "truncated": truncated}

    async def _page_count(self, path: Path) -> int:
        assert self.pdfinfo is not None
        output = await self._run([self.pdfinfo, str(path)], "pdfinfo")
        match = PAGES.search(output)
        if match is None:
            raise InvalidMessage("The PDF could not be read.")
        return int(match.group(1))

    async def _render(self, path: Path, page: int, scratch: Path) -> Path:
        assert self.pdftoppm is not None
        prefix = scratch / f"page-{page}"
        await self._run(
            [self.pdftoppm, "-r", str(self.settings.dpi), "-png", "-f", str(page), "-l", str(page), "-singlefile",
             str(path), str(prefix)],
            "pdftoppm",
        )
        image = prefix.with_suffix(".png")
        if not image.is_file():
            raise InvalidMessage(f"Page {page} of the PDF could not be rendered.")
        return image

    async def _tesseract(self, image: Path) -> str:
        assert self.tesseract is not None
        output = await self._run([self.tesseract, str(image), "-", "-l", self.settings.language], "tesseract")
        return output.decode(errors="replace").strip()

    async def _run(self, command: list[str], tool: str) -> bytes:
        process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), self.settings.page_timeout)
        except TimeoutError:
            await _kill(process)
            raise Unavailable(f"{tool} took longer than {self.settings.page_timeout:g} s on one page.") from None
        except BaseException:  # the job was cancelled: never leave the tool running
            await _kill(process)
            raise
        if process.returncode != 0:
            log.warning("%s exited with %s: %s", tool, process.returncode, stderr.decode(errors="replace")[:ERROR_OUTPUT])
            if tool == "tesseract" and b"Failed loading language" in stderr:
                raise Unavailable(f"Tesseract has no data for the language {self.settings.language!r}.")
            raise InvalidMessage(f"The document could not be read ({tool} failed).")
        return stdout


async def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
        await process.wait()
