"""JSON routes read JSON only when it is sent as JSON: ``415`` with ``invalid_message`` otherwise (issue 15, item 7).

A body declared ``text/plain`` (or not declared) is not read as JSON even when
it parses: a browser sends ``text/plain`` cross-origin without a preflight, so
a route that read it anyway would take requests no CORS policy allowed.
"""

from __future__ import annotations

import pytest

from hub.testing import RunningHub, start_hub

# Every route of the core and the built-in plugins whose body is JSON (they all read it with hub.read_json).
JSON_ROUTES = [
    ("POST", "/api/publish"),
    ("POST", "/api/admin/replay"),
    ("POST", "/api/dev/token"),
    ("POST", "/api/notifications"),
    ("POST", "/api/notifications/read"),
    ("PUT", "/api/documents/doc-1/status"),
    ("POST", "/api/doc_processing/claim"),
]
BODY = b'{"topic": "room:lobby", "type": "chat.message", "data": {}, "user": "kim", "to": ["kim"]}'


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    # Development mode with a known secret, so /api/dev/token is served (to this loopback client).
    running = start_hub(tmp_path_factory.mktemp("content-type"), env={"HUB_DEV": "1"})
    yield running
    running.stop()


@pytest.mark.parametrize("method,path", JSON_ROUTES)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_json_route_refuses_another_content_type(
    hub: RunningHub, method: str, path: str, content_type: str | None
) -> None:
    headers = {**hub.headers("ops", ("service", "admin"))}
    if content_type is not None:
        headers["content-type"] = content_type
    async with hub.http() as http:
        response = await http.request(method, path, content=BODY, headers=headers)
    assert response.status_code == 415, (path, response.status_code, response.text)
    assert response.json()["error"]["code"] == "invalid_message"
    assert "application/json" in response.json()["error"]["message"]


async def test_nothing_was_published_from_a_refused_body(hub: RunningHub) -> None:
    async with hub.http() as http:
        refused = await http.post(
            "/api/publish", content=b'{"topic": "user:ct", "type": "t.refused"}',
            headers={**hub.headers(), "content-type": "text/plain"},
        )
        accepted = await http.post(
            "/api/publish", content=b'{"topic": "user:ct", "type": "t.accepted"}',
            headers={**hub.headers(), "content-type": "application/json"},
        )
    assert refused.status_code == 415
    # The first event of the topic: the refused body took no seq.
    assert accepted.status_code == 201 and accepted.json()["seq"] == 1


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON ;charset=UTF-8"])
async def test_json_with_parameters_is_accepted(hub: RunningHub, content_type: str) -> None:
    async with hub.http() as http:
        response = await http.post(
            "/api/publish", content=b'{"topic": "user:kim", "type": "chat.message", "data": {}}',
            headers={**hub.headers(), "content-type": content_type},
        )
    assert response.status_code == 201, response.text
