"""Helpers of the collab tests: running the Node scripts of tests/node against real hubs."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from hub.testing import RunningHub
from tests.test_node_client import NODE_DIR

SCRIPT_TIMEOUT = 90.0


def run_node(node: str, hub: RunningHub, script: str, timeout: float = SCRIPT_TIMEOUT, **env: str) -> dict[str, Any]:
    """Run ``tests/node/<script>`` with ``HUB_URL`` = ``hub``; the JSON object it printed."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    environ.update(HUB_URL=hub.url, NODE_TEST_TIMEOUT_MS=str(int(timeout * 1000 - 5000)), **env)
    completed = subprocess.run([node, script], cwd=NODE_DIR, env=environ, capture_output=True, text=True,
                               timeout=timeout)
    assert completed.returncode == 0, (
        f"{script} exited with {completed.returncode}\nstderr:\n{completed.stderr[-4000:]}\nhub log:\n{hub.log()}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def start_node(hub: RunningHub, script: str, **env: str) -> subprocess.Popen[str]:
    """Start ``tests/node/<script>`` in the background (for a test that kills the hub meanwhile)."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    environ.update(HUB_URL=hub.url, NODE_TEST_TIMEOUT_MS=str(int(SCRIPT_TIMEOUT * 1000 - 5000)), **env)
    return subprocess.Popen(["node", script], cwd=NODE_DIR, env=environ, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish_node(process: subprocess.Popen[str], hub: RunningHub, timeout: float = SCRIPT_TIMEOUT) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"exited with {process.returncode}\nstderr:\n{err[-4000:]}\nhub log:\n{hub.log()}"
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result
