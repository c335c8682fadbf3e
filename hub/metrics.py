"""Prometheus metrics of one hub, in a registry of its own (several hubs may share a process in tests)."""

from __future__ import annotations

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
        self.http_errors = Counter(
            "hub_http_errors_total", "HTTP API errors by code.", ["code"], registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
