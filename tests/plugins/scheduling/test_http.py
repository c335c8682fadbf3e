"""Bad input over HTTP and in subscriptions gets the contract's codes; the catalogue's routes work."""

from __future__ import annotations

from pathlib import Path

from hub.testing import SocketRecorder, start_hub

from .support import lawyer, next_weekday_at


async def test_bad_input_gets_clear_errors(tmp_path: Path) -> None:
    hub = start_hub(tmp_path)
    viewer = None
    try:
        await lawyer(hub)
        service, user, owner = hub.headers("desk", ("service",)), hub.headers("bob", ()), hub.headers("lawyer", ())
        async with hub.http() as http:
            cases = [
                (http.put("/api/scheduling/resources/x", json={"owner": "o", "tz": "Mars/Olympus"}, headers=service), 400, "invalid_message"),
                (http.put("/api/scheduling/resources/x", json={"owner": "o", "tz": "UTC"}, headers=user), 403, "forbidden"),
                (http.put("/api/scheduling/resources/x", json={"owner": "o", "tz": "UTC"}), 401, "auth_required"),
                (http.put("/api/scheduling/resources/x", json={"owner": "o", "tz": "UTC", "hours": {"mon": [["10:00", "09:00"]]}}, headers=service), 400, "invalid_message"),
                (http.put("/api/scheduling/resources/law-1/hours", json={"hours": {}}, headers=user), 403, "forbidden"),
                (http.get("/api/scheduling/resources/nobody", headers=user), 404, "not_found"),
                (http.post("/api/scheduling/bookings", json={"resource": "law-1"}, headers=service), 400, "invalid_message"),
                (http.post("/api/scheduling/bookings", json={"resource": "law-1", "start": next_weekday_at(9), "type": "consult", "client": "c"}, headers=user), 403, "forbidden"),
                (http.post("/api/scheduling/bookings", json={"resource": "law-1", "start": next_weekday_at(8), "type": "consult", "client": "c"}, headers=service), 409, "conflict"),
                (http.post("/api/scheduling/resources/law-1/exceptions", json={"day": "2027-02-30"}, headers=owner), 400, "invalid_message"),
                (http.put("/api/scheduling/types/t", json={"duration_minutes": "long"}, headers=service), 400, "invalid_message"),
                (http.get("/api/scheduling/calendar/not-a-token.ics"), 404, "not_found"),
                (http.post("/api/scheduling/feeds", json={"kind": "everyone"}, headers=user), 400, "invalid_message"),
            ]
            for call, status, code in cases:
                response = await call
                assert response.status_code == status, (response.request.url, response.text)
                assert response.json()["error"]["code"] == code
            # The owner manages the hours and exceptions; anyone signed in reads them.
            made = await http.post("/api/scheduling/resources/law-1/exceptions", json={"day": "2027-02-01"}, headers=owner)
            assert made.status_code == 201
            listed = (await http.get("/api/scheduling/resources/law-1", headers=user)).json()
            assert listed["exceptions"] == [{"id": made.json()["id"], "day": "2027-02-01", "kind": "off", "start": None, "end": None}]
            gone = await http.delete(f"/api/scheduling/resources/law-1/exceptions/{made.json()['id']}", headers=owner)
            assert gone.status_code == 200
            assert (await http.get("/api/scheduling/types", headers=user)).json()["types"][0]["duration_minutes"] == 60

        viewer = await SocketRecorder().connect(hub, hub.token("viewer"))
        for params in ({"tz": "Nowhere/Land"}, {"colour": "red"}, {"from": "2027-03-02", "to": "2027-03-01"},
                       {"from": "2027-01-01", "to": "2027-06-01"}, {"from": "yesterday"}, {"type": "bad type"}):
            reply = await viewer.call("subscribe", {"topic": "availability:law-1", **params})
            assert reply["ok"] is False and reply["error"]["code"] == "invalid_message", params
        missing = await viewer.call("subscribe", {"topic": "availability:nobody"})
        assert missing["ok"] is False and missing["error"]["code"] == "not_found"
        bad_type = await viewer.call("subscribe", {"topic": "availability:law-1", "type": "other"})
        assert bad_type["error"]["code"] == "not_found"
        for payload in ({}, {"resource": "law-1", "type": "consult", "start": 5}, {"hold_id": 3}):
            reply = await viewer.call("scheduling.hold", payload)
            assert reply["ok"] is False and reply["error"]["code"] == "invalid_message", payload
    finally:
        if viewer is not None:
            await viewer.close()
        hub.stop()
