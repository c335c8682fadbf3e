"""Prometheus metrics of one hub, in a registry of its own (several hubs may share a process in tests)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class HubMetrics:
    """The counters and gauges exported at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge("hub_connections", "Open Socket.IO connections.", registry=self.registry)
        self.connects = Counter(
            "hub_connects_total", "Connection attempts by outcome.", ["outcome"], registry=self.registry
        )
        self.disconnects = Counter(
            "hub_disconnects_total", "Disconnections by reason: client, server or lost.", ["reason"],
            registry=self.registry,
        )
        self.events = Counter(
            "hub_events_published_total", "Events published, by topic kind.", ["kind"], registry=self.registry
        )
        self.requests = Counter(
            "hub_requests_total", "Client requests by name and outcome code.", ["request", "outcome"],
            registry=self.registry,
        )
        self.slow_consumers = Counter(
            "hub_slow_consumers", "Connections closed because they stopped reading what was sent to them.",
            registry=self.registry,
        )
        self.http_errors = Counter(
            "hub_http_errors_total", "HTTP API errors by code.", ["code"], registry=self.registry
        )
        self.deliveries = Counter(
            "hub_deliveries_total", "Events written to a connection of this process.", registry=self.registry
        )
        self.fastpath_deliveries = Counter(
            "hub_fastpath_deliveries_total",
            "Deliveries written straight to a websocket's transport (the websocket fast path).",
            registry=self.registry,
        )
        self.optimisations = Gauge(
            "hub_optimisation_enabled",
            "1 while an optimisation that leans on a library's internals is on, 0 when its check failed "
            "(see /api/health's optimisations for why).",
            ["name"], registry=self.registry,
        )
        self._published: dict[str, Any] = {}
        #: When this hub was built (Unix time), for the uptime shown in the admin console.
        self.started_at = time.time()

    def published(self, kind: str) -> None:
        """Count one event published on a topic of ``kind``."""
        # ``labels()`` costs three times the increment; every publish comes here.
        child = self._published.get(kind)
        if child is None:
            child = self._published[kind] = self.events.labels(kind)
        child.inc()

    @staticmethod
    def total(counter: Counter) -> float:
        """The sum of a counter over all its labels (the admin console shows totals)."""
        return sum(
            sample.value for metric in counter.collect() for sample in metric.samples if sample.name.endswith("_total")
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
