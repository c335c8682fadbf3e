"""A local stand-in for Cloudinary's upload API, enough for the SDK's chunked upload.

``POST /v1_1/<cloud>/<resource_type>/upload`` with ``Content-Range`` and
``X-Unique-Upload-Id``: the chunks are put together; the last one returns what
Cloudinary returns (``secure_url``, ``public_id``, ``bytes``...). It checks the
request's signature as Cloudinary does, so the SDK really signs with the key and
secret of ``CLOUDINARY_URL``. ``fail = True`` answers every request with a 500.

``GET /v1_1/<cloud>/<resource_type>/download?public_id=&format=&type=&expires_at=&timestamp=&api_key=&signature=``
is Cloudinary's signed download of a private or authenticated asset (what
``cloudinary.utils.private_download_url`` makes): the file's bytes for a good
signature before ``expires_at``, 401 for a bad signature and 403 once expired.
An asset uploaded with ``type=authenticated`` has no other way out.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from python_multipart import parse_form

CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
CLOUD, KEY, SECRET = "democloud", "123456789", "shh-secret"


@dataclass
class Assembly:
    chunks: dict[int, bytes] = field(default_factory=dict)
    acknowledged: int = 0  # bytes answered with 200


class CloudinaryStandIn:
    """Runs in a thread on a loopback port; ``url`` is what ``CLOUDINARY_URL`` needs."""

    def __init__(self, delay: float = 0.15) -> None:
        self.delay = delay  # per chunk, as a real network would take
        self.fail = False
        self.uploads: dict[str, Assembly] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                standin.handle(self)

            def do_GET(self) -> None:  # noqa: N802
                standin.download(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    @property
    def url(self) -> str:
        return f"cloudinary://{KEY}:{SECRET}@{CLOUD}?upload_prefix={self.api}"

    def start(self) -> CloudinaryStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def acknowledged(self) -> int:
        """Bytes acknowledged so far over every upload (for checks made as events arrive)."""
        with self.lock:
            return sum(assembly.acknowledged for assembly in self.uploads.values())

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        fields: dict[str, str] = {}
        file_parts: list[bytes] = []

        def on_field(item: Any) -> None:
            fields[item.field_name.decode()] = (item.value or b"").decode()

        def on_file(item: Any) -> None:
            item.file_object.seek(0)
            file_parts.append(item.file_object.read())
            item.close()  # python-multipart spools big parts to a temporary file

        headers = {"Content-Type": request.headers["Content-Type"], "Content-Length": request.headers["Content-Length"]}
        parse_form(headers, request.rfile, on_field, on_file)
        match = re.match(rf"^/v1_1/{CLOUD}/(\w+)/upload$", request.path)
        content_range = CONTENT_RANGE.match(request.headers.get("Content-Range", ""))
        upload_id = request.headers.get("X-Unique-Upload-Id", "")
        with self.lock:
            self.requests.append({"path": request.path, "range": request.headers.get("Content-Range"), "fields": fields})
        if self.fail:
            return self._reply(request, 500, {"error": {"message": "General Error"}})
        if match is None or content_range is None or not upload_id or len(file_parts) != 1:
            return self._reply(request, 400, {"error": {"message": "Bad chunked upload"}})
        if not self._signed(fields):
            return self._reply(request, 401, {"error": {"message": "Invalid Signature"}})
        start, end, total = (int(group) for group in content_range.groups())
        chunk = file_parts[0]
        if len(chunk) != end - start + 1:
            return self._reply(request, 400, {"error": {"message": "Chunk size does not match Content-Range"}})
        time.sleep(self.delay)
        resource_type = "image" if match.group(1) == "auto" else match.group(1)
        delivery = fields.get("type") or "upload"
        public_id = fields.get("public_id") or upload_id
        with self.lock:
            assembly = self.uploads.setdefault(upload_id, Assembly())
            assembly.chunks[start] = chunk
            assembly.acknowledged += len(chunk)
            received = sum(len(part) for part in assembly.chunks.values())
        if received < total:
            return self._reply(request, 200, {"done": False, "public_id": public_id, "bytes": received})
        data = b"".join(assembly.chunks[offset] for offset in sorted(assembly.chunks))
        result = {
            "public_id": public_id,
            "resource_type": resource_type,
            "type": delivery,
            "bytes": len(data),
            "secure_url": f"https://res.cloudinary.test/{CLOUD}/{resource_type}/{delivery}/{public_id}",
            "url": f"http://res.cloudinary.test/{CLOUD}/{resource_type}/{delivery}/{public_id}",
            "sha256": hashlib.sha256(data).hexdigest(),
            "done": True,
        }
        with self.lock:
            self.results[public_id] = result
            self.files[f"{resource_type}/{delivery}/{public_id}"] = data
        self._reply(request, 200, result)

    def download(self, request: BaseHTTPRequestHandler) -> None:
        address = urlsplit(request.path)
        fields = dict(parse_qsl(address.query))
        match = re.match(rf"^/v1_1/{CLOUD}/(\w+)/download$", address.path)
        if match is None:
            return self._reply(request, 404, {"error": {"message": "Not found"}})
        if not self._signed(fields):
            return self._reply(request, 401, {"error": {"message": "Invalid Signature"}})
        if not fields.get("expires_at", "").isdigit() or int(fields["expires_at"]) <= time.time():
            return self._reply(request, 403, {"error": {"message": "Expired"}})
        with self.lock:
            data = self.files.get(f"{match.group(1)}/{fields.get('type') or 'upload'}/{fields.get('public_id')}")
        if data is None:
            return self._reply(request, 404, {"error": {"message": "Resource not found"}})
        request.send_response(200)
        request.send_header("Content-Type", "application/octet-stream")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    @staticmethod
    def _signed(fields: dict[str, str]) -> bool:
        signed = {key: value for key, value in fields.items() if key not in {"file", "api_key", "signature", "resource_type"}}
        payload = "&".join(f"{key}={signed[key]}" for key in sorted(signed) if signed[key]) + SECRET
        return fields.get("api_key") == KEY and fields.get("signature") == hashlib.sha1(payload.encode()).hexdigest()

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(raw)))
        request.end_headers()
        request.wfile.write(raw)
