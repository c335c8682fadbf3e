"""Every hook is documented and exercised (Datasette's test_plugin_hooks_are_documented / _have_tests).

A hook added to hub/hookspecs.py without a section in docs/plugins.md, or
without a plugin in the tests that implements it, fails here; so does either of
the docs' complete examples (the echo plugin, the stateful bookmarks plugin)
drifting from the fixture distribution the tests install and run.
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
    # Echo has no tables: a plugin with tables (tests/fixtures/hub_ledger) shows hub_migrations;
    # nor commands: tests/support/hub_clitest.py shows hub_cli_commands.
    assert implemented == set(HOOKS) - {"hub_migrations", "hub_cli_commands"}


def distribution_files(folder: Path) -> list[str]:
    """Every source file of a fixture distribution, relative to the repository (build artefacts left out)."""
    return sorted(
        path.relative_to(ROOT).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and not any(map(_artefact, path.relative_to(folder).parts))
    )


def _artefact(part: str) -> bool:
    """A path part that a build or a test run leaves (``build/``, ``*.egg-info``, caches)."""
    return part in ("build", "__pycache__") or part.endswith(".egg-info") or part.startswith(".")


# Each complete example of docs/plugins.md (its section's title) and the tested files it shows, all of them.
EXAMPLES = {
    "A complete example": [
        "tests/fixtures/hub-echo-plugin/pyproject.toml", "tests/fixtures/hub-echo-plugin/hub_echo.py",
    ],
    # The stateful plugin that tests/test_third_party_plugin.py installs and runs, and its
    # service's user: a file added to the distribution must be shown in the docs too.
    "A stateful plugin, complete": [
        *distribution_files(FIXTURES / "hub-bookmarks-plugin"), "tests/support/hub_bookmarks_reader.py",
    ],
}
SHOWN = [(title, relative) for title, files in EXAMPLES.items() for relative in files]


def section(title: str) -> str:
    """The text of the ``## <title>`` section of docs/plugins.md, up to the next ``## `` heading."""
    docs = DOCS.read_text()
    heading = f"\n## {title}\n"
    assert heading in docs, f"docs/plugins.md has no section '## {title}'"
    return docs.split(heading, 1)[1].split("\n## ", 1)[0]


def test_the_stateful_example_is_found() -> None:
    # Guards the parametrized test below against an empty or partial listing of the fixture.
    files = EXAMPLES["A stateful plugin, complete"]
    assert "tests/fixtures/hub-bookmarks-plugin/pyproject.toml" in files
    assert "tests/fixtures/hub-bookmarks-plugin/hub_bookmarks/migrations/bookmarks_0001_items.py" in files
    assert "tests/fixtures/hub-bookmarks-plugin/tests/test_bookmarks.py" in files


@pytest.mark.parametrize(("title", "relative"), SHOWN)
def test_docs_example_is_the_tested_fixture(title: str, relative: str) -> None:
    text = section(title)
    marker = f"<!-- example: {relative} -->"
    assert marker in text, f"docs/plugins.md should show {relative} after {marker}, in '## {title}'"
    block = re.match(r"\s*```[a-z]*\n(.*?)^```", text.split(marker, 1)[1], re.DOTALL | re.MULTILINE)
    assert block is not None, f"no code block follows {marker}"
    assert block.group(1) == (ROOT / relative).read_text(), (
        f"the example in docs/plugins.md differs from {relative}: copy the file into the docs"
    )


def test_every_example_in_the_docs_is_checked() -> None:
    # A marker naming a file no test compares would let that block drift unnoticed.
    markers = re.findall(r"<!-- example: (\S+) -->", DOCS.read_text())
    assert sorted(markers) == sorted(relative for _, relative in SHOWN)
