"""The trigger source: a watched table of the application's database, through triggers and an outbox."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from hub.testing import start_hub, welcomed
from tests.support.cluster import eventually

from .support import LiveList, listing

WRITERS = 20
CHANGES = 1000
IDS = 80
COLLECTIONS = {"cases": {"source": {"table": "cases", "key": "id"}}}


def cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "hub", "live_data", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


async def _table(engine) -> dict[str, dict]:
    async with engine.connect() as connection:
        rows = (await connection.execute(sa.text("SELECT id, status, owner FROM cases"))).all()
    return {str(row[0]): {"id": row[0], "status": row[1], "owner": row[2]} for row in rows}


async def _writer(engine, number: int) -> None:
    rng = random.Random(number)
    for _ in range(CHANGES // WRITERS):
        row = rng.randrange(IDS)
        async with engine.begin() as connection:
            if rng.random() < 0.2:
                await connection.execute(sa.text("DELETE FROM cases WHERE id = :id"), {"id": row})
            else:
                await connection.execute(
                    sa.text("INSERT INTO cases (id, status, owner) VALUES (:id, :s, :o) "
                            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, owner = excluded.owner"),
                    {"id": row, "s": rng.choice(["open", "closed"]), "o": f"w{number}"},
                )


async def test_a_watched_table_reaches_subscribers_exactly(tmp_path: Path, database_url: str) -> None:
    # PostgreSQL: the application's table in the hub's own database; SQLite: the application's own file.
    sqlite = database_url.startswith("sqlite")
    app_url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}" if sqlite else database_url
    engine = create_async_engine(app_url, connect_args={"timeout": 30} if sqlite else {})
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text("CREATE TABLE cases (id INTEGER PRIMARY KEY, status TEXT, owner TEXT)"))
            # There before the triggers: the installation's backfill brings it in.
            await connection.execute(sa.text("INSERT INTO cases VALUES (999, 'open', 'before')"))
        printed = cli("install-triggers", "--table", "cases", "--key", "id", "--url", app_url, "--print")
        assert "live_data_outbox" in printed and "CREATE TRIGGER" in printed
        cli("install-triggers", "--table", "cases", "--key", "id", "--url", app_url)
        # Committed while no hub runs: delivered when one starts. Rolled back: never.
        async with engine.begin() as connection:
            await connection.execute(sa.text("INSERT INTO cases VALUES (1000, 'open', 'early')"))
        async with engine.connect() as connection:
            transaction = await connection.begin()
            await connection.execute(sa.text("INSERT INTO cases VALUES (2000, 'open', 'rolled-back')"))
            await transaction.rollback()
        env = {
            "HUB_DATABASE_URL": database_url, "HUB_PLUGIN_LIVE_DATA_SOURCE_URL": app_url,
            "HUB_PLUGIN_LIVE_DATA_COLLECTIONS": json.dumps(COLLECTIONS), "HUB_PLUGIN_LIVE_DATA_POLL_INTERVAL": "0.05",
            "HUB_PLUGIN_LIVE_DATA_PRUNE_AFTER": "1",
        }
        hub = start_hub(tmp_path / "hub", env=env)
        try:
            client = await welcomed(hub, "ops", ["admin"])
            live = LiveList(client, "live:cases")
            await eventually(lambda: _has(hub, "1000"), timeout=30)
            assert "999" in await listing(hub, "cases")
            writers = [asyncio.create_task(_writer(engine, number)) for number in range(WRITERS)]
            await asyncio.sleep(0.3)
            await live.subscribe()
            await asyncio.gather(*writers)
            final = await _table(engine)

            async def agreed() -> bool:
                live.catch_up()
                return live.records == final

            await eventually(agreed, timeout=60)
            assert "2000" not in await listing(hub, "cases")
            assert not [event for _, event in client.events if "rolled-back" in json.dumps(event)]
            await client.close()

            async def pruned() -> bool:
                async with engine.connect() as connection:
                    return not await connection.scalar(sa.text("SELECT count(*) FROM live_data_outbox"))

            await eventually(pruned, timeout=30)  # delivered rows go after prune_after (1 s here)
        finally:
            hub.stop()
        cli("remove-triggers", "--table", "cases", "--url", app_url)
        async with engine.begin() as connection:
            await connection.execute(sa.text("INSERT INTO cases VALUES (3000, 'open', 'unwatched')"))
            outbox = await connection.scalar(sa.text("SELECT count(*) FROM live_data_outbox WHERE row_key = '3000'"))
        assert outbox == 0
    finally:
        await engine.dispose()


async def _has(hub, key: str) -> bool:
    return key in await listing(hub, "cases")
