"""The hub as a package: a wheel built from the repository, installed into a new virtual environment.

The new environment sees the test environment's dependencies through a
``.pth`` path entry (a plain path: the editable install's finder there is not
activated), so nothing is downloaded, and the ``hub`` it imports is the
wheel's. There it migrates, serves and lists its plugins, and claims no
generic top-level name such as ``plugins``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from hub.testing import free_port

from .test_db_cli import BUILT_IN

ROOT = Path(__file__).parent.parent
# Repository folder -> the package it installs as.
INSTALLED_AS = {"hub": "hub", "plugins": "hub_plugins", "migrations": "hub_migrations"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the repository (setuptools writes build/ and *.egg-info into its source)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    source.mkdir()
    for name in ["pyproject.toml", "README.md"]:
        shutil.copy(ROOT / name, source / name)
    for folder in INSTALLED_AS:
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--wheel-dir", str(root / "dist"), str(source)],
        check=True, capture_output=True, timeout=300,
    )
    [built] = (root / "dist").glob("hub-*.whl")
    return built


def test_the_wheel_holds_every_module_under_the_hubs_own_names(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"hub", "hub_plugins", "hub_migrations", "hub-0.1.0.dist-info"}
    expected = {
        f"{INSTALLED_AS[folder]}/{path.relative_to(ROOT / folder).as_posix()}"
        for folder in INSTALLED_AS
        for path in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    # A package folder missing from pyproject.toml's `packages` list is missing here.
    assert sorted(expected - set(names)) == []
    assert {"hub_migrations/script.py.mako", "hub/py.typed", "hub/static/hub-client.js"} <= set(names)


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the wheel installed, seeing this one's dependencies."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    # Appended after the new environment's own site-packages: its hub comes first.
    Path(purelib, "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index",
         "--disable-pip-version-check", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )
    return root


def run_in(venv: Path, tmp_path: Path, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A command of the new environment, away from the repository and with no HUB_ setting of the test run."""
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(("HUB_", "PYTHONPATH", "VIRTUAL_ENV"))}
    environ.update(env)
    executable = str(venv / "bin" / command[0])
    return subprocess.run([executable, *command[1:]], cwd=tmp_path, env=environ, capture_output=True, text=True,
                          timeout=120)


def test_the_installed_hub_is_the_wheels_and_claims_no_generic_name(venv: Path, tmp_path: Path) -> None:
    found = run_in(venv, tmp_path, "python", "-c",
                   "import hub, hub_plugins.presence, hub_migrations; "
                   "print(hub.__file__, hub_plugins.presence.__file__, hub_migrations.__file__)")
    assert found.returncode == 0, found.stderr
    assert all(path.startswith(str(venv)) for path in found.stdout.split()), found.stdout
    refused = run_in(venv, tmp_path, "python", "-c", "import plugins")
    assert refused.returncode != 0 and "No module named 'plugins'" in refused.stderr


def test_the_installed_hub_migrates_lists_its_plugins_and_serves(venv: Path, tmp_path: Path) -> None:
    settings = {"HUB_DATA_DIR": str(tmp_path / "data"), "HUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"}
    upgraded = run_in(venv, tmp_path, "hub", "db", "upgrade", **settings)
    assert upgraded.returncode == 0, upgraded.stderr
    assert [line.split(":")[0] for line in upgraded.stdout.splitlines()] == ["hub", *BUILT_IN]
    assert all(line.endswith("(up to date)") for line in upgraded.stdout.splitlines())

    listed = run_in(venv, tmp_path, "hub", "plugins", **settings)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == BUILT_IN
    assert all(f"(hub_plugins.{name}" in listed.stdout for name in BUILT_IN)  # a module, or module:Class

    port = free_port()
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(("HUB_", "PYTHONPATH", "VIRTUAL_ENV"))}
    log = open(tmp_path / "serve.log", "wb")
    process = subprocess.Popen([str(venv / "bin" / "hub"), "serve", "--port", str(port)], cwd=tmp_path,
                               env={**environ, **settings}, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.1)
        assert health.status_code == 200 and health.json()["status"] == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        log.close()
