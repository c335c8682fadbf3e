"""What plugins share comes from the core, once: one JSON codec, one multipart parser.

Read with ``ast`` from the sources of ``hub/`` and ``plugins/``: a module that
imports orjson, the standard library's json or python-multipart itself, instead of
``hub.jsoncodec`` / ``hub.multipart`` (exported from ``hub``), fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*ROOT.joinpath("hub").rglob("*.py"), *ROOT.joinpath("plugins").rglob("*.py")])

#: A library, and the one module allowed to import it.
OWNERS = {
    "orjson": "hub/jsoncodec.py",
    "json": "hub/jsoncodec.py",
    "python_multipart": "hub/multipart.py",
    "multipart": "hub/multipart.py",
}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_sources_are_found() -> None:
    assert ROOT.joinpath("hub/jsoncodec.py") in SOURCES and ROOT.joinpath("hub/multipart.py") in SOURCES


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_a_shared_library_is_imported_by_its_one_owner(library: str) -> None:
    importers = sorted(
        str(path.relative_to(ROOT)) for path in SOURCES if library in imported_roots(path)
    )
    assert set(importers) <= {OWNERS[library]}, f"{library} is imported outside {OWNERS[library]}: {importers}"
