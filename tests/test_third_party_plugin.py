"""A third-party plugin distribution with state of its own, installed from its folder, next to the built-ins.

tests/fixtures/hub-bookmarks-plugin is a distribution as an author would ship
it (docs/plugins.md, "A stateful plugin, complete", shows every file of it): a
table and its Alembic branch, a configuration section, a service, a topic kind
whose snapshot reads the table, requests, a route and tests of its own written
with the hub's pytest plugin. It is pip-installed into a directory of its own
(``install_plugin``, as for the echo plugin) that reaches the hub's processes
only through their PYTHONPATH, migrated with ``hub db upgrade`` on SQLite and
on PostgreSQL, and used by real clients of a running hub that also runs the
four built-in plugins and tests/support/hub_bookmarks_reader.py, a second
plugin that uses the bookmarks service through a Protocol of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.testing import RunningHub, SocketRecorder

from .support import plugin_site
from .test_db_cli import branch_heads, hub_db
from .test_migrations import new_database, on_connection  # noqa: F401  (new_database: a fixture)
from .test_plugins import connect, install_plugin, run_hub_command, hub_env, with_path  # noqa: F401  (fixtures)

BUILT_IN = ["analytics", "doc_processing", "notifications", "presence", "upload_progress"]
MAX_PER_USER = 3  # the limit the shared hub is configured with


@pytest.fixture(scope="module")
def bookmarks_site(install_plugin: Callable[[str], Path]) -> Path:
    """The directory the bookmarks distribution was pip-installed into (``--target``)."""
    return install_plugin("bookmarks")


@pytest.fixture(scope="module")
def reader_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return plugin_site(tmp_path_factory.mktemp("reader"), "hub_bookmarks_reader", "reading")


def start(data_dir: Path, *sites: Path, **env: str) -> RunningHub:
    return RunningHub(data_dir, {"PYTHONPATH": with_path(*sites), **env}).start()


@pytest.fixture(scope="module")
def hub(bookmarks_site: Path, reader_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """One hub on a SQLite file with bookmarks, the reader and the built-ins; each test uses its own users."""
    running = start(tmp_path_factory.mktemp("bookmarks-hub"), bookmarks_site, reader_site,
                    HUB_PLUGIN_BOOKMARKS_MAX_PER_USER=str(MAX_PER_USER))
    yield running
    running.stop()


# Installed and migrated ------------------------------------------------------------------


def test_the_installed_distribution_is_listed_as_a_plugin(bookmarks_site: Path, tmp_path: Path) -> None:
    listed = run_hub_command(hub_env(tmp_path, bookmarks_site), "plugins")
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith("bookmarks "))
    assert line.split() == ["bookmarks", "enabled", "hub-bookmarks-plugin", "0.1.0", "(hub_bookmarks:Bookmarks)"]


async def test_hub_db_upgrade_migrates_the_plugins_branch_then_the_hub_serves_it(
    new_database: Callable[[], str], bookmarks_site: Path, tmp_path: Path, connect: Any
) -> None:
    url = new_database()
    site = {"PYTHONPATH": with_path(bookmarks_site)}
    before = hub_db(url, "current", **site)
    assert before.returncode == 0, before.stderr
    assert "bookmarks: none (needs bookmarks_0001: run `hub db upgrade`)" in before.stdout.splitlines()

    upgraded = hub_db(url, "upgrade", **site)
    assert upgraded.returncode == 0, upgraded.stderr
    heads = {**branch_heads(), "bookmarks": "bookmarks_0001"}
    expected = sorted(f"{branch}: {head} (up to date)" for branch, head in heads.items())
    assert sorted(upgraded.stdout.splitlines()) == expected
    current = hub_db(url, "current", **site)
    assert sorted(current.stdout.splitlines()) == expected

    def columns(connection: sa.Connection) -> list[str]:
        return [column["name"] for column in sa.inspect(connection).get_columns("bookmarks_items")]

    assert await on_connection(url, columns) == ["n", "user_id", "document", "title", "created_at"]

    # On PostgreSQL the hub refuses a schema it would have to migrate: it starts because
    # `hub db upgrade` did the work, and the plugin works on that database.
    hub = start(tmp_path / "hub", bookmarks_site, HUB_DATABASE_URL=url)
    try:
        alice = await connect(hub, "alice")
        added = await alice.call("bookmarks.add", {"document": "doc-1", "title": "Minutes"})
        assert added["ok"] is True and added["created"] is True, added
        reply = await alice.call("subscribe", {"topic": "bookmarks:alice"})
        assert reply["snapshot"] == {"bookmarks": [added["bookmark"]]}
    finally:
        hub.stop()

    def rows(connection: sa.Connection) -> list[tuple[Any, ...]]:
        return list(connection.execute(sa.text("SELECT user_id, document, title FROM bookmarks_items")))

    assert await on_connection(url, rows) == [("alice", "doc-1", "Minutes")]


def test_a_bad_setting_stops_the_start_naming_the_plugin_and_the_key(bookmarks_site: Path, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError) as failed:
        start(tmp_path / "hub", bookmarks_site, HUB_PLUGIN_BOOKMARKS_MAX_PER_USER="0")
    assert "plugin 'bookmarks': setting 'max_per_user' must be at least 1, got '0'" in str(failed.value)


# Against a running hub ---------------------------------------------------------------------


async def test_the_hub_runs_it_next_to_the_built_ins(hub: RunningHub, connect: Any) -> None:
    client = await connect(hub, "welcome")
    welcome = client.of_type("hub.welcome")[0]
    assert set(welcome["data"]["plugins"]) == {"bookmarks", "reading", *BUILT_IN}


async def test_a_request_publishes_live_and_the_next_connection_gets_the_snapshot(
    hub: RunningHub, connect: Any
) -> None:
    phone = await connect(hub, "ann")
    laptop = await connect(hub, "ann")
    assert (await laptop.call("subscribe", {"topic": "bookmarks:ann"}))["snapshot"] == {"bookmarks": []}

    added = await phone.call("bookmarks.add", {"document": "doc-7", "title": "Budget"})
    assert added["ok"] is True and added["created"] is True
    bookmark = added["bookmark"]
    assert bookmark["document"] == "doc-7" and bookmark["title"] == "Budget"
    event = (await laptop.wait_for("bookmark.added"))[0]
    assert event["topic"] == "bookmarks:ann" and event["data"] == bookmark
    assert event["meta"]["sender"] == "ann"

    await phone.close()
    await laptop.close()
    again = await connect(hub, "ann")
    assert (await again.call("subscribe", {"topic": "bookmarks:ann"}))["snapshot"] == {"bookmarks": [bookmark]}


async def test_the_snapshot_outlives_the_hub_process(bookmarks_site: Path, tmp_path: Path, connect: Any) -> None:
    first = start(tmp_path / "hub", bookmarks_site)
    try:
        alice = await connect(first, "alice")
        bookmark = (await alice.call("bookmarks.add", {"document": "doc-1"}))["bookmark"]
        await alice.close()
    finally:
        first.stop()
    second = start(tmp_path / "hub", bookmarks_site)  # the same SQLite file
    try:
        alice = await connect(second, "alice")
        reply = await alice.call("subscribe", {"topic": "bookmarks:alice"})
        assert reply["snapshot"] == {"bookmarks": [{**bookmark, "title": "doc-1"}]}
    finally:
        second.stop()


async def test_only_the_owner_and_admins_subscribe(hub: RunningHub, connect: Any) -> None:
    mallory = await connect(hub, "mallory")
    refused = await mallory.call("subscribe", {"topic": "bookmarks:bea"})
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden"
    published = await mallory.call("publish", {"topic": "bookmarks:mallory", "type": "bookmark.added", "data": {}})
    assert published["ok"] is False and published["error"]["code"] == "forbidden"
    admin = await connect(hub, "root", ("admin",))
    assert (await admin.call("subscribe", {"topic": "bookmarks:bea"}))["ok"] is True


async def test_errors_carry_the_contracts_codes(hub: RunningHub, connect: Any) -> None:
    cem = await connect(hub, "cem")
    for payload in ({}, {"document": ["x"]}, {"document": "d", "title": 5}, {"document": "d" * 201}):
        reply = await cem.call("bookmarks.add", payload)
        assert reply["ok"] is False and reply["error"]["code"] == "invalid_message", payload
    missing = await cem.call("bookmarks.remove", {"document": "never"})
    assert missing["ok"] is False and missing["error"]["code"] == "not_found"


async def test_the_configured_limit_is_a_conflict(hub: RunningHub, connect: Any) -> None:
    dan = await connect(hub, "dan")
    for n in range(MAX_PER_USER):
        assert (await dan.call("bookmarks.add", {"document": f"doc-{n}"}))["created"] is True
    full = await dan.call("bookmarks.add", {"document": "one-more"})
    assert full["ok"] is False and full["error"]["code"] == "conflict"
    # An existing bookmark is still answered, and removing one makes room.
    assert (await dan.call("bookmarks.add", {"document": "doc-0"}))["created"] is False
    assert (await dan.call("bookmarks.remove", {"document": "doc-0"}))["ok"] is True
    assert (await dan.call("bookmarks.add", {"document": "one-more"}))["created"] is True


async def test_the_route_lists_the_callers_bookmarks(hub: RunningHub, connect: Any) -> None:
    eve = await connect(hub, "eve")
    await eve.call("bookmarks.add", {"document": "doc-1", "title": "First"})
    await eve.call("bookmarks.add", {"document": "doc-2", "title": "Second"})
    async with hub.http() as http:
        mine = await http.get("/api/bookmarks/", headers={"authorization": f"Bearer {hub.token('eve')}"})
        anonymous = await http.get("/api/bookmarks/")
    assert mine.status_code == 200, mine.text
    assert mine.json()["user"] == "eve"
    assert [(b["document"], b["title"]) for b in mine.json()["bookmarks"]] == [("doc-1", "First"), ("doc-2", "Second")]
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "auth_required"


async def test_another_plugin_uses_the_service_through_its_protocol(hub: RunningHub, connect: Any) -> None:
    fay = await connect(hub, "fay")
    await fay.call("subscribe", {"topic": "bookmarks:fay"})
    reply = await fay.call("reading.pin", {"document": "doc-9"})
    assert reply == {"ok": True, "available": True, "created": True, "titles": ["Pinned: doc-9"]}
    # The service publishes whoever calls it: the subscriber sees the reader's bookmark live.
    event = (await fay.wait_for("bookmark.added"))[0]
    assert event["data"]["document"] == "doc-9" and event["data"]["title"] == "Pinned: doc-9"


async def test_without_the_bookmarks_plugin_the_reader_carries_on(
    bookmarks_site: Path, reader_site: Path, tmp_path: Path, connect: Any
) -> None:
    hub = start(tmp_path / "hub", bookmarks_site, reader_site, HUB_PLUGINS="reading,presence")
    try:
        gus = await connect(hub, "gus")
        assert await gus.call("reading.pin", {"document": "doc-1"}) == {"ok": True, "available": False}
        unknown = await gus.call("bookmarks.add", {"document": "doc-1"})
        assert unknown["ok"] is False
    finally:
        hub.stop()


async def test_the_built_ins_still_work_in_the_same_hub(hub: RunningHub, connect: Any) -> None:
    hal = await connect(hub, "hal")
    ida = await connect(hub, "ida")
    # presence: a room, its snapshot and the joined event.
    assert (await hal.call("subscribe", {"topic": "presence:lobby"}))["ok"] is True
    joined = await ida.call("subscribe", {"topic": "presence:lobby"})
    assert "hal" in [member["user"] for member in joined["snapshot"]["members"]]
    assert (await hal.wait_for("presence.joined", where=lambda event: event["data"]["user"] == "ida"))
    # notifications: a service's POST reaches the user's inbox live.
    async with hub.http() as http:
        created = await http.post("/api/notifications", headers=hub.headers(),
                                  json={"users": ["hal"], "title": "Hi", "body": "Bookmarks are in."})
    assert created.status_code == 201, created.text
    notified = (await hal.wait_for("notification.created"))[0]
    assert notified["topic"] == "user:hal" and notified["data"]["title"] == "Hi"


# The distribution's own tests ------------------------------------------------------------


def test_the_distributions_own_tests_pass_with_the_hubs_pytest_plugin(bookmarks_site: Path) -> None:
    # install_plugin copied the folder to <root>/src and installed it into <root>/site.
    source = bookmarks_site.parent / "src"
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
    env["PYTHONPATH"] = with_path(bookmarks_site)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=source, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout, result.stdout
