"""Who may read an uploaded file: its signed link until it expires, its uploader's, an admin's or a service's token.

A hub whose links live 2 s (``link_ttl``), so expiry is seen in the test by polling.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.testing import RunningHub, start_hub

from .support import connect, new_id, upload

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(300)
TTL = 2


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    running = start_hub(
        tmp_path_factory.mktemp("access") / "hub", env={"HUB_PLUGIN_UPLOAD_PROGRESS_LINK_TTL": str(TTL)}
    )
    yield running
    running.stop()


async def stored(hub: RunningHub, tmp_path: Path, user: str = "alice") -> dict[str, str]:
    document = tmp_path / "page.png"
    document.write_bytes(PNG)
    response = await upload(hub, user, document, new_id(), filename="page.png", declared_type="image/png")
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def test_the_file_without_a_signature_needs_the_uploaders_token(hub: RunningHub, tmp_path: Path) -> None:
    body = await stored(hub, tmp_path)
    address = body["url"].partition("?")[0]  # the old kind of URL: the stored name alone
    async with hub.http() as http:
        anonymous = await http.get(address)
        stranger = await http.get(address, headers=hub.headers("mallory", ()))
        owner = await http.get(address, headers=hub.headers("alice", ()))
        admin = await http.get(address, headers=hub.headers("root", ("admin",)))
        service = await http.get(address, headers=hub.headers("svc", ("service",)))
    assert anonymous.status_code == 401 and code(anonymous) == "auth_required"
    assert stranger.status_code == 403 and code(stranger) == "forbidden" and PNG not in stranger.content
    for allowed in (owner, admin, service):
        assert allowed.status_code == 200 and allowed.content == PNG
        assert allowed.headers["content-type"] == "image/png" and "no-store" in allowed.headers["cache-control"]


async def test_a_signed_link_works_until_it_expires_and_a_fresh_one_comes_from_the_route(
    hub: RunningHub, tmp_path: Path
) -> None:
    watcher = await connect(hub, "alice")
    body = await stored(hub, tmp_path)
    link = body["url"]
    async with httpx.AsyncClient(timeout=10) as browser:  # no token: an <img src> or a download
        first = await browser.get(link)
        assert first.status_code == 200 and first.content == PNG
        started = time.monotonic()
        while (response := await browser.get(link)).status_code == 200:
            assert time.monotonic() - started < TTL + 3, "the link did not expire"
            await asyncio.sleep(0.1)
        assert response.status_code == 403 and code(response) == "forbidden" and PNG not in response.content
        # Expired means refused for good, not for a moment.
        assert (await browser.get(link)).status_code == 403

        async with hub.http() as http:
            fresh = await http.get(f"/api/upload_progress/uploads/{body['upload_id']}", headers=hub.headers("alice", ()))
            stranger = await http.get(f"/api/upload_progress/uploads/{body['upload_id']}", headers=hub.headers("eve", ()))
            anonymous = await http.get(f"/api/upload_progress/uploads/{body['upload_id']}")
            missing = await http.get(f"/api/upload_progress/uploads/{new_id()}", headers=hub.headers("alice", ()))
        assert fresh.status_code == 200, fresh.text
        record = fresh.json()
        assert record["state"] == "completed" and record["owner"] == "alice" and record["public_id"] == body["public_id"]
        assert record["url"] != link and (await browser.get(record["url"])).content == PNG
        assert stranger.status_code == 403 and code(stranger) == "forbidden" and "url" not in stranger.json()
        assert anonymous.status_code == 401 and missing.status_code == 404
    await watcher.close()


async def test_a_tampered_link_is_refused(hub: RunningHub, tmp_path: Path) -> None:
    body = await stored(hub, tmp_path)
    other = await stored(hub, tmp_path, user="bob")
    address, _, query = body["url"].partition("?")
    expires, signature = (part.split("=", 1)[1] for part in query.split("&"))
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    tampered = [
        f"{address}?expires={expires}&sig={flipped}",                    # another signature
        f"{address}?expires={int(expires) + 3600}&sig={signature}",      # a later expiry
        f"{other['url'].partition('?')[0]}?{query}",                     # alice's signature on bob's file
        f"{address}?expires={expires}",                                  # no signature
        f"{address}?expires=soon&sig={signature}",
    ]
    async with httpx.AsyncClient(timeout=10) as browser:
        assert (await browser.get(body["url"])).status_code == 200
        for url in tampered:
            response = await browser.get(url)
            assert response.status_code == 403 and code(response) == "forbidden", url
            assert PNG not in response.content
