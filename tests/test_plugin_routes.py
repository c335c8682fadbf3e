"""Plugins may serve exact /api/ paths the contract names, but never take one already served."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import plugin_site


def test_a_plugin_route_clashing_with_the_core_stops_start_up(tmp_path: Path) -> None:
    site = plugin_site(tmp_path / "site", "hub_route_thief", "thief")
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
               HUB_JWT_SECRET="s", HUB_DATABASE_URL="memory://", HUB_DATA_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "hub", "serve", "--port", "1"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "thief" in result.stderr and "/api/publish" in result.stderr
    assert "Traceback" not in result.stderr
