"""SIGKILL in the middle of editing: no acknowledged update is lost, and nothing is duplicated after reconnecting."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from hub.testing import start_hub
from tests.test_node_client import node  # noqa: F401  (fixture)

from .support import finish_node, start_node

pytestmark = pytest.mark.node


def test_sigkill_mid_editing_loses_no_acknowledged_update_and_duplicates_nothing(
        node: str, tmp_path: Path, database_url: str) -> None:  # noqa: F811
    hub = start_hub(tmp_path / "hub", {"HUB_DATABASE_URL": database_url})
    progress = tmp_path / "progress.json"
    script = start_node(hub, "collab_crash.mjs", COLLAB_DOCUMENT="statement", COLLAB_PROGRESS=str(progress),
                        TOKEN_A=hub.token("alice"), TOKEN_B=hub.token("bob"), COLLAB_EDITS="300")
    try:
        deadline = time.monotonic() + 30
        while True:  # kill once both editors have had a good number of updates acknowledged
            try:
                acked = json.loads(progress.read_text())["acked"]
                if min(acked) >= 40:
                    break
            except (OSError, ValueError, KeyError):
                pass
            assert time.monotonic() < deadline and script.poll() is None, "the editors never got going"
            time.sleep(0.02)
        hub.kill()
        hub.start()
        result = finish_node(script, hub)
    finally:
        if script.poll() is None:
            script.kill()
        hub.stop()
    tokens = re.findall(r"\[[ab]\d+\]", result["text"])
    assert result["reconnected"], "the hub was not killed while they were editing"
    assert result["text"] == result["stored"]
    assert "".join(tokens) == result["text"], "a token was split or mangled"
    assert len(tokens) == len(set(tokens)), "a token appears twice: content was duplicated"
    for acked in result["acked"]:
        assert len(acked) >= 40 and set(acked) <= set(tokens), "an acknowledged update was lost"
    # Typed offline or in flight at the kill: those come back with the resync too.
    assert set(tokens) == set(result["typed"][0]) | set(result["typed"][1])
