/*
 * The analytics plugin's admin panel: the cluster's figures, live, with charts
 * drawn by uPlot (MIT, vendored beside this file; see docs/analytics.md).
 *
 * On mount it draws the last hour from GET /api/analytics/history (every stored
 * interval and the current partial one), then subscribes to stats:cluster and
 * appends each stats.tick as it comes. A module; the console calls mount(ctx).
 */

var BASE = "/console/panels/analytics/";
var SPAN_SECONDS = 3600; // what the charts keep
var uplotReady = null;

function loadUplot() {
  if (uplotReady) return uplotReady;
  uplotReady = new Promise(function (resolve, reject) {
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = BASE + "uPlot.min.css";
    document.head.appendChild(css);
    if (window.uPlot) return resolve(window.uPlot);
    var script = document.createElement("script");
    script.src = BASE + "uPlot.iife.min.js";
    script.onload = function () { resolve(window.uPlot); };
    script.onerror = function () { reject(new Error("uPlot did not load")); };
    document.head.appendChild(script);
  });
  return uplotReady;
}

function ms(seconds) {
  return seconds === null || seconds === undefined ? null : seconds * 1000;
}

export async function mount(ctx) {
  var $ = ctx.$;
  var el = ctx.el;
  var root = ctx.root;
  // [times, events/s, deliveries/s] and [times, p50 ms, p99 ms]: uPlot's column arrays.
  var rates = [[], [], []];
  var latency = [[], [], []];
  var charts = [];
  root.dataset.historyPoints = "0";
  root.dataset.ticks = "0";

  function push(at, published, deliveries, p50, p99) {
    rates[0].push(at); rates[1].push(published); rates[2].push(deliveries);
    latency[0].push(at); latency[1].push(ms(p50)); latency[2].push(ms(p99));
    var oldest = at - SPAN_SECONDS;
    while (rates[0].length && rates[0][0] < oldest) {
      [rates, latency].forEach(function (columns) { columns.forEach(function (c) { c.shift(); }); });
    }
  }

  function width() {
    return Math.max(300, root.clientWidth - 32);
  }

  function chart(node, title, labels, colors, data, unit) {
    var series = [{}];
    labels.forEach(function (label, i) {
      series.push({ label: label, stroke: colors[i], width: 2, spanGaps: true,
        value: function (u, v) { return v === null || v === undefined ? "–" : v.toFixed(1) + unit; } });
    });
    return new window.uPlot({ title: title, width: width(), height: 180, series: series,
      scales: { x: { time: true } }, axes: [{}, { size: 60 }] }, data, node);
  }

  function redraw() {
    if (charts.length) {
      charts[0].setData(rates);
      charts[1].setData(latency);
    }
  }

  function render(data) {
    $("#analytics-nodes").textContent = "Processes: " + data.nodes.join(", ") + (data.degraded ? " (cluster view degraded: Redis unreachable, this process only)" : "");
    root.dataset.degraded = String(data.degraded);
    var transports = Object.keys(data.connections.by_transport).map(function (t) {
      return t + " " + data.connections.by_transport[t];
    }).join(", ");
    $("#an-connections").textContent = data.connections.total + (transports ? " (" + transports + ")" : "");
    $("#an-events").textContent = data.published.per_second.toFixed(1);
    $("#an-deliveries").textContent = data.deliveries.per_second.toFixed(1);
    var l = data.latency.recent.count ? data.latency.recent : data.latency;
    $("#an-latency").textContent = l.p50 === null ? "–" : ms(l.p50).toFixed(1) + " / " + ms(l.p99).toFixed(1) + " ms";
    $("#an-backlog").textContent = data.offline_queue.backlog === null ? "–" : String(data.offline_queue.backlog);
    $("#an-slow").textContent = String(data.slow_consumers.total);
    var refused = [];
    ["connections", "requests", "http"].forEach(function (what) {
      Object.keys(data.refused[what]).forEach(function (code) { refused.push(what + " " + code + ": " + data.refused[what][code]); });
    });
    $("#an-refused").textContent = refused.length ? refused.join(", ") : "none";
    $("#an-health").textContent = data.health.database + " / " + data.health.broker;
    var rows = $("#an-types");
    rows.textContent = "";
    data.published.by_type.slice(0, 20).forEach(function (t) {
      rows.appendChild(el("tr", {}, el("td", { text: t.kind }), el("td", {}, el("code", { text: t.type })),
        el("td", { class: "num", text: t.per_second.toFixed(1) }), el("td", { class: "num", text: String(t.total) })));
    });
    var plugins = $("#an-plugins");
    plugins.textContent = "";
    Object.keys(data.plugins).forEach(function (plugin) {
      Object.keys(data.plugins[plugin]).forEach(function (series) {
        var value = data.plugins[plugin][series];
        var text = typeof value === "number" ? String(value) : value.total + " (" + value.per_second.toFixed(1) + "/s)";
        plugins.appendChild(el("li", {}, el("code", { text: series }), " " + text));
      });
    });
  }

  function tick(data) {
    var at = Date.parse(data.at) / 1000;
    push(at, data.published.per_second, data.deliveries.per_second, data.latency.recent.p50, data.latency.recent.p99);
    root.dataset.ticks = String(Number(root.dataset.ticks) + 1);
    render(data);
    redraw();
  }

  // Before connecting (mount runs first), so no tick is missed.
  ctx.hub.on("stats.tick", tick);

  try {
    await loadUplot();
    var to = new Date();
    var from = new Date(to.getTime() - SPAN_SECONDS * 1000);
    var history = await ctx.api("/api/analytics/history?from=" + encodeURIComponent(from.toISOString()) +
      "&to=" + encodeURIComponent(to.toISOString()));
    history.points.forEach(function (p) {
      // A point is drawn at its interval's end: the figures are what it counted until then.
      var end = Math.min(Date.parse(p.end), to.getTime()) / 1000;
      push(end, p.published_per_second, p.deliveries_per_second, p.latency.p50, p.latency.p99);
    });
    root.dataset.historyPoints = String(history.points.length);
    charts.push(chart($("#an-rate-chart"), "Per second", ["events", "deliveries"], ["#2563eb", "#16a34a"], rates, "/s"));
    charts.push(chart($("#an-latency-chart"), "Delivery latency", ["p50", "p99"], ["#9333ea", "#dc2626"], latency, " ms"));
    window.addEventListener("resize", function () {
      charts.forEach(function (c) { c.setSize({ width: width(), height: 180 }); });
    });
    await ctx.hub.ready();
    var reply = await ctx.hub.subscribe("stats:cluster");
    if (reply && reply.snapshot) render(reply.snapshot);
    ctx.say($("#analytics-status"), "Live", "ok");
  } catch (err) {
    ctx.say($("#analytics-status"), ctx.errorText(err), "error");
  }
}
