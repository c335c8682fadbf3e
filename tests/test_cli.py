"""The `hub` command: help, development mode with no configuration, tokens, config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from hub.testing import RunningHub, SocketRecorder


def run_hub(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=60
    )


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run_hub("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("serve", "token", "plugins", "config"):
        assert command in result.stdout
    serve_help = run_hub("serve", "--help", cwd=tmp_path).stdout
    assert "--host" in serve_help and "--port" in serve_help


def test_config_lists_the_settings(tmp_path: Path) -> None:
    out = run_hub("config", cwd=tmp_path).stdout
    for name in ("HUB_JWT_SECRET", "HUB_DATABASE_URL", "HUB_ALLOWED_ORIGINS", "HUB_PLUGINS"):
        assert name in out


async def test_serve_with_no_configuration_is_dev_mode_and_hub_token_works(tmp_path: Path) -> None:
    # No HUB_* variable at all: the hub generates a secret in ./hub-data and
    # `hub token` run from the same directory signs with it.
    hub = RunningHub(tmp_path / "hub-data")
    hub.env = {"HUB_PORT": str(hub.port), "HUB_DATABASE_URL": os.environ.get("HUB_TEST_DATABASE_URL", "")}
    if not hub.env["HUB_DATABASE_URL"]:
        del hub.env["HUB_DATABASE_URL"]
    hub.cwd = tmp_path
    hub.start()
    try:
        assert (tmp_path / "hub-data" / "dev-secret").exists()
        minted = run_hub("token", "--sub", "alice", "--role", "admin", cwd=tmp_path)
        assert minted.returncode == 0, minted.stderr
        client = await SocketRecorder().connect(hub, minted.stdout.strip())
        welcome = (await client.wait_for("hub.welcome"))[0]["data"]
        await client.close()
        assert welcome["user"] == "alice" and welcome["roles"] == ["admin"]
        # The whole log: every plugin's migrations are logged after the line.
        assert "development mode" in hub.log_path.read_text()
        # It listens on localhost only.
        assert httpx.get(f"http://127.0.0.1:{hub.port}/api/health").status_code == 200
    finally:
        hub.stop()


def test_config_file_and_environment(tmp_path: Path) -> None:
    from hub.config import load_settings

    config = tmp_path / "hub.toml"
    config.write_text('jwt_secret = "from-file"\nport = 9001\nallowed_origins = ["https://a.example"]\n'
                      '[plugins.echo]\ngreeting = "hi"\n')
    settings = load_settings(environ={"HUB_PORT": "9002", "HUB_PLUGIN_ECHO_LOUD": "1"}, config_file=str(config))
    assert settings.jwt_secret == "from-file" and not settings.dev
    assert settings.port == 9002  # the environment wins over the file
    assert settings.allowed_origins == ("https://a.example",)
    assert settings.plugin_config("echo") == {"greeting": "hi", "loud": "1"}


def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    result = run_hub("serve", cwd=tmp_path, env={"HUB_PORT": "eighty", "HUB_JWT_SECRET": "s"})
    assert result.returncode != 0
    assert "HUB_PORT" in result.stderr and "Traceback" not in result.stderr
