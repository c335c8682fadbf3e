"""What each process reports every tick, how the reports merge, and the ``stats.tick`` built from them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hub import utc_timestamp

from .figures import (
    Reading, add_buckets, add_into, bucket_delta, counter_delta, latency_summary, rates, split_key,
)


def node_report(
    node: str, reading: Reading, previous: Reading | None, base: Reading | None,
    health: Mapping[str, Any], extra: Mapping[str, Any],
) -> dict[str, Any]:
    """One process's report: its totals, its rates since its previous reading, and its partial
    rollup interval (what it counted since ``base``, its last stored interval)."""
    return {
        "node": node,
        "at": reading.at,
        "counters": reading.counters,
        "rates": rates(reading, previous),
        "gauges": reading.gauges,
        "plugins": reading.plugins,
        "bounds": reading.bounds,
        "latency": reading.latency,
        "latency_sum": reading.latency_sum,
        "recent": bucket_delta(reading.latency, previous.latency if previous else None),
        "partial": {
            "since": base.at if base else reading.at,
            "counters": counter_delta(reading.counters, base.counters if base else None),
            "latency": bucket_delta(reading.latency, base.latency if base else None),
        },
        "health": dict(health),
        **extra,
    }


def merge(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The cluster's figures: every report's counters, rates, gauges and buckets added up."""
    merged: dict[str, Any] = {
        "nodes": sorted(str(r["node"]) for r in reports), "counters": {}, "rates": {}, "gauges": {},
        "plugins": {}, "bounds": [], "latency": [], "latency_sum": 0.0, "recent": [], "health": {},
        "occupancy": {},
    }
    for report in reports:
        add_into(merged["counters"], report.get("counters", {}))
        add_into(merged["rates"], report.get("rates", {}))
        add_into(merged["gauges"], report.get("gauges", {}))
        merged["bounds"] = merged["bounds"] or list(report.get("bounds", []))
        merged["latency"] = add_buckets(merged["latency"], report.get("latency", []))
        merged["recent"] = add_buckets(merged["recent"], report.get("recent", []))
        merged["latency_sum"] += float(report.get("latency_sum", 0.0))
        merged["health"][report["node"]] = report.get("health", {})
        for plugin, keys in report.get("plugins", {}).items():
            known = merged["plugins"].setdefault(plugin, [])
            known.extend(key for key in keys if key not in known)
        for topic, seen in report.get("occupancy", {}).items():
            into = merged["occupancy"].setdefault(topic, {"subscribers": 0, "users": set()})
            into["subscribers"] += seen["subscribers"]
            into["users"].update(seen["users"])
    return merged


def _by_label(series: Mapping[str, float], name: str, *labels: str, skip: str | None = None) -> dict[Any, float]:
    out: dict[Any, float] = {}
    for key, value in series.items():
        series_name, found = split_key(key)
        if series_name != name:
            continue
        values = tuple(found.get(label, "") for label in labels)
        if skip is not None and skip in values:
            continue
        group = values[0] if len(values) == 1 else values
        out[group] = out.get(group, 0.0) + value
    return out


def _flow(merged: Mapping[str, Any], total_name: str, typed_name: str) -> dict[str, Any]:
    counters, per_second = merged["counters"], merged["rates"]
    totals = _by_label(counters, typed_name, "kind", "type")
    rates_ = _by_label(per_second, typed_name, "kind", "type")
    by_kind: dict[str, dict[str, float]] = {}
    for (kind, type_), value in totals.items():
        entry = by_kind.setdefault(kind, {"total": 0, "per_second": 0.0})
        entry["total"] += int(value)
        entry["per_second"] += rates_.get((kind, type_), 0.0)
    return {
        "total": int(sum(_by_label(counters, total_name).values())),
        "per_second": round(sum(_by_label(per_second, total_name).values()), 3),
        "by_kind": {kind: {"total": e["total"], "per_second": round(e["per_second"], 3)} for kind, e in sorted(by_kind.items())},
        "by_type": [
            {"kind": kind, "type": type_, "total": int(value), "per_second": round(rates_.get((kind, type_), 0.0), 3)}
            for (kind, type_), value in sorted(totals.items(), key=lambda item: -item[1])
        ],
    }


def _worst(values: Sequence[str]) -> str:
    bad = [value for value in values if value not in ("ok", "local")]
    return bad[0] if bad else (values[0] if values else "unknown")


def tick(merged: Mapping[str, Any], degraded: bool, backlog: int | None) -> dict[str, Any]:
    """The data of one ``stats.tick``: the cluster's figures now (see docs/analytics.md)."""
    counters, gauges, per_second = merged["counters"], merged["gauges"], merged["rates"]
    health = merged["health"]
    plugins: dict[str, dict[str, Any]] = {}
    for plugin, keys in sorted(merged["plugins"].items()):
        figures = plugins.setdefault(plugin, {})
        for key in keys:
            if key in gauges:
                figures[key] = gauges[key]
            elif key in counters:
                figures[key] = {"total": counters[key], "per_second": round(per_second.get(key, 0.0), 3)}
    return {
        "at": utc_timestamp(),
        "nodes": merged["nodes"],
        "degraded": degraded,
        "connections": {
            "total": int(gauges.get("hub_connections", 0)),
            "by_transport": {k: int(v) for k, v in sorted(_by_label(gauges, "hub_connections_by_transport", "transport").items())},
        },
        "published": _flow(merged, "hub_events_published_total", "hub_events_published_by_type_total"),
        "deliveries": _flow(merged, "hub_deliveries_total", "hub_deliveries_by_type_total"),
        "latency": {
            **latency_summary(merged["latency"], merged["bounds"], merged["latency_sum"]),
            "recent": latency_summary(merged["recent"], merged["bounds"]),
        },
        "offline_queue": {"backlog": backlog},
        "slow_consumers": {
            "total": int(counters.get("hub_slow_consumers_total", 0)),
            "per_second": round(per_second.get("hub_slow_consumers_total", 0.0), 3),
        },
        "refused": {
            "connections": {k: int(v) for k, v in sorted(_by_label(counters, "hub_connects_total", "outcome", skip="ok").items())},
            "requests": {k: int(v) for k, v in sorted(_by_label(counters, "hub_requests_total", "outcome", skip="ok").items())},
            "http": {k: int(v) for k, v in sorted(_by_label(counters, "hub_http_errors_total", "code").items())},
        },
        "health": {
            "database": _worst([h.get("database", "unknown") for h in health.values()]),
            "broker": "degraded" if degraded else _worst([h.get("broker", "unknown") for h in health.values()]),
            "nodes": health,
        },
        "plugins": plugins,
    }
