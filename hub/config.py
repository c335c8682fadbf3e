"""Configuration: environment variables, over an optional TOML file, over defaults.

Every setting has one name. In the environment it is ``HUB_<NAME>``; in the
TOML file (``HUB_CONFIG`` or ``hub serve --config``) it is ``<name>`` in lower
case at the top level. A plugin's own section is ``[plugins.<plugin>]`` in the
file and ``HUB_PLUGIN_<PLUGIN>_<KEY>`` in the environment.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "HUB_"
PLUGIN_ENV_PREFIX = "HUB_PLUGIN_"


class ConfigError(ValueError):
    """A setting has a value the hub cannot use; the message names it."""


def _setting(default: Any, help: str, kind: str = "str") -> Any:
    return field(default=default, metadata={"help": help, "kind": kind})


@dataclass(frozen=True)
class Settings:
    """Every core setting, with its default and the documentation shown in the README."""

    host: str = _setting("127.0.0.1", "Address `hub serve` listens on.")
    port: int = _setting(8000, "Port `hub serve` listens on.", "int")
    dev: bool = _setting(
        False,
        "Development mode: a generated secret kept in the data directory, localhost origins "
        "allowed, `hub token` works. On by default when no key or secret is configured, and then "
        "`hub serve` listens on a loopback address only; set it to 1 to serve development mode on "
        "another address anyway (warned about loudly at start-up).",
        "bool",
    )
    data_dir: str = _setting("./hub-data", "Directory for the SQLite file, uploads and the dev secret.")
    database_url: str = _setting(
        "", "SQLAlchemy URL of the event store. Default: `sqlite+aiosqlite:///<data_dir>/hub.db`."
    )
    jwt_secret: str = _setting("", "Shared secret for HS256/HS384/HS512 tokens.")
    jwt_algorithms: tuple[str, ...] = _setting(
        ("HS256",), "Comma-separated allowlist of JWT algorithms (HS256, RS256, ES256, ...).", "list"
    )
    jwt_public_key_file: str = _setting("", "PEM public key for RS*/ES* tokens.")
    jwt_jwks_file: str = _setting("", "JWKS file with the public keys for RS*/ES* tokens (chosen by `kid`).")
    jwt_audience: str = _setting("", "Required `aud` claim, when set.")
    jwt_issuer: str = _setting("", "Required `iss` claim, when set.")
    jwt_leeway: float = _setting(30.0, "Seconds of clock skew accepted on `exp`, `nbf` and `iat`.", "float")
    token_expiring_notice: float = _setting(
        60.0, "Seconds before `exp` at which `hub.token_expiring` is sent.", "float"
    )
    allowed_origins: tuple[str, ...] = _setting(
        (), "Comma-separated Origins allowed to connect; `*` allows any. Default: the hub's own origin "
        "(plus any localhost origin in development mode).", "list"
    )
    plugins: tuple[str, ...] | None = _setting(
        None, "Comma-separated plugins to enable. Default: every installed plugin.", "optlist"
    )
    max_message_bytes: int = _setting(65536, "Largest client request accepted (`too_large` above).", "int")
    rate_limit: float = _setting(50.0, "Client requests per second allowed per connection.", "float")
    rate_burst: int = _setting(100, "Requests a connection may send at once before `rate_limited`.", "int")
    ws_compression: bool = _setting(
        False, "Negotiate WebSocket per-message deflate (costs CPU per recipient).", "bool"
    )
    slow_consumer_bytes: int = _setting(
        4 * 1024 * 1024,
        "Slow-consumer limit on a websocket: bytes written for a connection that it has not read yet. "
        "Past it the connection is closed (it may reconnect and resume from its cursors); the others "
        "never wait for it.", "int"
    )
    slow_consumer_packets: int = _setting(
        10_000, "Slow-consumer limit on the queued path (long-polling): packets waiting for one connection.", "int"
    )
    ping_interval: float = _setting(25.0, "Engine.IO ping interval in seconds.", "float")
    ping_timeout: float = _setting(20.0, "Engine.IO ping timeout in seconds.", "float")
    retention_interval: float = _setting(
        60.0, "Seconds between two passes that drop events past their kind's retention.", "float"
    )
    log_level: str = _setting("info", "Log level: debug, info, warning, error.")
    redis_url: str = _setting(
        "", "Redis URL (`redis://host:6379/0`) shared by several hub processes: events fan out through it "
        "and presence lives in it. Unset: one process, everything in memory."
    )
    redis_prefix: str = _setting(
        "hub", "Prefix of the Redis channel and keys, so several hubs (or tests) can share one Redis."
    )
    instance_id: str = _setting(
        "", "Name of this hub process in logs and in the shared state. Default: host name and process id."
    )
    broker_probe_interval: float = _setting(
        1.0, "Seconds between two round trips through Redis that check the broker (with HUB_REDIS_URL).", "float"
    )
    max_subscriptions: int = _setting(
        1000, "Topics one connection may follow at once, its own inbox not counted; past it a subscribe is "
        "`limit_exceeded`. 0: no cap.", "int"
    )
    max_connections_per_user: int = _setting(
        100, "Connections one user may hold at once on this process (role `service` exempt); past it the "
        "handshake is refused with `limit_exceeded`. 0: no cap.", "int"
    )
    plugin_sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    generated_secret: bool = False
    #: Development mode was asked for (``HUB_DEV=1``, the file or a flag), not fallen back to for want of a key.
    dev_requested: bool = False

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{Path(self.data_dir).resolve() / 'hub.db'}"

    def plugin_config(self, plugin: str) -> Mapping[str, Any]:
        """The configuration section of one plugin (file section, then environment)."""
        return self.plugin_sections.get(plugin, {})

    def plugin_enabled(self, plugin: str) -> bool:
        return self.plugins is None or plugin in self.plugins


def _convert(name: str, kind: str, raw: Any) -> Any:
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            value = str(raw).strip().lower()
            if value in {"1", "true", "yes", "on"}:
                return True
            if value in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if kind in {"list", "optlist"}:
            items = raw if isinstance(raw, list) else str(raw).split(",")
            return tuple(str(item).strip() for item in items if str(item).strip())
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"HUB_{name.upper()}: cannot read {raw!r} as {kind}") from None


def _plugin_sections(file_sections: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    sections: dict[str, dict[str, Any]] = {
        name: dict(values) for name, values in file_sections.items() if isinstance(values, Mapping)
    }
    for key, value in environ.items():
        if not key.startswith(PLUGIN_ENV_PREFIX):
            continue
        rest = key[len(PLUGIN_ENV_PREFIX):].lower()
        # Plugin names may contain underscores, so match the longest known name first.
        known = sorted(sections, key=len, reverse=True)
        plugin = next((name for name in known if rest.startswith(name + "_")), None)
        if plugin is None:
            plugin, _, option = rest.partition("_")
        else:
            option = rest[len(plugin) + 1:]
        if option:
            sections.setdefault(plugin, {})[option] = value
    return sections


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
    **overrides: Any,
) -> Settings:
    """Read the settings: overrides (CLI flags), then environment, then the TOML file, then defaults."""
    environ = os.environ if environ is None else environ
    file_values: dict[str, Any] = {}
    path = config_file or environ.get("HUB_CONFIG")
    if path:
        try:
            file_values = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the config file {path}: {exc}") from None
    values: dict[str, Any] = {}
    for spec in fields(Settings):
        kind = spec.metadata.get("kind")
        if kind is None:
            continue
        env_name = ENV_PREFIX + spec.name.upper()
        if spec.name in overrides and overrides[spec.name] is not None:
            values[spec.name] = overrides[spec.name]
        elif env_name in environ:
            values[spec.name] = _convert(spec.name, kind, environ[env_name])
        elif spec.name in file_values:
            raw = file_values[spec.name]
            # `[plugins.<name>]` tables share the key `plugins` with the list of enabled
            # plugins: a table holds plugin sections (read below), not that list.
            if spec.name == "plugins" and isinstance(raw, Mapping):
                continue
            values[spec.name] = _convert(spec.name, kind, raw)
    file_plugins = file_values.get("plugins", {})
    # `plugins = [...]` (the enabled list) instead of `[plugins.<name>]` tables: no sections.
    values["plugin_sections"] = _plugin_sections(file_plugins if isinstance(file_plugins, Mapping) else {}, environ)
    values["dev_requested"] = bool(values.get("dev", False))
    settings = Settings(**values)
    return _with_dev_defaults(settings)


def _with_dev_defaults(settings: Settings) -> Settings:
    """With no key at all, fall back to development mode and a generated, persisted secret."""
    has_key = bool(settings.jwt_secret or settings.jwt_public_key_file or settings.jwt_jwks_file)
    if has_key and not settings.dev:
        return settings
    secret = settings.jwt_secret or dev_secret(settings.data_dir)
    return _replace(settings, dev=True, jwt_secret=secret, generated_secret=not settings.jwt_secret)


def is_loopback_host(host: str) -> bool:
    """Whether listening on ``host`` reaches this machine only (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:  # a host name, or "" (every interface): not known to be loopback
        return False


def dev_address_refusal(settings: Settings) -> str | None:
    """Why ``hub serve`` must not start on ``settings.host``, or ``None`` when it may.

    Development mode mints admin tokens for loopback clients (``/api/dev/token``)
    and signs them with a secret it generated itself. Behind a reverse proxy on the
    same machine every visitor looks like a loopback client, so on an address other
    machines reach, development mode is refused unless it was asked for by name.
    """
    if not settings.dev or settings.dev_requested or is_loopback_host(settings.host):
        return None
    return (
        f"refusing to start in development mode on {settings.host!r}, an address other machines can reach: "
        "no HUB_JWT_SECRET, HUB_JWT_PUBLIC_KEY_FILE or HUB_JWT_JWKS_FILE is configured, so the hub would "
        "sign tokens with a generated secret and give admin tokens to any client that looks local. "
        "Configure a secret (export HUB_JWT_SECRET=\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')\") "
        "or a public key, or listen on 127.0.0.1, or set HUB_DEV=1 to run development mode on this address anyway."
    )


def dev_address_warning(settings: Settings) -> str | None:
    """The start-up warning of development mode asked for (``HUB_DEV=1``) on a non-loopback address."""
    if not settings.dev or is_loopback_host(settings.host):
        return None
    return (
        f"WARNING: DEVELOPMENT MODE ON {settings.host!r}, AN ADDRESS OTHER MACHINES CAN REACH (HUB_DEV=1). "
        "Clients that look local (including every visitor behind a reverse proxy on this machine that "
        "does not set X-Forwarded-For) can mint admin tokens at /api/dev/token. "
        "Do not run this in production: configure HUB_JWT_SECRET or a public key and unset HUB_DEV."
    )


def dev_secret(data_dir: str) -> str:
    """The development secret kept in the data directory, created on first use.

    It is shared by ``hub serve`` and ``hub token`` so that minted tokens verify.
    """
    path = Path(data_dir) / "dev-secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret


def _replace(settings: Settings, **changes: Any) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)


def settings_reference() -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for each setting, for docs and ``--help``."""
    rows = []
    for spec in fields(Settings):
        if "help" not in spec.metadata:
            continue
        default = spec.default
        if isinstance(default, tuple):
            default = ",".join(default)
        rows.append((ENV_PREFIX + spec.name.upper(), "" if default is None else str(default), spec.metadata["help"]))
    return rows
