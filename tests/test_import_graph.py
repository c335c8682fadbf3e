"""The core's import graph has no cycle, counting every import.

Every module of ``hub/`` is read with ``ast``: each ``import`` and ``from ...
import`` anywhere in it (inside functions, under ``if TYPE_CHECKING:``) is an
edge, relative imports resolved. ``from . import name`` is an edge to the
module ``hub.name`` when there is one, else to the package. A cycle fails the
test, naming its modules in order.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "hub"


def module_names(root: Path = PACKAGE) -> dict[str, Path]:
    """``{"hub.streams": path, "hub": path/__init__.py, ...}`` for every module of the package."""
    modules = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of the package that ``name`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            # `import hub.x.y` imports hub.x.y; keep the longest prefix that is a module of ours.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None (an iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            following = next(stack[-1], None)
            if following is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(following) == 1:
                return [*path[path.index(following):], following]
            elif not state.get(following):
                state[following] = 1
                path.append(following)
                stack.append(iter(sorted(graph.get(following, ()))))
    return None


def test_the_core_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "hub/ has an import cycle: " + " -> ".join(cycle or [])


def test_the_reader_sees_every_kind_of_import() -> None:
    graph = import_graph()
    # Guards the test above against passing on a graph it failed to read:
    assert "hub.types" in graph["hub.hookspecs"]  # under TYPE_CHECKING
    assert "hub.broker" in graph["hub.server"]  # inside a function
    assert "hub.fastpath" in graph["hub.delivery"]  # `from . import fastpath`
    assert "hub.eventlog.base" in graph["hub.admin"]  # a subpackage's module


def test_types_is_a_leaf_of_data_types() -> None:
    # The shared types import no part of the hub's wiring, so any module may annotate with them.
    wiring = {"hub.hub", "hub.app", "hub.server", "hub.broker", "hub.delivery", "hub.plugins", "hub.hookcalls",
              "hub.requests", "hub.sessions", "hub.streams", "hub.hookspecs", "hub"}
    assert not import_graph()["hub.types"] & wiring


def test_a_cycle_is_found_and_named() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_relative_imports_resolve(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .sub import thing\n")
    (package / "one.py").write_text("def f():\n    from . import two\n")
    (package / "two.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub.deep import x\n")
    (package / "sub" / "__init__.py").write_text("thing = 1\n")
    (package / "sub" / "deep.py").write_text("from .. import one\n")
    modules = module_names(package)
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert graph == {"pkg": {"pkg.sub"}, "pkg.one": {"pkg.two"}, "pkg.two": {"pkg.sub.deep"},
                     "pkg.sub": set(), "pkg.sub.deep": {"pkg.one"}}
    assert find_cycle(graph) == ["pkg.one", "pkg.two", "pkg.sub.deep", "pkg.one"]
