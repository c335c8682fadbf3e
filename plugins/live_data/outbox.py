"""Reading, marking and pruning an outbox in the application's database."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from .triggers import OUTBOX


@dataclass(frozen=True)
class OutboxRow:
    id: int
    table: str
    op: str
    key: str
    data: str | None


async def pending(connection: Any, tables: Sequence[str], limit: int) -> list[OutboxRow]:
    rows = await connection.execute(
        sa.text(
            f"SELECT id, table_name, op, row_key, row_data FROM {OUTBOX} "
            "WHERE delivered_at IS NULL AND table_name IN :tables ORDER BY id LIMIT :limit"
        ).bindparams(sa.bindparam("tables", expanding=True)),
        {"tables": list(tables), "limit": limit},
    )
    return [OutboxRow(int(row[0]), row[1], row[2], row[3], row[4]) for row in rows]


async def mark_delivered(connection: Any, ids: Sequence[int]) -> None:
    await connection.execute(
        sa.text(f"UPDATE {OUTBOX} SET delivered_at = :now WHERE id IN :ids").bindparams(
            sa.bindparam("ids", expanding=True)
        ),
        {"now": time.time(), "ids": list(ids)},
    )


async def prune(connection: Any, older_than: float) -> int:
    result = await connection.execute(
        sa.text(f"DELETE FROM {OUTBOX} WHERE delivered_at IS NOT NULL AND delivered_at < :before"),
        {"before": time.time() - older_than},
    )
    return int(result.rowcount or 0)
