"""The core HTTP routes: health, metrics, the OpenAPI description, errors."""

from __future__ import annotations

import pytest

from hub.testing import RunningHub, SocketRecorder, start_hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    running = start_hub(tmp_path_factory.mktemp("http"))
    yield running
    running.stop()


async def test_health_reports_database_and_broker(hub: RunningHub) -> None:
    async with hub.http() as http:
        response = await http.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["broker"] == "local"


async def test_metrics_count_connections_events_and_errors(hub: RunningHub) -> None:
    client = await SocketRecorder().connect(hub, hub.token("metric-user"))
    await client.wait_for("hub.welcome")
    await hub.publish("user:metric-user", "metric.test", {})
    await client.call("subscribe", {"topic": "bad"})
    async with hub.http() as http:
        text = (await http.get("/metrics")).text
    await client.close()
    assert "hub_connections 1.0" in text
    assert 'hub_events_published_total{kind="user"}' in text
    assert 'hub_requests_total{outcome="invalid_topic",request="subscribe"} 1.0' in text
    assert 'hub_connects_total{outcome="ok"}' in text


async def test_openapi_describes_every_route(hub: RunningHub) -> None:
    async with hub.http() as http:
        spec = (await http.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert "post" in spec["paths"]["/api/publish"]
    assert spec["paths"]["/api/publish"]["post"]["requestBody"]["content"]["application/json"]
    for path in ("/api/health", "/metrics", "/openapi.json"):
        assert "get" in spec["paths"][path]


async def test_unknown_route_is_a_json_not_found(hub: RunningHub) -> None:
    async with hub.http() as http:
        response = await http.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
