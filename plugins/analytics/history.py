"""History: each process's figures per rollup interval, in the table ``analytics_rollups``.

Every process writes one row per interval (aligned to multiples of the
interval, so the rows of several processes line up), holding what its counters
counted in it, its gauges at its end and its latency buckets' growth. A range
of history is the rows of every process added up, step by step; the current
interval, not yet stored, comes from the processes' reports (``partial``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from hub import Database, decode_json, encode_json

from .figures import add_buckets, add_into, latency_summary, split_key

metadata = sa.MetaData()
rollups = sa.Table(
    "analytics_rollups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("node", sa.String(255), nullable=False),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("figures", sa.Text, nullable=False),
)


@dataclass(frozen=True)
class Interval:
    """One process's figures over one rollup interval (stored, or the current partial one)."""

    node: str
    start: float
    seconds: float
    counters: Mapping[str, float]
    gauges: Mapping[str, float]
    latency: Sequence[int]
    partial: bool = False


class HistoryStore:
    """The rollup table, written through ``hub.database`` (one short transaction per interval)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def record(self, interval: Interval) -> None:
        figures = encode_json({"counters": interval.counters, "gauges": interval.gauges,
                               "latency": _sparse(interval.latency)}).decode()
        async with self.database.write() as connection:
            await connection.execute(rollups.insert().values(
                node=interval.node, start=interval.start, seconds=interval.seconds, figures=figures,
            ))

    async def trim(self, before: float) -> None:
        async with self.database.write() as connection:
            await connection.execute(rollups.delete().where(rollups.c.start < before))

    async def between(self, start: float, end: float, buckets: int) -> list[Interval]:
        query = (
            sa.select(rollups.c.node, rollups.c.start, rollups.c.seconds, rollups.c.figures)
            .where(rollups.c.start >= start, rollups.c.start < end)
            .order_by(rollups.c.start)
        )
        async with self.database.read() as connection:
            rows = (await connection.execute(query)).all()
        out = []
        for node, begun, seconds, text in rows:
            figures = decode_json(text)
            out.append(Interval(node, begun, seconds, figures.get("counters", {}), figures.get("gauges", {}),
                                _dense(figures.get("latency", {}), buckets)))
        return out


def _sparse(buckets: Sequence[int]) -> dict[str, int]:
    return {str(index): count for index, count in enumerate(buckets) if count}


def _dense(sparse: Mapping[str, int], size: int) -> list[int]:
    out = [0] * size
    for index, count in sparse.items():
        if 0 <= int(index) < size:
            out[int(index)] = int(count)
    return out


def _sum_named(series: Mapping[str, float], name: str, skip: str | None = None) -> float:
    total = 0.0
    for key, value in series.items():
        series_name, labels = split_key(key)
        if series_name == name and (skip is None or skip not in labels.values()):
            total += value
    return total


def _by_kind(series: Mapping[str, float], name: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, value in series.items():
        series_name, labels = split_key(key)
        if series_name == name:
            out[labels.get("kind", "")] = out.get(labels.get("kind", ""), 0) + int(value)
    return dict(sorted(out.items()))


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def points(intervals: Iterable[Interval], start: float, end: float, step: float, bounds: list[float]) -> list[dict[str, Any]]:
    """The figures of ``[start, end)`` in steps of ``step`` seconds, every process added up.

    A step without any interval is left out. ``connections`` is the step's peak
    (the largest sum over the processes at the end of one of its intervals).
    """
    steps: dict[int, dict[str, Any]] = {}
    # Steps aligned to multiples of the step, as the intervals are to multiples of theirs.
    origin = math.floor(start / step) * step
    for interval in intervals:
        if not start <= interval.start < end:
            continue
        index = math.floor((interval.start - origin) / step)
        group = steps.setdefault(index, {"counters": {}, "latency": [], "nodes": set(), "partial": False,
                                         "connections": {}, "first": interval.start, "last": interval.start})
        add_into(group["counters"], interval.counters)
        group["latency"] = add_buckets(group["latency"], interval.latency)
        group["nodes"].add(interval.node)
        group["partial"] = group["partial"] or interval.partial
        at = group["connections"]
        at[interval.start] = at.get(interval.start, 0.0) + interval.gauges.get("hub_connections", 0.0)
        group["last"] = max(group["last"], interval.start + interval.seconds)
    out = []
    for index in sorted(steps):
        group = steps[index]
        begun = origin + index * step
        seconds = max(min(begun + step, group["last"]) - max(begun, group["first"]), 1e-9)
        counters = group["counters"]
        published = _sum_named(counters, "hub_events_published_total")
        delivered = _sum_named(counters, "hub_deliveries_total")
        out.append({
            "start": iso(begun),
            "end": iso(begun + step),
            "partial": group["partial"],
            "nodes": len(group["nodes"]),
            "published": int(published),
            "published_per_second": round(published / seconds, 3),
            "deliveries": int(delivered),
            "deliveries_per_second": round(delivered / seconds, 3),
            "published_by_kind": _by_kind(counters, "hub_events_published_by_type_total"),
            "deliveries_by_kind": _by_kind(counters, "hub_deliveries_by_type_total"),
            "connections": int(max(group["connections"].values(), default=0)),
            "latency": latency_summary(group["latency"], bounds),
            "slow_consumers": int(_sum_named(counters, "hub_slow_consumers_total")),
            "refused_connections": int(_sum_named(counters, "hub_connects_total", skip="ok")),
            "refused_requests": int(_sum_named(counters, "hub_requests_total", skip="ok")),
            "http_errors": int(_sum_named(counters, "hub_http_errors_total")),
        })
    return out
