"""``hub <plugin> ...``: the commands plugins add with the ``hub_cli_commands`` hook."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import plugin_site, with_site


def hub(site: Path, *args: str, plugins: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    env["PYTHONPATH"] = with_site(site)
    if plugins is not None:
        env["HUB_PLUGINS"] = plugins
    return subprocess.run([sys.executable, "-m", "hub", *args], capture_output=True, text=True, env=env, timeout=60)


def test_a_plugin_adds_commands_under_its_name(tmp_path: Path) -> None:
    site = plugin_site(tmp_path / "site", "hub_clitest", "clitest")
    done = hub(site, "clitest", "greet", "--name", "ada")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello ada from clitest"
    listed = hub(site, "--help")
    assert "clitest" in listed.stdout and "serve" in listed.stdout
    # A disabled plugin adds no command.
    disabled = hub(site, "clitest", "greet", plugins="presence")
    assert disabled.returncode != 0 and "No such command" in disabled.stderr
