"""Reminders before an appointment, sent once each although two hub processes (on Redis and one
PostgreSQL database) both watch for them; the booking's own notifications too."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from hub.testing import RunningHub, start_hub
from tests.support.cluster import Pair, eventually, metric

from .support import ALL_WEEK, direct, lawyer, rfc3339


async def notifications(hub: RunningHub, user: str) -> list[dict[str, Any]]:
    async with hub.http() as http:
        response = await http.get("/api/notifications", headers=hub.headers(user, ()))
    assert response.status_code == 200, response.text
    return [item for item in response.json()["items"] if item["data"].get("booking_id")]


async def test_reminders_are_sent_once_each_by_two_processes(
    tmp_path: Path, redis_url: str, postgres_database: str
) -> None:
    pair = Pair(tmp_path, redis_url, postgres_database, HUB_PLUGIN_SCHEDULING_REMINDER_OFFSETS_SECONDS="4,2",
                HUB_PLUGIN_SCHEDULING_SWEEP_SECONDS="0.3", HUB_PLUGIN_SCHEDULING_CANCEL_BEFORE_SECONDS="0")
    a, b = pair.start("a"), pair.start("b")
    try:
        await lawyer(a, hours=ALL_WEEK, duration_minutes=5 / 60)  # a slot every five seconds, all day
        start = math.ceil((time.time() + 7) / 5) * 5
        response = await direct(a, rfc3339(start))
        assert response.status_code == 201, response.text
        booking = response.json()["booking_id"]

        async def reminded(user: str) -> list[dict[str, Any]] | None:
            found = [n for n in await notifications(b, user) if n["data"]["what"].startswith("in ")]
            return found if len(found) >= 2 else None

        for user in ("carol", "lawyer"):
            found = await eventually(lambda user=user: reminded(user), timeout=20)
            assert sorted(n["data"]["what"] for n in found) == ["in 2 seconds", "in 4 seconds"]
            assert {n["data"]["booking_id"] for n in found} == {booking}
            booked = [n for n in await notifications(a, user) if n["data"]["what"] == "booked"]
            assert len(booked) == 1
        assert time.time() < start + 1  # the reminders came before the appointment
        sent = await metric(a, "hub_scheduling_reminders_sent_total") + await metric(b, "hub_scheduling_reminders_sent_total")
        assert sent == 2  # claimed once each, across both processes
        late = await eventually(lambda: _after(start + 1.5), timeout=5)
        assert late
        sent = await metric(a, "hub_scheduling_reminders_sent_total") + await metric(b, "hub_scheduling_reminders_sent_total")
        assert sent == 2
        for user in ("carol", "lawyer"):
            assert len([n for n in await notifications(b, user) if n["data"]["what"].startswith("in ")]) == 2
    finally:
        await pair.close()


async def _after(moment: float) -> bool:
    return time.time() >= moment


async def test_a_reminder_due_while_the_hub_was_down_is_sent_once_after_it_restarts(tmp_path: Path) -> None:
    hub = start_hub(tmp_path, env={"HUB_PLUGIN_SCHEDULING_REMINDER_OFFSETS_SECONDS": "3",
                                   "HUB_PLUGIN_SCHEDULING_SWEEP_SECONDS": "0.3"})
    try:
        await lawyer(hub, hours=ALL_WEEK, duration_minutes=5 / 60)
        start = math.ceil((time.time() + 6) / 5) * 5
        response = await direct(hub, rfc3339(start))
        assert response.status_code == 201, response.text
        hub.stop()
        await eventually(lambda: _after(start - 3 + 0.2), timeout=15)  # due while no hub runs
        hub.start()

        async def reminded() -> list[dict[str, Any]]:
            return [n for n in await notifications(hub, "carol") if n["data"]["what"].startswith("in ")]

        assert len(await eventually(reminded, timeout=10)) == 1
        assert await metric(hub, "hub_scheduling_reminders_sent_total") == 1
        hub.stop()
        hub.start()  # and again: nothing is sent twice
        await eventually(lambda: _after(start + 0.5), timeout=10)
        assert await metric(hub, "hub_scheduling_reminders_sent_total") == 0
        assert len(await reminded()) == 1
    finally:
        hub.stop()
