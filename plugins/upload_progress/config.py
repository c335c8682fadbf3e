"""The plugin's settings: ``[plugins.upload_progress]`` or ``HUB_PLUGIN_UPLOAD_PROGRESS_<KEY>``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub import config_defaults, load_plugin_config, setting

NAME = "upload_progress"


@dataclass(frozen=True)
class UploadSettings:
    """The checked settings (converted by the core's :func:`hub.load_plugin_config`)."""

    storage: str = setting("local", "`local` or `cloudinary`.")
    max_bytes: int = setting(100 * 1024 * 1024, "Largest file.", minimum=1)
    allowed_types: tuple[str, ...] = setting(
        ("application/pdf", "image/png", "image/jpeg", "image/gif", "image/tiff", "image/webp"),
        "Accepted sniffed types, comma-separated (also text/plain).",
    )
    directory: str = setting("", "Local storage's directory. Default: <data_dir>/uploads.")
    public_url: str = setting("", "Base of local files' URLs. Default: the request's.")
    chunk_size: int = setting(6_000_000, "Cloudinary chunk size in bytes (Cloudinary's minimum is 5 MB).", minimum=1)
    resource_type: str = setting("auto", "Cloudinary resource type (auto, image, raw...).")
    folder: str = setting("", "Cloudinary folder prefixed to the public id.")
    progress_interval: float = setting(0.1, "Seconds between two progress ticks at least.", minimum=0)
    link_ttl: float = setting(900.0, "Seconds a signed file link (the url of upload.completed) works.", minimum=1)
    link_key: str = setting(
        "", "Key signing local files' links; the same in every hub process. Default: derived from the JWT secret."
    )


DEFAULTS: dict[str, Any] = config_defaults(UploadSettings)


def load(values: Mapping[str, Any]) -> UploadSettings:
    """The checked settings; ``ConfigError`` naming the key for a bad value (it stops the start-up)."""
    return load_plugin_config(NAME, values, UploadSettings)
