"""Every hook is documented and exercised (Datasette's test_plugin_hooks_are_documented / _have_tests).

A hook added to hub/hookspecs.py without a section in docs/plugins.md, or
without a plugin in the tests that implements it, fails here; so does the docs'
complete example drifting from the fixture plugin the tests run.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub import hookspecs

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs" / "plugins.md"
TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"


def hook_specs() -> dict[str, Callable[..., Any]]:
    """Every hook specification, by name: the functions pluggy marked with ``@hookspec``."""
    return {
        name: function
        for name, function in vars(hookspecs).items()
        if callable(function) and hasattr(function, "hub_spec")
    }


HOOKS = sorted(hook_specs())


def doc_headings() -> dict[str, str]:
    """``{hook name: heading text}`` for every Markdown heading that starts with a hook name."""
    headings = {}
    for line in DOCS.read_text().splitlines():
        match = re.match(r"^#{2,4}\s+`?(hub_[a-z_]+)(.*)$", line)
        if match:
            headings[match.group(1)] = match.group(1) + match.group(2).rstrip("`")
    return headings


def test_hookspecs_are_found() -> None:
    # Guards the two tests below against passing on an empty list.
    assert {"hub_startup", "hub_topic_kinds", "hub_requests", "hub_routes"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hook_is_documented(hook: str) -> None:
    headings = doc_headings()
    assert hook in headings, f"docs/plugins.md has no heading for the hook {hook}"
    # The heading shows the signature, and it must be the hook's current one.
    parameters = ", ".join(inspect.signature(hook_specs()[hook]).parameters)
    assert headings[hook] == f"{hook}({parameters})", (
        f"docs/plugins.md: the heading of {hook} should read {hook}({parameters})"
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hook_has_a_docstring(hook: str) -> None:
    assert inspect.getdoc(hook_specs()[hook]), f"hub/hookspecs.py: {hook} needs a docstring"


def implementations() -> set[str]:
    """Hooks implemented by a plugin under tests/ (``def hub_x(`` or ``async def hub_x(``, methods too)."""
    found = set()
    for path in TESTS.rglob("*.py"):
        if path.resolve() == Path(__file__).resolve():
            continue
        found.update(re.findall(r"^\s*(?:async )?def (hub_[a-z_]+)\(", path.read_text(), re.MULTILINE))
    return found


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hook_has_tests(hook: str) -> None:
    assert hook in implementations(), (
        f"no plugin under tests/ implements {hook}: add it to tests/fixtures/hub-echo-plugin "
        "and check what it does in tests/test_plugins.py"
    )


def test_echo_fixture_implements_every_hook() -> None:
    # The docs call the echo plugin the example of every hook; keep that true.
    source = (FIXTURES / "hub-echo-plugin" / "hub_echo.py").read_text()
    implemented = set(re.findall(r"^\s*(?:async )?def (hub_[a-z_]+)\(", source, re.MULTILINE))
    # Echo has no tables: a plugin with tables (tests/fixtures/hub_ledger) shows hub_migrations.
    assert implemented == set(HOOKS) - {"hub_migrations"}


@pytest.mark.parametrize(
    "relative", ["tests/fixtures/hub-echo-plugin/hub_echo.py", "tests/fixtures/hub-echo-plugin/pyproject.toml"]
)
def test_docs_example_is_the_tested_fixture(relative: str) -> None:
    docs = DOCS.read_text()
    marker = f"<!-- example: {relative} -->"
    assert marker in docs, f"docs/plugins.md should show {relative} after {marker}"
    block = re.match(r"\s*```[a-z]*\n(.*?)^```", docs.split(marker, 1)[1], re.DOTALL | re.MULTILINE)
    assert block is not None, f"no code block follows {marker}"
    assert block.group(1) == (ROOT / relative).read_text(), (
        f"the example in docs/plugins.md differs from {relative}: copy the file into the docs"
    )
