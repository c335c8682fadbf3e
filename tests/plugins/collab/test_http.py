"""The collab HTTP API: content for backends, service updates, versions, tickets, errors."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pycrdt
import pytest

from hub.testing import RunningHub, start_hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    running = start_hub(tmp_path_factory.mktemp("collab-http"), {"HUB_PLUGIN_COLLAB_MAX_VERSIONS": "2"})
    yield running
    running.stop()


def update_of(text: str) -> bytes:
    doc: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
    doc.get("content", type=pycrdt.Text).insert(0, text)
    return doc.get_update()


async def test_a_service_writes_and_a_backend_reads(hub: RunningHub) -> None:
    service = hub.headers()
    async with hub.http() as http:
        raw = await http.post("/api/collab/letter/updates", content=update_of("Dear client,"),
                              headers={**service, "content-type": "application/octet-stream"})
        assert raw.status_code == 201, raw.text
        assert (await http.get("/api/collab/letter", headers=service)).text == "Dear client,"
        as_text = await http.post("/api/collab/letter/updates", json={"text": "Dear client, hello."}, headers=service)
        assert as_text.status_code == 201
        reader = hub.headers("carol", ())
        body = (await http.get("/api/collab/letter?format=json", headers=reader)).json()
        assert body["text"] == "Dear client, hello." and body["epoch"] == raw.json()["epoch"]
        encoded = base64.b64encode(update_of("P.S. ")).decode()
        assert (await http.post("/api/collab/other/updates", json={"update": encoded}, headers=service)).status_code == 201
        assert (await http.get("/api/collab/other", headers=service)).text == "P.S. "


@pytest.mark.parametrize(("method", "path", "headers", "body", "status", "code"), [
    ("GET", "/api/collab/letter", None, None, 401, "auth_required"),
    ("GET", "/api/collab/nobody-opened-this", "user", None, 404, "not_found"),
    ("POST", "/api/collab/letter/updates", "user", {"text": "x"}, 403, "forbidden"),
    ("POST", "/api/collab/letter/updates", "service", {"update": "%%%"}, 400, "invalid_message"),
    ("POST", "/api/collab/letter/updates", "service", {"update": base64.b64encode(b"\x09junk").decode()}, 400,
     "invalid_message"),
    ("POST", "/api/collab/letter/updates", "service", {}, 400, "invalid_message"),
    ("GET", "/api/collab/bad%20name", "user", None, 400, "invalid_message"),
    ("POST", "/api/collab/letter/versions", "viewer", {"name": "v"}, 403, "forbidden"),
    ("GET", "/api/collab/letter/versions/none", "user", None, 404, "not_found"),
    ("POST", "/api/collab/tickets", "user", {}, 400, "invalid_message"),
])
async def test_errors_use_the_contract_codes(hub: RunningHub, method: str, path: str, headers: str | None,
                                             body: dict[str, str] | None, status: int, code: str) -> None:
    roles = {"user": ("alice", ()), "viewer": ("vera", ("viewer",)), "service": ("svc", ("service",))}
    sent = hub.headers(*roles[headers]) if headers else {}
    async with hub.http() as http:
        if headers:
            await http.post("/api/collab/letter/updates", json={"text": "Dear client,"}, headers=hub.headers())
        response = await http.request(method, path, json=body, headers=sent)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_versions_are_kept_compared_and_limited(hub: RunningHub) -> None:
    alice = hub.headers("alice", ())
    async with hub.http() as http:
        await http.post("/api/collab/terms/updates", json={"text": "one\ntwo\n"}, headers=hub.headers())
        assert (await http.post("/api/collab/terms/versions", json={"name": "v1"}, headers=alice)).status_code == 201
        again = await http.post("/api/collab/terms/versions", json={"name": "v1"}, headers=alice)
        assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
        await http.post("/api/collab/terms/updates", json={"text": "one\nthree\n"}, headers=hub.headers())
        assert (await http.post("/api/collab/terms/versions", json={"name": "v2"}, headers=alice)).status_code == 201
        full = await http.post("/api/collab/terms/versions", json={"name": "v3"}, headers=alice)
        assert full.status_code == 409  # max_versions = 2
        listed = (await http.get("/api/collab/terms/versions", headers=alice)).json()["versions"]
        assert [v["name"] for v in listed] == ["v1", "v2"] and listed[0]["created_by"] == "alice"
        compared = (await http.get("/api/collab/terms/versions/v1/compare?to=v2", headers=alice)).json()
        assert "-two" in compared["diff"] and "+three" in compared["diff"] and compared["same"] is False
        assert (await http.get("/api/collab/terms/versions/v1", headers=alice)).text == "one\ntwo\n"
        assert (await http.post("/api/collab/terms/versions/v1/restore", headers=alice)).status_code == 200
        assert (await http.get("/api/collab/terms", headers=alice)).text == "one\ntwo\n"
        assert (await http.get("/api/collab/terms/versions/v1/compare", headers=alice)).json()["same"] is True
        assert (await http.delete("/api/collab/terms/versions/v2", headers=alice)).status_code == 200
        ticket = await http.post("/api/collab/tickets", json={"document": "terms"}, headers=alice)
        assert ticket.status_code == 200 and ticket.json()["expires_in"] == 30


def test_the_routes_are_in_openapi(hub: RunningHub) -> None:
    import httpx

    paths = httpx.get(f"{hub.url}/openapi.json", timeout=10).json()["paths"]
    assert "/api/collab/{document}" in paths and "/api/collab/{document}/versions/{version}/restore" in paths
