"""Holds that expire, bookings confirmed twice or requested twice, restarts, cancellation and rescheduling."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.testing import RunningHub, SocketRecorder, start_hub

from tests.support.cluster import eventually

from .support import FAST, close_all, direct, lawyer, next_weekday_at, viewers

TOPIC = "availability:law-1"


async def client(hub: RunningHub, user: str, roles: tuple[str, ...] = ()) -> SocketRecorder:
    connected = await SocketRecorder().connect(hub, hub.token(user, roles))
    await connected.wait_for("hub.welcome")
    return connected


async def hold(who: SocketRecorder, start: str) -> dict[str, Any]:
    return await who.call("scheduling.hold", {"resource": "law-1", "start": start, "type": "consult"})


def statuses(snapshot: dict[str, Any]) -> dict[str, str]:
    return {slot["start"]: slot["status"] for slot in snapshot["slots"]}


async def _told(hub: RunningHub, user: str, count: int) -> list[str] | None:
    async with hub.http() as http:
        items = (await http.get("/api/notifications", headers=hub.headers(user, ()))).json()["items"]
    found = [item["data"]["what"] for item in items if item["data"].get("booking_id")]
    return found if len(found) >= count else None


async def test_an_expired_hold_is_announced_released_and_then_bookable(tmp_path: Path, database_url: str) -> None:
    hub = start_hub(tmp_path, env={**FAST, "HUB_DATABASE_URL": database_url, "HUB_PLUGIN_SCHEDULING_HOLD_SECONDS": "1"})
    clients: list[SocketRecorder] = []
    try:
        await lawyer(hub)
        start = next_weekday_at(9)
        alice, bob = clients[:] = await viewers([hub], 2)
        held = await hold(alice, start)
        assert held["ok"] is True, held
        assert (await hold(bob, start))["error"]["code"] == "conflict"
        released = (await bob.wait_for("slot.released", timeout=10))[0]
        assert released["data"]["status"] == "free"
        assert (await alice.wait_for("slot.released", timeout=5))[0]["data"]["free"] is True
        late = await alice.call("scheduling.book", {"hold_id": held["hold_id"]})
        assert late["ok"] is False and late["error"]["code"] == "conflict"
        mine = await hold(bob, start)
        assert mine["ok"] is True, mine
        booked = await bob.call("scheduling.book", {"hold_id": mine["hold_id"]})
        assert booked["ok"] is True and booked["booking_id"]
        seen = (await alice.wait_for("slot.booked"))[0]["data"]
        assert seen["taken"] is True and "booking_id" not in seen
    finally:
        await close_all(clients)
        hub.stop()


async def test_one_booking_from_repeated_requests_and_confirmations(tmp_path: Path, database_url: str) -> None:
    hub = start_hub(tmp_path, env={**FAST, "HUB_DATABASE_URL": database_url})
    alice = None
    try:
        await lawyer(hub)
        first, second = next_weekday_at(13), next_weekday_at(14)
        # The same direct booking request, twice in a row and twice at once: one booking.
        again = [await direct(hub, first, key="req-1") for _ in range(2)]
        assert [r.status_code for r in again] == [201, 200]
        assert again[0].json()["booking_id"] == again[1].json()["booking_id"]
        together = await asyncio.gather(*(direct(hub, second, key="req-2") for _ in range(5)))
        assert sorted(r.status_code for r in together) == [200, 200, 200, 200, 201]
        assert len({r.json()["booking_id"] for r in together}) == 1
        # Two confirmations of one hold (at once, with and without keys): one booking.
        alice = await client(hub, "alice")
        held = await hold(alice, next_weekday_at(15))
        confirmations = await asyncio.gather(
            alice.call("scheduling.book", {"hold_id": held["hold_id"]}),
            alice.call("scheduling.book", {"hold_id": held["hold_id"], "id": "k1"}),
            alice.call("scheduling.book", {"hold_id": held["hold_id"], "id": "k2"}),
        )
        assert all(reply["ok"] for reply in confirmations), confirmations
        assert len({reply["booking_id"] for reply in confirmations}) == 1
        assert sum(reply["created"] for reply in confirmations) == 1
        # Someone else cannot confirm alice's hold, nor see it exists.
        bob = await client(hub, "bob")
        assert (await bob.call("scheduling.book", {"hold_id": held["hold_id"]}))["error"]["code"] == "not_found"
        await bob.close()
    finally:
        if alice is not None:
            await alice.close()
        hub.stop()


async def test_holds_and_bookings_survive_a_restart(tmp_path: Path, database_url: str) -> None:
    env = {**FAST, "HUB_DATABASE_URL": database_url, "HUB_PLUGIN_SCHEDULING_HOLD_SECONDS": "600"}
    hub = start_hub(tmp_path, env=env)
    clients: list[SocketRecorder] = []
    try:
        await lawyer(hub)
        held_at, booked_at = next_weekday_at(9), next_weekday_at(10)
        alice = await client(hub, "alice")
        held = await hold(alice, held_at)
        booking = (await direct(hub, booked_at, key="keep")).json()
        await alice.close()
        hub.stop()

        hub.start()
        alice, bob = await client(hub, "alice"), await client(hub, "bob")
        clients += [alice, bob]
        window = {"topic": TOPIC, "tz": "UTC", "from": held_at, "to": next_weekday_at(12)}
        mine = (await alice.call("subscribe", window))["snapshot"]["slots"]
        theirs = statuses((await bob.call("subscribe", window))["snapshot"])
        assert [s["hold_id"] for s in mine if s.get("state") == "held"] == [held["hold_id"]]
        assert list(theirs.values())[:2] == ["taken", "taken"] and list(theirs.values())[2] == "free"
        assert (await hold(bob, booked_at))["error"]["code"] == "conflict"
        confirmed = await alice.call("scheduling.book", {"hold_id": held["hold_id"]})
        assert confirmed["ok"] is True, confirmed
        again = await direct(hub, booked_at, key="keep")
        assert again.status_code == 200 and again.json()["booking_id"] == booking["booking_id"]
    finally:
        await close_all(clients)
        hub.stop()


async def test_expired_holds_are_released_when_the_hub_starts(tmp_path: Path) -> None:
    env = {**FAST, "HUB_PLUGIN_SCHEDULING_HOLD_SECONDS": "1", "HUB_PLUGIN_SCHEDULING_SWEEP_SECONDS": "600"}
    hub = start_hub(tmp_path, env=env)
    try:
        await lawyer(hub)
        start = next_weekday_at(9)
        alice = await client(hub, "alice")
        held = await hold(alice, start)
        assert held["ok"] is True
        await alice.close()
        hub.kill()  # no chance to release it on the way down
        expires = datetime.fromisoformat(held["expires_at"]).timestamp()
        while time.time() <= expires:  # the hold runs out while no hub runs
            await asyncio.sleep(0.05)
        hub.start()
        bob = await client(hub, "bob")
        try:
            snapshot = (await bob.call("subscribe", {"topic": TOPIC, "from": start, "to": next_weekday_at(10)}))
            assert statuses(snapshot["snapshot"]) == {start.replace("Z", "+00:00"): "free"}
        finally:
            await bob.close()
    finally:
        hub.stop()


async def test_cancel_and_reschedule_rules(tmp_path: Path, database_url: str) -> None:
    hub = start_hub(tmp_path, env={**FAST, "HUB_DATABASE_URL": database_url, "HUB_PLUGIN_SCHEDULING_MAX_HOLDS_PER_USER": "2"})
    clients: list[SocketRecorder] = []
    try:
        await lawyer(hub)
        alice, bob, owner, admin = clients[:] = [
            await client(hub, "alice"), await client(hub, "bob"), await client(hub, "lawyer"),
            await client(hub, "root", ("admin",))]
        a, b, c = next_weekday_at(9), next_weekday_at(10), next_weekday_at(11)
        assert (await hold(alice, a))["ok"] and (await hold(alice, b))["ok"]
        assert (await hold(alice, c))["error"]["code"] == "limit_exceeded"
        bob_hold = await hold(bob, c)
        bob_booking = (await bob.call("scheduling.book", {"hold_id": bob_hold["hold_id"]}))["booking_id"]
        # Rescheduling onto a taken slot leaves the booking where it was.
        moved = await bob.call("scheduling.reschedule", {"booking_id": bob_booking, "start": a})
        assert moved["ok"] is False and moved["error"]["code"] == "conflict"
        await bob.call("subscribe", {"topic": TOPIC})
        free = next_weekday_at(12)
        moved = await bob.call("scheduling.reschedule", {"booking_id": bob_booking, "start": free})
        assert moved["ok"] is True and moved["booking_id"] == bob_booking
        freed = (await bob.wait_for("slot.freed"))[0]["data"]
        assert freed["start"] == c.replace("Z", "+00:00")
        assert (await hold(alice, c))["error"]["code"] == "limit_exceeded"  # still two holds
        # Cancelling: not alice (not hers: not found), but the lawyer, the client or an admin.
        assert (await alice.call("scheduling.cancel", {"booking_id": bob_booking}))["error"]["code"] == "not_found"
        assert (await owner.call("scheduling.cancel", {"booking_id": bob_booking}))["ok"] is True
        assert (await bob.wait_for("slot.freed", count=2))[1]["data"]["start"] == free.replace("Z", "+00:00")
        for user in ("bob", "lawyer"):  # both told of each change, through the notifications service
            told = await eventually(lambda user=user: _told(hub, user, 3), timeout=10)
            assert sorted(told) == ["booked", "cancelled", "rescheduled"]
        bad = await alice.call("scheduling.hold", {"resource": "law-1", "start": "2030-01-01T09:00:00", "type": "consult"})
        assert bad["error"]["code"] == "invalid_message"
        gone = await alice.call("scheduling.hold", {"resource": "nobody", "start": a, "type": "consult"})
        assert gone["error"]["code"] == "not_found"
    finally:
        await close_all(clients)
        hub.stop()


async def test_cancelling_closes_before_the_start(tmp_path: Path) -> None:
    hub = start_hub(tmp_path, env={**FAST, "HUB_PLUGIN_SCHEDULING_CANCEL_BEFORE_SECONDS": str(30 * 86400)})
    clients: list[SocketRecorder] = []
    try:
        await lawyer(hub)
        booking = (await direct(hub, next_weekday_at(9), client="alice")).json()["booking_id"]
        alice, admin = clients[:] = [await client(hub, "alice"), await client(hub, "root", ("admin",))]
        late = await alice.call("scheduling.cancel", {"booking_id": booking})
        assert late["ok"] is False and late["error"]["code"] == "forbidden"
        assert (await admin.call("scheduling.cancel", {"booking_id": booking}))["ok"] is True
    finally:
        await close_all(clients)
        hub.stop()
