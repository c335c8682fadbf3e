"""Prometheus metrics of one hub, in a registry of its own (several hubs may share a process in tests).

The core's own metrics are attributes of :class:`HubMetrics`; plugins register
theirs with :meth:`HubMetrics.counter`, :meth:`~HubMetrics.gauge` and
:meth:`~HubMetrics.histogram`, and any plugin reads every figure with
:meth:`HubMetrics.read`. All of them are exported at ``/metrics``.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily


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
        #: Event types get their own label value up to this many (see :class:`TypeLabels`).
        self.types = TypeLabels(TYPE_LABELS_MAX)
        self.events_by_type = Counter(
            "hub_events_published_by_type_total",
            f"Events published, by topic kind and event type (the first {TYPE_LABELS_MAX} types seen, "
            "then 'other').", ["kind", "type"], registry=self.registry,
        )
        self.deliveries_by_type = Counter(
            "hub_deliveries_by_type_total",
            "Events written to a connection of this process, by topic kind and event type (types as "
            "hub_events_published_by_type_total).", ["kind", "type"], registry=self.registry,
        )
        #: Publish (the envelope's ts) to the write on the socket, one observation per fan-out
        #: weighted by its recipients; exported as the histogram hub_delivery_latency_seconds.
        self.latency = LatencyHistogram()
        #: Open connections by transport, counted when read (see :meth:`count_transports`).
        self._transports: Callable[[], Mapping[str, int]] = dict
        self.registry.register(_Collected(self._collect_extra))
        self._published: dict[str, Any] = {}
        self._published_types: dict[tuple[str, str], Any] = {}
        self._delivered_types: dict[tuple[str, str], Any] = {}
        #: When this hub was built (Unix time), for the uptime shown in the admin console.
        self.started_at = time.time()

    def published(self, kind: str, type: str | None = None) -> None:
        """Count one event published on a topic of ``kind`` (and of event ``type``)."""
        # ``labels()`` costs three times the increment; every publish comes here.
        child = self._published.get(kind)
        if child is None:
            child = self._published[kind] = self.events.labels(kind)
        child.inc()
        if type is not None:
            key = (kind, self.types.label(type))
            by_type = self._published_types.get(key)
            if by_type is None:
                by_type = self._published_types[key] = self.events_by_type.labels(*key)
            by_type.inc()

    def delivered(self, event: Mapping[str, Any], count: int, flusher: Any = None) -> None:
        """``count`` deliveries of one event (an envelope's dict): counted by kind and type, and
        its latency observed once, weighted by ``count``.

        ``flusher`` is the websocket fast path's :class:`hub.fastpath.Flusher` when the
        event's frames wait in it: the latency is then taken when it writes them.
        """
        if count <= 0:
            return
        topic, type = event.get("topic"), event.get("type")
        key = (topic.partition(":")[0] if isinstance(topic, str) else "", self.types.label(type))
        child = self._delivered_types.get(key)
        if child is None:
            child = self._delivered_types[key] = self.deliveries_by_type.labels(*key)
        child.inc(count)
        published = self.latency.published_at(event.get("ts"))
        if published is None:
            return
        if flusher is not None and flusher.scheduled:
            self.latency.hold(published, count)
            flusher.on_flush = self.latency.written
        else:
            self.latency.observe(time.time() - published, count)

    def count_transports(self, source: Callable[[], Mapping[str, int]]) -> None:
        """Where ``hub_connections_by_transport`` comes from: a callable counting open connections
        by transport, called only when the metrics are read."""
        self._transports = source

    def _collect_extra(self) -> Iterator[Any]:
        transports = GaugeMetricFamily(
            "hub_connections_by_transport", "Open connections by transport (websocket or polling).",
            labels=["transport"],
        )
        for transport, count in sorted(self._transports().items()):
            transports.add_metric([transport], count)
        yield transports
        yield self.latency.family()

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


# Figures the core keeps for anyone who reads them (the analytics plugin) ----------

#: How many event types get a label value of their own; the rest are counted as ``other``.
TYPE_LABELS_MAX = 50
OTHER = "other"
#: The delivery latency's bucket bounds (seconds): 0.1 ms to about 65 s, each 2^(1/6)
#: (12 %) above the previous, so a quantile read from the buckets is within a few per cent.
LATENCY_BUCKETS: tuple[float, ...] = tuple(round(0.0001 * 2 ** (step / 6), 7) for step in range(0, 117))


class TypeLabels:
    """Caps a label whose values users choose (event types): the first ``limit`` distinct values
    seen keep their own value, every later one is ``other``, so the series cannot grow without bound.

    The types that come first are, in practice, the frequent ones; a type first seen
    once the cap is reached is counted, as ``other``, never dropped.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.known: set[str] = set()

    def label(self, value: Any) -> str:
        if value in self.known:
            return value  # type: ignore[no-any-return]
        if not isinstance(value, str) or not value:
            return OTHER
        if len(self.known) >= self.limit:
            return OTHER
        self.known.add(value)
        return value


class LatencyHistogram:
    """A fixed-bucket histogram of delivery latencies that takes weighted observations.

    One fan-out is one observation weighted by its number of recipients, so it costs
    the same for one recipient or ten thousand. Fixed buckets make it mergeable: the
    cluster's histogram is the sum of the processes' buckets.
    """

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above the highest bound (+Inf)
        self.sum = 0.0
        self._held: list[tuple[float, int]] = []
        self._last_ts: str | None = None
        self._last_at = 0.0

    def published_at(self, ts: Any) -> float | None:
        """The Unix time of an envelope's ``ts`` (RFC 3339), or ``None``; the last one is cached."""
        if ts == self._last_ts:
            return self._last_at
        if not isinstance(ts, str):
            return None
        try:
            at = datetime.fromisoformat(ts).timestamp()
        except ValueError:
            return None
        self._last_ts, self._last_at = ts, at
        return at

    def observe(self, seconds: float, weight: int = 1) -> None:
        seconds = max(seconds, 0.0)
        self.counts[bisect.bisect_left(self.bounds, seconds)] += weight
        self.sum += seconds * weight

    def hold(self, published: float, weight: int) -> None:
        """An observation to take when the frames are written (:meth:`written`)."""
        self._held.append((published, weight))

    def written(self) -> None:
        held, self._held = self._held, []
        now = time.time()
        for published, weight in held:
            self.observe(now - published, weight)

    def family(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            "hub_delivery_latency_seconds",
            "From an event's publish (its envelope's ts) to its write on a socket of this process, "
            "per delivery.",
        )
        cumulative, buckets = 0, []
        for bound, count in zip((*self.bounds, float("inf")), self.counts):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        family.add_metric([], buckets, self.sum)
        return family


class _Collected:
    """A collector of figures computed when read."""

    def __init__(self, collect: Callable[[], Iterator[Any]]) -> None:
        self.collect = collect

    def describe(self) -> list[Any]:
        return []  # nothing at registration: the transports' source is set later


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
