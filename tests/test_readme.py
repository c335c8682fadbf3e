"""The README's quick start works as written, from a fresh clone, in a new virtual environment."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from hub.testing import SocketRecorder, RunningHub, free_port

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def shell_blocks() -> list[str]:
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", README, re.DOTALL)]


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one() -> None:
    serve, test = shell_blocks()[:2]
    assert serve.endswith("hub serve") and "venv" in serve
    assert test == "./scripts/test.sh"
    assert "./scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


async def test_the_serve_command_works_from_a_fresh_clone(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the project's git repository to clone")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    serve = shell_blocks()[0]
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HUB_", "VIRTUAL_ENV", "PYTHONPATH"))}
    # Only the port differs from the README: 8000 may be taken on a test machine.
    env["HUB_PORT"] = str(port)
    log = open(tmp_path / "serve.log", "wb")
    process = subprocess.Popen(["bash", "-c", serve], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 300  # includes creating the venv and installing the dependencies
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the hub did not start:\n" + (tmp_path / "serve.log").read_text()[-3000:])
        # Development mode: `hub token` in the same directory mints a token the hub accepts.
        token = subprocess.run([str(clone / ".venv" / "bin" / "hub"), "token", "--sub", "alice"], cwd=clone, env=env,
                               capture_output=True, text=True, check=True, timeout=60).stdout.strip()
        hub = RunningHub(tmp_path, port=port)
        client = await SocketRecorder().connect(hub, token)
        assert (await client.wait_for("hub.welcome"))[0]["data"]["user"] == "alice"
        await client.close()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        log.close()


def test_readme_documents_every_setting() -> None:
    from hub.config import settings_reference

    missing = [env for env, _, _ in settings_reference() if f"`{env}`" not in README]
    assert not missing, f"README.md's configuration table lacks {missing}"
