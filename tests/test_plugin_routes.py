"""Plugins may serve exact /api/ paths the contract names, but never take one already served."""

from __future__ import annotations

from pathlib import Path

from tests.support import serve_with_plugin


def test_a_plugin_route_clashing_with_the_core_stops_start_up(tmp_path: Path) -> None:
    result = serve_with_plugin(tmp_path, "hub_route_thief", "thief")
    assert result.returncode != 0
    assert "thief" in result.stderr and "/api/publish" in result.stderr
    assert "Traceback" not in result.stderr
