"""A database that cannot take writes is ``unavailable``, to publishers and in health (issue 15, item 3).

Against a real hub on a fresh PostgreSQL database: made read-only, the hub
answered every publish ``500 internal`` while ``/api/health`` said ``ok``
(it ran ``SELECT 1``); a publish meeting a terminated backend answered ``500``
and the server then closed the keep-alive connection.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from hub.testing import RunningHub, start_hub

from .conftest import _admin

pytestmark = pytest.mark.postgres


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def terminate_backends(name: str) -> None:
    """Kill every server process of the hub's pool, as a failover or an operator would."""
    await _admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()")


def local_port(response: httpx.Response) -> int:
    """The client side's port of the connection that carried ``response``: the same port, the same connection."""
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


async def publish(http: httpx.AsyncClient, hub: RunningHub, n: int) -> httpx.Response:
    return await http.post(
        "/api/publish", json={"topic": "user:kim", "type": "t.fault", "data": {"n": n}, "id": f"fault-{n}"},
        headers=hub.headers(),
    )


@pytest.fixture
def hub_on_postgres(postgres_database: str, tmp_path: Path):
    running = start_hub(tmp_path / "hub", env={"HUB_DATABASE_URL": postgres_database})
    yield running, database_name(postgres_database)
    running.stop()


async def test_a_read_only_database_is_unavailable_to_publishers_and_in_health(hub_on_postgres) -> None:
    hub, name = hub_on_postgres
    async with httpx.AsyncClient(base_url=hub.url, timeout=10, limits=httpx.Limits(max_connections=1)) as http:
        assert (await publish(http, hub, 1)).status_code == 201
        assert (await http.get("/api/health")).json()["database"] == "ok"
        # Read-only for every new session; the pool's sessions are ended so that it opens new ones.
        await _admin(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        await terminate_backends(name)
        for n in (2, 3):
            refused = await publish(http, hub, n)
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "unavailable"
        # Health probes a write: reads still work, so SELECT 1 alone would say "ok".
        deadline = time.monotonic() + 10
        while (health := await http.get("/api/health")).status_code != 503 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert health.status_code == 503 and health.json()["database"] == "read-only", health.text
        assert health.json()["status"] != "ok"
        # Writable again: publishing and health recover without a restart.
        await _admin(f'ALTER DATABASE "{name}" SET default_transaction_read_only = off')
        await terminate_backends(name)
        deadline = time.monotonic() + 10
        while (again := await publish(http, hub, 2)).status_code != 201 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert again.status_code == 201, again.text
        assert (await http.get("/api/health")).json()["database"] == "ok"
    assert "Traceback" not in hub.log()


async def test_a_dropped_connection_is_retried_or_unavailable_and_keeps_the_http_connection(hub_on_postgres) -> None:
    hub, name = hub_on_postgres
    async with httpx.AsyncClient(base_url=hub.url, timeout=10, limits=httpx.Limits(max_connections=1)) as http:
        first = await publish(http, hub, 1)
        assert first.status_code == 201
        for n in (2, 3, 4):
            await terminate_backends(name)
            response = await publish(http, hub, n)
            assert response.status_code in (201, 503), response.text
            if response.status_code == 503:
                assert response.json()["error"]["code"] == "unavailable"
            # The server kept the keep-alive connection: this request went on the same one.
            after = await http.get("/api/health")
            assert after.status_code in (200, 503)
            assert local_port(response) == local_port(after) == local_port(first)
        # Nothing was stored twice: the retried publishes kept their ids and seqs follow on.
        stored = await http.get("/api/admin/events", params={"topic": "user:kim"}, headers=hub.headers("ops", ("admin",)))
        ids = [event["id"] for event in stored.json()["events"]]
        assert len(ids) == len(set(ids))
