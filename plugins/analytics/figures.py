"""A process's figures, read from ``hub.metrics.read()``, and how several processes' figures merge.

A :class:`Reading` is one process's figures now, as flat series keyed like
``hub_events_published_total["kind","feed"]`` (the series' name, then its
label pairs as JSON): counters (including the plugins' histograms' buckets,
counts and sums), gauges, and the core's delivery-latency histogram as an
array of bucket counts. Every part of a reading merges by addition, so the
cluster's figures are the exact sum of its processes' figures; rates are
computed by each process from two of its own readings and summed too, so a
process that leaves the cluster takes its share away without a negative spike.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub import Hub, decode_json, encode_json

LATENCY = "hub_delivery_latency_seconds"


def series_key(name: str, labels: Mapping[str, str]) -> str:
    """The key of one series: its name, then its label pairs sorted, as JSON (no key when none)."""
    if not labels:
        return name
    return name + encode_json(sorted(labels.items())).decode()


def split_key(key: str) -> tuple[str, dict[str, str]]:
    """The name and labels of a :func:`series_key`."""
    name, bracket, rest = key.partition("[")
    return name, (dict(decode_json(bracket + rest)) if bracket else {})


@dataclass
class Reading:
    """One process's figures at ``at`` (Unix time)."""

    at: float
    counters: dict[str, float] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)
    latency: list[int] = field(default_factory=list)
    bounds: list[float] = field(default_factory=list)
    latency_sum: float = 0.0
    #: The keys of the plugins' series, by plugin.
    plugins: dict[str, list[str]] = field(default_factory=dict)


def read(hub: Hub) -> Reading:
    """This process's figures now, core and plugins alike, through the core's public ``hub.metrics.read()``."""
    reading = Reading(time.time())
    for family in hub.metrics.read("hub_"):
        if family.name == LATENCY:
            cumulative = [(float(s.labels["le"]), s.value) for s in family.samples if s.name.endswith("_bucket")]
            previous = 0.0
            for bound, value in cumulative:
                reading.latency.append(int(value - previous))
                if bound != float("inf"):
                    reading.bounds.append(bound)
                previous = value
            reading.latency_sum = next((s.value for s in family.samples if s.name.endswith("_sum")), 0.0)
            continue
        target = reading.gauges if family.type in ("gauge", "info", "stateset") else reading.counters
        for sample in family.samples:
            if family.type == "counter" and not sample.name.endswith("_total"):
                continue
            key = series_key(sample.name, sample.labels)
            target[key] = sample.value
            if family.plugin is not None:
                reading.plugins.setdefault(family.plugin, []).append(key)
    return reading


def rates(now: Reading, before: Reading | None) -> dict[str, float]:
    """Per second, each counter's growth from ``before`` to ``now`` (counters that grew only)."""
    if before is None or now.at <= before.at:
        return {}
    span = now.at - before.at
    out = {}
    for key, value in now.counters.items():
        grown = value - before.counters.get(key, 0.0)
        if grown > 0:
            out[key] = grown / span
    return out


def bucket_delta(now: list[int], before: list[int] | None) -> list[int]:
    if not before or len(before) != len(now):
        return list(now)
    return [a - b for a, b in zip(now, before)]


def counter_delta(now: Mapping[str, float], before: Mapping[str, float] | None) -> dict[str, float]:
    before = before or {}
    return {key: value - before.get(key, 0.0) for key, value in now.items() if value != before.get(key, 0.0)}


def add_into(total: dict[str, float], part: Mapping[str, float]) -> None:
    for key, value in part.items():
        total[key] = total.get(key, 0.0) + value


def add_buckets(total: list[int], part: Iterable[int]) -> list[int]:
    part = list(part)
    if not total:
        return part
    if len(part) != len(total):
        return total  # another hub version's buckets: not mergeable, left out
    return [a + b for a, b in zip(total, part)]


def quantile(buckets: list[int], bounds: list[float], q: float) -> float | None:
    """The ``q`` quantile of a bucket histogram, interpolated inside its bucket; ``None`` when empty."""
    total = sum(buckets)
    if total <= 0 or not bounds:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(buckets):
        if count and seen + count >= rank:
            if index >= len(bounds):
                return bounds[-1]
            low = bounds[index - 1] if index else 0.0
            return low + (bounds[index] - low) * max(rank - seen, 0.0) / count
        seen += count
    return bounds[-1]


def latency_summary(buckets: list[int], bounds: list[float], total_sum: float | None = None) -> dict[str, Any]:
    """``{count, p50, p99, mean?}`` in seconds, from bucket counts."""
    count = sum(buckets)
    summary: dict[str, Any] = {
        "count": count,
        "p50": _round(quantile(buckets, bounds, 0.50)),
        "p99": _round(quantile(buckets, bounds, 0.99)),
    }
    if total_sum is not None:
        summary["mean"] = _round(total_sum / count) if count else None
    return summary


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
