"""Support code for the tests: fixture plugins made visible to a hub subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).parent


def plugin_site(target: Path, module: str, name: str, attr: str | None = None) -> Path:
    """A directory that, on a hub's PYTHONPATH, installs plugin ``name`` from ``module``.

    ``attr`` names a class plugin in the module (the entry point ``module:attr``).

    It holds the module and a minimal ``.dist-info`` with its entry point,
    which is all importlib.metadata needs to discover it: the same discovery
    path as a pip-installed distribution, without a build.
    """
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / f"{module}.py", target / f"{module}.py")
    info = target / f"{module}-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    target_name = f"{module}:{attr}" if attr else module
    (info / "entry_points.txt").write_text(f"[hub.plugins]\n{name} = {target_name}\n")
    return target


#: A ``sitecustomize`` turning only the seam's ``redis_broker_probe`` off: python-socketio's listener
#: task wrapped, doing the same work, so the check no longer finds ``_listen`` in its code and a hub on
#: Redis runs on python-socketio's own manager (:class:`hub.broker.PlainRedisManager`).
WITHOUT_REDIS_PROBE = """
from socketio import async_pubsub_manager

thread = async_pubsub_manager.AsyncPubSubManager._thread
async_pubsub_manager.AsyncPubSubManager._thread = lambda self: thread(self)
"""


def patch_site(target: Path, sitecustomize: str) -> Path:
    """A directory that, first on a hub's PYTHONPATH, runs ``sitecustomize`` before the hub starts.

    It changes a library the way an upgrade might, to make a seam check fail (:mod:`hub._compat`).
    """
    target.mkdir(parents=True, exist_ok=True)
    (target / "sitecustomize.py").write_text(textwrap.dedent(sitecustomize))
    return target


def with_site(site: Path) -> str:
    """A PYTHONPATH putting ``site`` first, keeping whatever the test run had."""
    return os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))


def serve_with_plugin(tmp_path: Path, module: str, name: str) -> subprocess.CompletedProcess[str]:
    """``hub serve`` with plugin ``name`` from ``module`` added, for a start-up that must fail (it exits)."""
    site = plugin_site(tmp_path / "site", module, name)
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    env.update(PYTHONPATH=with_site(site), HUB_JWT_SECRET="s", HUB_DATABASE_URL="memory://", HUB_DATA_DIR=str(tmp_path))
    # A serve that wrongly starts never exits by itself: the timeout fails the test.
    return subprocess.run([sys.executable, "-m", "hub", "serve", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=60)
