"""notifications storage on SQLite and PostgreSQL: the batch to 10,000 users, and retention."""

from __future__ import annotations

import time
from pathlib import Path

from hub.testing import start_hub

from .support import connect, eventually, mark_read, mine, notify


async def test_a_batch_to_10000_users_is_one_request(tmp_path: Path, database_url: str) -> None:
    hub = start_hub(tmp_path / "hub", env={"HUB_DATABASE_URL": database_url})
    try:
        online = await connect(hub, "user-9999")
        users = [f"user-{n}" for n in range(10_000)]
        body = {"users": users + users[:100], "title": "Maintenance", "body": "Tonight at 22:00", "id": "maint-1"}
        started = time.perf_counter()
        response = await notify(hub, body)
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.text
        assert response.json() == {"id": "maint-1", "users": 10_000, "created": 10_000}
        event = (await online.wait_for("notification.created"))[0]
        assert event["id"] == "maint-1" and event["data"]["title"] == "Maintenance"
        # A retry lands once: nothing new is stored or delivered.
        started = time.perf_counter()
        retry = await notify(hub, body)
        retry_elapsed = time.perf_counter() - started
        assert retry.status_code == 200 and retry.json()["created"] == 0
        for user in ("user-0", "user-5000", "user-9999"):
            page = await mine(hub, user)
            assert [item["id"] for item in page["items"]] == ["maint-1"] and page["unread"] == 1
        offline = await connect(hub, "user-1234")
        assert (await offline.wait_for("notification.created"))[0]["id"] == "maint-1"
        print(f"\n10,000-user batch on {database_url.split(':')[0]}: {elapsed:.2f}s, retry {retry_elapsed:.2f}s")
        await online.close()
        await offline.close()
    finally:
        hub.stop()


async def test_retention_deletes_old_read_notifications(tmp_path: Path, database_url: str) -> None:
    hub = start_hub(tmp_path / "hub", env={
        "HUB_DATABASE_URL": database_url,
        "HUB_PLUGIN_NOTIFICATIONS_READ_RETENTION_DAYS": "0.00001",  # under a second
        "HUB_PLUGIN_NOTIFICATIONS_RETENTION_INTERVAL": "0.2",
    })
    try:
        for name in ("old-read", "old-unread"):
            assert (await notify(hub, {"users": ["nina"], "title": name, "body": "", "id": name})).status_code == 201
        assert (await mark_read(hub, "nina", {"ids": ["old-read"]})).json() == {"read": 1, "unread": 1}

        async def read_one_is_gone() -> bool:
            return [item["id"] for item in (await mine(hub, "nina"))["items"]] == ["old-unread"]

        await eventually(read_one_is_gone)
        # Unread notifications stay (unread_retention_days defaults to 0: kept).
        assert (await mine(hub, "nina"))["unread"] == 1
    finally:
        hub.stop()


async def test_a_bad_setting_stops_the_start_up(tmp_path: Path) -> None:
    try:
        start_hub(tmp_path / "hub", env={"HUB_PLUGIN_NOTIFICATIONS_MAX_USERS": "many"})
    except RuntimeError as exc:
        assert "plugin 'notifications': setting 'max_users' must be a whole number, got 'many'" in str(exc)
    else:
        raise AssertionError("the hub started with max_users=many")


async def test_without_a_sql_database_the_routes_answer_503(tmp_path: Path) -> None:
    hub = start_hub(tmp_path / "hub", env={"HUB_DATABASE_URL": "memory://"})
    try:
        response = await notify(hub, {"users": ["olga"], "title": "t", "body": "b"})
        assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"
    finally:
        hub.stop()
