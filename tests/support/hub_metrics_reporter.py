"""A test plugin that reports a counter, a gauge and a histogram through ``hub.metrics``.

- Request ``reporter.report {color, depth, seconds}``: counts a ping of that
  colour, sets the queue depth, observes the latency.
- ``GET /api/reporter/checks``: what registering went like at start-up (the
  same metric asked twice, and the refusals of bad names, with their messages).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub import ClientRequest, MetricError, hookimpl

checks: dict[str, object] = {}


def _refusal(register) -> str | None:
    try:
        register()
    except MetricError as exc:
        return str(exc)
    return None


@hookimpl
def hub_startup(hub):
    metrics = hub.metrics
    pings = metrics.counter("hub_reporter_pings_total", "Pings by colour.", ["color"])
    metrics.gauge("hub_reporter_queue_depth", "Items waiting.")
    metrics.histogram("hub_reporter_latency_seconds", "How long a ping took.", buckets=(0.1, 1.0, 10.0))
    checks["same_metric_again"] = metrics.counter("hub_reporter_pings_total", "Pings by colour.", ["color"]) is pings
    checks["refused"] = {
        "no_prefix": _refusal(lambda: metrics.counter("pings_total", "x")),
        "other_plugin": _refusal(lambda: metrics.counter("hub_nosuchplugin_pings_total", "x")),
        "core_name": _refusal(lambda: metrics.gauge("hub_connections", "x")),
        "upper_case": _refusal(lambda: metrics.gauge("hub_reporter_Depth", "x")),
        "other_shape": _refusal(lambda: metrics.gauge("hub_reporter_pings_total", "x", ["color"])),
        "other_labels": _refusal(lambda: metrics.counter("hub_reporter_pings_total", "x", ["colour"])),
        "bad_label": _refusal(lambda: metrics.counter("hub_reporter_errors_total", "x", ["le"])),
    }


@hookimpl
def hub_requests(hub):
    async def report(request: ClientRequest) -> dict[str, bool]:
        payload = request.payload
        metrics = hub.metrics
        # Asked for again by name: the hub hands back the metric registered at start-up.
        metrics.counter("hub_reporter_pings_total", "Pings by colour.", ["color"]).labels(payload["color"]).inc()
        metrics.gauge("hub_reporter_queue_depth", "Items waiting.").set(payload["depth"])
        metrics.histogram(
            "hub_reporter_latency_seconds", "How long a ping took.", buckets=(0.1, 1.0, 10.0)
        ).observe(payload["seconds"])
        return {"reported": True}

    return {"report": report}


@hookimpl
def hub_routes(hub):
    async def show_checks(request: Request) -> Response:
        return JSONResponse(checks)

    return [Route("/checks", show_checks, methods=["GET"])]
