"""Development mode stays on loopback unless asked for by name (issue 15, item 8).

Development mode signs tokens with a generated secret and mints admin tokens
for loopback clients; behind a reverse proxy on the same machine every visitor
is a loopback client. The real ``hub serve`` runs in a subprocess here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hub.testing import free_port


def serve(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    clean.update({"HUB_DATA_DIR": str(tmp_path / "data"), "HUB_LOG_LEVEL": "warning", **env})
    return subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", *args], env=clean, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def wait_healthy(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail("the hub did not start")


def stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.terminate()
    return process.communicate(timeout=20)[0]


@pytest.mark.parametrize("how", ["flag", "env", "ipv6"])
def test_development_mode_is_refused_on_a_public_address(tmp_path: Path, how: str) -> None:
    port = str(free_port())
    if how == "flag":
        process = serve(tmp_path, "--host", "0.0.0.0", "--port", port)
    elif how == "env":
        process = serve(tmp_path, "--port", port, HUB_HOST="0.0.0.0")
    else:
        process = serve(tmp_path, "--host", "::", "--port", port)
    try:
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:  # it served: the bug
            process.kill()
            process.communicate()
    assert process.returncode != 0, output
    assert "development mode" in output and "HUB_JWT_SECRET" in output and "HUB_DEV=1" in output
    # It exited before listening.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)


def test_development_mode_asked_for_serves_a_public_address_with_a_loud_warning(tmp_path: Path) -> None:
    port = free_port()
    process = serve(tmp_path, "--host", "0.0.0.0", "--port", str(port), HUB_DEV="1")
    try:
        wait_healthy(process, port)
    finally:
        output = stop(process)
    assert "WARNING: DEVELOPMENT MODE ON '0.0.0.0'" in output
    assert "/api/dev/token" in output


def test_a_configured_secret_serves_a_public_address_without_a_warning(tmp_path: Path) -> None:
    port = free_port()
    process = serve(tmp_path, "--host", "0.0.0.0", "--port", str(port), HUB_JWT_SECRET="s" * 32)
    try:
        wait_healthy(process, port)
    finally:
        output = stop(process)
    assert "development mode" not in output.lower()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_development_mode_on_loopback_starts_as_before(tmp_path: Path, host: str) -> None:
    port = free_port()
    process = serve(tmp_path, "--host", host, "--port", str(port))
    try:
        wait_healthy(process, port)
    finally:
        output = stop(process)
    assert "development mode" in output and "WARNING" not in output
