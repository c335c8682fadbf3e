"""The metrics API for plugins: report through ``hub.metrics``, export at ``/metrics``, read with ``read()``.

Two test plugins run in a real hub: ``reporter`` (tests/support/hub_metrics_reporter.py)
reports a counter, a gauge and a histogram; ``reader`` (hub_metrics_reader.py)
reads them, and the core's and the built-ins', without importing any of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub import MetricError
from hub.metrics import HubMetrics
from hub.testing import RunningHub, SocketRecorder, start_hub
from tests.support import plugin_site, with_site


@pytest.fixture
def metrics_hub(tmp_path: Path) -> Iterator[RunningHub]:
    site = plugin_site(tmp_path / "site", "hub_metrics_reporter", "reporter")
    plugin_site(site, "hub_metrics_reader", "reader")
    hub = start_hub(tmp_path / "hub", {"PYTHONPATH": with_site(site)})
    yield hub
    hub.stop()


def exported(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` parsed: ``{(sample name, sorted labels): value}``."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_a_plugins_metrics_are_exported_and_read_by_another_plugin(metrics_hub: RunningHub) -> None:
    client = await SocketRecorder().connect(metrics_hub, metrics_hub.token("alice"))
    try:
        await client.wait_for("hub.welcome")
        for color, depth, seconds in (("red", 3, 0.05), ("red", 7, 0.5), ("blue", 2, 5.0)):
            reply = await client.call("reporter.report", {"color": color, "depth": depth, "seconds": seconds})
            assert reply == {"ok": True, "reported": True}, reply
        admin = {"authorization": f"Bearer {metrics_hub.token('root', ['admin'])}"}
        async with metrics_hub.http() as http:
            text = (await http.get("/metrics")).text
            figures = (await http.get("/api/reader/figures", params={"prefix": "hub_reporter_"}, headers=admin)).json()
            everything = (await http.get("/api/reader/figures", headers=admin)).json()
    finally:
        await client.close()

    series = exported(text)
    assert series[("hub_reporter_pings_total", (("color", "red"),))] == 2
    assert series[("hub_reporter_pings_total", (("color", "blue"),))] == 1
    assert series[("hub_reporter_queue_depth", ())] == 2
    assert series[("hub_reporter_latency_seconds_count", ())] == 3
    assert series[("hub_reporter_latency_seconds_bucket", (("le", "0.1"),))] == 1
    assert series[("hub_reporter_latency_seconds_bucket", (("le", "1.0"),))] == 2
    assert series[("hub_reporter_latency_seconds_sum", ())] == pytest.approx(5.55)

    # The reader sees the same figures, typed and attributed to the reporter.
    by_name = {family["name"]: family for family in figures}
    assert set(by_name) == {"hub_reporter_pings", "hub_reporter_queue_depth", "hub_reporter_latency_seconds"}
    assert {family["plugin"] for family in figures} == {"reporter"}
    pings = by_name["hub_reporter_pings"]
    assert pings["type"] == "counter" and pings["help"] == "Pings by colour."
    assert {(s["labels"]["color"], s["value"]) for s in pings["samples"]} == {("red", 2.0), ("blue", 1.0)}
    assert by_name["hub_reporter_queue_depth"] == {
        "name": "hub_reporter_queue_depth", "type": "gauge", "help": "Items waiting.", "plugin": "reporter",
        "main": 2.0, "samples": [{"name": "hub_reporter_queue_depth", "labels": {}, "value": 2.0}],
    }
    latency = by_name["hub_reporter_latency_seconds"]
    assert latency["type"] == "histogram" and latency["main"] == 3.0
    assert not any(s["name"].endswith("_created") for f in figures for s in f["samples"])

    # Core and built-ins alike, through the same read: the core's own have no plugin.
    owners = {family["name"]: family["plugin"] for family in everything}
    assert owners["hub_connections"] is None and owners["hub_events_published"] is None
    assert owners["hub_presence_online_users"] == "presence"
    assert owners["hub_notifications_created"] == "notifications"
    assert owners["hub_upload_progress_uploads"] == "upload_progress"
    assert owners["hub_doc_processing_jobs"] == "doc_processing"
    online = next(f for f in everything if f["name"] == "hub_presence_online_users")
    assert online["main"] == 1.0  # alice, computed when read


async def test_bad_names_are_refused_with_a_clear_error_in_a_running_hub(metrics_hub: RunningHub) -> None:
    async with metrics_hub.http() as http:
        checks = (await http.get("/api/reporter/checks")).json()
    assert checks["same_metric_again"] is True
    refused = checks["refused"]
    assert all(refused.values()), refused  # every one refused, none silently accepted
    assert "must start with hub_<plugin>_" in refused["no_prefix"] and "reporter" in refused["no_prefix"]
    assert "'hub_nosuchplugin_pings_total'" in refused["other_plugin"]
    assert "must start with hub_<plugin>_" in refused["core_name"]
    assert "lower-case" in refused["upper_case"]
    assert "already registered as a counter" in refused["other_shape"] and "as a gauge" in refused["other_shape"]
    assert "['color']" in refused["other_labels"] and "['colour']" in refused["other_labels"]
    assert "label 'le'" in refused["bad_label"]


def test_registering_checks_names_labels_shapes_and_buckets() -> None:
    metrics = HubMetrics(["jobs", "jobs_extra", "connects"])
    counter = metrics.counter("hub_jobs_done_total", "Done.", ["state"])
    assert metrics.counter("hub_jobs_done", "Done.", ["state"]) is counter  # one family, with or without _total
    histogram = metrics.histogram("hub_jobs_seconds", "Time.", buckets=[1, 5])
    assert metrics.histogram("hub_jobs_seconds", "Time.", buckets=(1.0, 5.0)) is histogram
    with pytest.raises(MetricError, match=r"buckets \[1.0, 5.0\]; asked again as a histogram with labels \[\] and buckets \[1.0, 2.0\]"):
        metrics.histogram("hub_jobs_seconds", "Time.", buckets=(1, 2))
    with pytest.raises(MetricError, match="buckets must be increasing"):
        metrics.histogram("hub_jobs_other_seconds", "Time.", buckets=(5, 1))
    with pytest.raises(MetricError, match="label names repeat"):
        metrics.gauge("hub_jobs_depth", "Depth.", ["a", "a"])
    with pytest.raises(MetricError, match="must start with hub_<plugin>_"):
        metrics.gauge("hub_jobs_", "Nothing after the prefix.")
    # The core's names are taken even for a plugin whose prefix they match.
    with pytest.raises(MetricError, match="'hub_connects_total' cannot be registered"):
        metrics.counter("hub_connects_total", "Mine.")
    # The longest plugin prefix owns a name.
    metrics.gauge("hub_jobs_extra_depth", "Depth.")
    owners = {family.name: family.plugin for family in metrics.read("hub_jobs")}
    assert owners == {"hub_jobs_done": "jobs", "hub_jobs_seconds": "jobs", "hub_jobs_extra_depth": "jobs_extra"}


def test_read_gives_values_by_labels() -> None:
    metrics = HubMetrics(["shop"])
    sales = metrics.counter("hub_shop_sales_total", "Sales.", ["country"])
    sales.labels("fr").inc(3)
    metrics.gauge("hub_shop_open_carts", "Carts.").set_function(lambda: 4)
    families: dict[str, Any] = {family.name: family for family in metrics.read("hub_shop_")}
    assert families["hub_shop_sales"].value(country="fr") == 3.0
    assert families["hub_shop_sales"].value(country="de") is None
    assert families["hub_shop_open_carts"].value() == 4.0
    # A reading is a snapshot: later changes show in the next one.
    sales.labels("fr").inc()
    assert families["hub_shop_sales"].value(country="fr") == 3.0
    assert next(f for f in metrics.read("hub_shop_sales")).value(country="fr") == 4.0
