"""The core's new figures and the plugin's arithmetic, without a server: caps, buckets, quantiles, merging."""

from __future__ import annotations

import random

from hub.metrics import LATENCY_BUCKETS, TYPE_LABELS_MAX, HubMetrics, LatencyHistogram
from hub_plugins.analytics.figures import quantile
from hub_plugins.analytics.report import merge


def test_event_types_are_capped_and_the_rest_is_other() -> None:
    metrics = HubMetrics()
    for number in range(TYPE_LABELS_MAX + 30):
        metrics.published("feed", f"chat.t{number}")
        metrics.delivered({"topic": "feed:x", "type": f"chat.t{number}", "ts": "2026-12-01T10:00:00.000Z"}, 3)
    [family] = metrics.read("hub_events_published_by_type")
    types = {sample.labels["type"] for sample in family.samples if sample.name.endswith("_total")}
    assert len(types) == TYPE_LABELS_MAX + 1 and "other" in types
    assert family.value(kind="feed", type="other") == 30
    [delivered] = metrics.read("hub_deliveries_by_type")
    assert delivered.value(kind="feed", type="other") == 90
    # One observation per fan-out, weighted by its recipients.
    [latency] = metrics.read("hub_delivery_latency_seconds")
    assert latency.value() == 3 * (TYPE_LABELS_MAX + 30)


def test_quantiles_from_the_buckets_are_close_and_merge_exactly() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(-4, 1.2) for _ in range(20_000)]
    halves = [LatencyHistogram(), LatencyHistogram()]
    for index, value in enumerate(values):
        halves[index % 2].observe(value)
    merged = merge([
        {"node": str(i), "latency": h.counts, "bounds": list(LATENCY_BUCKETS), "recent": [], "latency_sum": h.sum}
        for i, h in enumerate(halves)
    ])
    assert merged["latency"] == [a + b for a, b in zip(halves[0].counts, halves[1].counts)]
    ordered = sorted(values)
    for q in (0.5, 0.99):
        exact = ordered[int(q * len(ordered))]
        estimate = quantile(merged["latency"], merged["bounds"], q)
        assert estimate is not None and abs(estimate - exact) <= 0.06 * exact, (q, estimate, exact)
