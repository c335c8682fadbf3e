"""Prometheus metrics of one hub, in a registry of its own (several hubs may share a process in tests).

The core's own metrics are attributes of :class:`HubMetrics`; plugins register
theirs with :meth:`HubMetrics.counter`, :meth:`~HubMetrics.gauge` and
:meth:`~HubMetrics.histogram`, and any plugin reads every figure with
:meth:`HubMetrics.read`. All of them are exported at ``/metrics``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class HubMetrics:
    """The counters and gauges exported at ``/metrics``."""

    def __init__(self, plugins: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry()
        #: The plugins whose prefixes (``hub_<plugin>_``) metric names may take.
        self.namespaces: tuple[str, ...] = tuple(plugins)
        self._plugin_metrics: dict[str, _Registered] = {}
        self.connections = Gauge("hub_connections", "Open Socket.IO connections.", registry=self.registry)
        self.connects = Counter(
            "hub_connects_total", "Connection attempts by outcome.", ["outcome"], registry=self.registry
        )
        self.disconnects = Counter(
            "hub_disconnects_total",
            "Disconnections by reason: client, server, lost (transport closed), ping_timeout, slow_consumer "
            "or protocol_error.",
            ["reason"],
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
        self.encodings = Counter(
            "hub_event_encodings_total",
            "Events encoded for delivery: once per event and form (see hub.views), however many recipients.",
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

    # The plugins' metrics: registered by name, read by anyone ----------------------

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        """A counter named ``hub_<plugin>_...`` in this hub's registry (the same one when asked twice).

        prometheus_client adds ``_total`` to the exported series if the name lacks it.
        """
        metric: Counter = self._register("counter", name, help, labels, (), Counter)
        return metric

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        """A gauge named ``hub_<plugin>_...`` in this hub's registry (the same one when asked twice)."""
        metric: Gauge = self._register("gauge", name, help, labels, (), Gauge)
        return metric

    def histogram(
        self, name: str, help: str, labels: Sequence[str] = (),
        buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS,
    ) -> Histogram:
        """A histogram named ``hub_<plugin>_...`` with ``buckets`` (upper bounds) in this hub's registry."""
        bounds = tuple(float(bound) for bound in buckets)
        if not bounds or list(bounds) != sorted(set(bounds)):
            raise MetricError(f"metric {name!r}: buckets must be increasing upper bounds, got {list(buckets)}")
        metric: Histogram = self._register("histogram", name, help, labels, bounds, Histogram, buckets=bounds)
        return metric

    def _register(
        self, kind: str, name: str, help: str, labels: Sequence[str], extra: tuple[float, ...],
        factory: Any, **options: Any,
    ) -> Any:
        plugin = self._plugin_of(name)
        names = tuple(labels)
        for label in names:
            if not LABEL_NAME.match(label) or label in RESERVED_LABELS:
                raise MetricError(
                    f"metric {name!r}: label {label!r} must be lower-case letters, digits and _, "
                    f"not starting with a digit or _, and not {' or '.join(sorted(RESERVED_LABELS))}"
                )
        if len(set(names)) != len(names):
            raise MetricError(f"metric {name!r}: label names repeat: {list(names)}")
        # A counter's family is its name without _total: "x" and "x_total" are one metric,
        # and a counter "x" owns the series "x_total" whatever else asks for that name.
        stripped = name[: -len("_total")] if name.endswith("_total") else name
        key = stripped if kind == "counter" else name
        shape = (kind, names, extra)
        known = self._plugin_metrics.get(key)
        if known is None and kind != "counter" and stripped != name:
            counter = self._plugin_metrics.get(stripped)
            if counter is not None and counter.shape[0] == "counter":
                known = counter
        if known is not None:
            if known.shape != shape:
                raise MetricError(
                    f"metric {name!r} is already registered as a {known.shape[0]} with labels {list(known.shape[1])}"
                    + (f" and buckets {list(known.shape[2])}" if known.shape[2] else "")
                    + f"; asked again as a {kind} with labels {list(names)}"
                    + (f" and buckets {list(extra)}" if extra else "")
                )
            return known.metric
        try:
            metric = factory(name, help, names, registry=self.registry, **options)
        except ValueError as exc:  # a series of the core's (or a histogram's _sum/_count) already has the name
            raise MetricError(f"metric {name!r} cannot be registered: {exc}") from exc
        self._plugin_metrics[key] = _Registered(plugin, shape, metric)
        return metric

    def _plugin_of(self, name: str) -> str:
        if not METRIC_NAME.match(name):
            raise MetricError(f"metric name {name!r} must be lower-case letters, digits and _, starting with a letter")
        # Longest first: a plugin "doc" must not claim the names of "doc_processing".
        for plugin in sorted(self.namespaces, key=len, reverse=True):
            prefix = f"hub_{plugin}_"
            if name.startswith(prefix) and len(name) > len(prefix):
                return plugin
        enabled = ", ".join(sorted(self.namespaces)) or "none"
        raise MetricError(
            f"metric name {name!r} must start with hub_<plugin>_, the prefix of the plugin that reports it "
            f"(enabled plugins: {enabled}), e.g. 'hub_<plugin>_jobs_total'"
        )

    def read(self, prefix: str = "") -> list[MetricFamily]:
        """Every metric of this hub whose name starts with ``prefix``, core and plugins alike, as plain data.

        A reading is a snapshot taken now; ``*_created`` series (when each began) are left out.
        """
        owners = {key: registered.plugin for key, registered in self._plugin_metrics.items()}
        families = []
        for family in self.registry.collect():
            if not family.name.startswith(prefix):
                continue
            samples = tuple(
                MetricSample(sample.name, dict(sample.labels), float(sample.value))
                for sample in family.samples
                if not sample.name.endswith("_created")
            )
            plugin = owners.get(family.name)
            families.append(MetricFamily(family.name, family.type, family.documentation, plugin, samples))
        return families


# What plugins' metrics may be called, and what read() returns -------------------
#
# A plugin reports figures through ``hub.metrics`` and never imports another
# plugin to read them: the names are namespaced by plugin (``hub_<plugin>_...``),
# and ``read()`` turns the whole registry, core and plugins alike, into plain data.

METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
LABEL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: Label names prometheus_client gives a meaning of its own (histogram buckets, summary quantiles).
RESERVED_LABELS = frozenset({"le", "quantile"})


class MetricError(ValueError):
    """A metric a plugin asked for cannot be registered; the message says why and what would do."""


@dataclass(frozen=True)
class MetricSample:
    """One exported series: ``name`` as in ``/metrics`` (``..._total``, ``..._bucket``), its labels, its value."""

    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class MetricFamily:
    """One metric as :meth:`HubMetrics.read` returns it: plain data, no prometheus_client object.

    ``name`` is the family's name (a counter's without its ``_total``), ``type``
    is Prometheus's (``counter``, ``gauge``, ``histogram``...), ``plugin`` is the
    plugin that registered it, ``None`` for the core's own.
    """

    name: str
    type: str
    help: str
    plugin: str | None
    samples: tuple[MetricSample, ...]

    def value(self, sample: str | None = None, **labels: str) -> float | None:
        """The value of one sample with exactly ``labels``, or ``None`` when there is none.

        ``sample`` defaults to the family's main series: ``<name>_total`` for a
        counter, ``<name>_count`` for a histogram, ``<name>`` otherwise.
        """
        wanted = sample or self.name + {"counter": "_total", "histogram": "_count"}.get(self.type, "")
        for candidate in self.samples:
            if candidate.name == wanted and dict(candidate.labels) == labels:
                return candidate.value
        return None


@dataclass(frozen=True)
class _Registered:
    plugin: str
    shape: tuple[Any, ...]
    metric: Any
