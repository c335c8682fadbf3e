"""Support code for the tests: fixture plugins made visible to a hub subprocess."""

from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).parent


def plugin_site(target: Path, module: str, name: str) -> Path:
    """A directory that, on a hub's PYTHONPATH, installs plugin ``name`` from ``module``.

    It holds the module and a minimal ``.dist-info`` with its entry point,
    which is all importlib.metadata needs to discover it: the same discovery
    path as a pip-installed distribution, without a build.
    """
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / f"{module}.py", target / f"{module}.py")
    info = target / f"{module}-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[hub.plugins]\n{name} = {module}\n")
    return target
