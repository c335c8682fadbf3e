/*
 * admin.js: the admin page (/admin). Polls GET /api/admin/stats every second for
 * the counters, the events/s and deliveries/s chart, connections and topics;
 * searches the event log (GET /api/admin/events) and replays what the filters
 * match (POST /api/admin/replay), after a dry-run count and a confirmation.
 * The enabled plugins' admin panels are mounted after sign-in with a hub client
 * of their own, which connects only when the page has such a panel. Plain ES2017.
 */
(function () {
  "use strict";

  var C = window.HubConsole;
  var $ = C.$;
  var el = C.el;
  var POLL_MS = 1000;
  var HISTORY = 120; // samples kept for the chart: two minutes

  var samples = []; // {t, events, deliveries} rates
  var previous = null; // the last stats reading
  var paused = false;
  var timer = null;
  var panels = C.loadPanels();
  var hub = null;

  // Stats ---------------------------------------------------------------------

  async function poll() {
    timer = null;
    if (!paused) {
      try {
        update(await C.api("/api/admin/stats"));
      } catch (err) {
        C.say($("#admin-status"), "Stats unavailable: " + C.errorText(err), "error");
        if (err.status === 401 || err.status === 403) return; // no point polling without the role
      }
    }
    timer = setTimeout(poll, POLL_MS);
  }

  function update(stats) {
    var counters = stats.counters;
    C.say($("#admin-status"), "Signed in as " + C.session().user + ", live", "ok");
    $("#instance").textContent = stats.instance;
    $("#count-connections").textContent = String(counters.connections);
    $("#count-events").textContent = String(Math.round(counters.events_published));
    $("#count-deliveries").textContent = String(Math.round(counters.deliveries));
    $("#uptime").textContent = C.formatDuration(stats.uptime_seconds);
    if (previous) {
      var dt = Math.max(0.001, stats.server_time - previous.server_time);
      var rate = {
        t: stats.server_time,
        events: Math.max(0, (counters.events_published - previous.counters.events_published) / dt),
        deliveries: Math.max(0, (counters.deliveries - previous.counters.deliveries) / dt),
      };
      samples.push(rate);
      if (samples.length > HISTORY) samples.shift();
      $("#rate-events").textContent = rate.events.toFixed(1);
      $("#rate-deliveries").textContent = rate.deliveries.toFixed(1);
      drawChart();
    }
    previous = stats;
    renderConnections(stats.connections);
    renderTopics(stats.topics);
  }

  function renderConnections(connections) {
    var rows = $("#connection-rows");
    rows.textContent = "";
    connections.forEach(function (c) {
      rows.appendChild(el("tr", {},
        el("td", { text: c.user }),
        el("td", { text: c.roles.join(", ") }),
        el("td", {}, el("time", { text: C.formatTime(c.connected_at) })),
        el("td", { class: "num", text: String(c.subscriptions) }),
        el("td", {}, el("code", { text: c.id }))));
    });
    if (!connections.length) rows.appendChild(el("tr", {}, el("td", { colspan: "5", class: "muted", text: "No connections." })));
  }

  function renderTopics(topics) {
    var rows = $("#topic-rows");
    rows.textContent = "";
    topics.forEach(function (t) {
      rows.appendChild(el("tr", { "data-topic": t.topic },
        el("td", {}, el("code", { text: t.topic })),
        el("td", { class: "num", text: String(t.subscribers) })));
    });
    if (!topics.length) rows.appendChild(el("tr", {}, el("td", { colspan: "2", class: "muted", text: "No subscriptions." })));
  }

  /** Two lines on a canvas, scaled to the largest rate shown; no library. */
  function drawChart() {
    if ($("#rate-chart-wrap").hidden) return; // a plugin's panel took its place (data-replaces)
    var canvas = $("#rate-chart");
    var ctx = canvas.getContext("2d");
    var w = canvas.width;
    var h = canvas.height;
    var pad = 28;
    var style = getComputedStyle(document.body);
    ctx.clearRect(0, 0, w, h);
    var max = 1;
    samples.forEach(function (s) {
      max = Math.max(max, s.events, s.deliveries);
    });
    max = niceCeiling(max);
    ctx.font = "12px system-ui, sans-serif";
    ctx.fillStyle = style.color;
    ctx.strokeStyle = "rgba(128,128,128,0.35)";
    ctx.lineWidth = 1;
    [0, 0.5, 1].forEach(function (f) {
      var y = h - pad - f * (h - 2 * pad);
      ctx.beginPath();
      ctx.moveTo(pad + 20, y);
      ctx.lineTo(w - 8, y);
      ctx.stroke();
      ctx.fillText(String(Math.round(max * f * 10) / 10), 4, y + 4);
    });
    function point(s, i, key) {
      // Newest at the right edge; the window scrolls left as samples come.
      return {
        x: pad + 20 + (i + HISTORY - samples.length) * ((w - pad - 28) / (HISTORY - 1)),
        y: h - pad - (s[key] / max) * (h - 2 * pad),
      };
    }
    function line(key, color) {
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.lineWidth = 2.5;
      ctx.beginPath();
      samples.forEach(function (s, i) {
        var p = point(s, i, key);
        if (i === 0) ctx.moveTo(p.x, p.y);
        else ctx.lineTo(p.x, p.y);
      });
      ctx.stroke();
      samples.forEach(function (s, i) {
        var p = point(s, i, key);
        ctx.beginPath();
        ctx.arc(p.x, p.y, 3, 0, 2 * Math.PI);
        ctx.fill();
      });
    }
    line("events", "#2f7df6");
    line("deliveries", "#e8710a");
    var last = samples[samples.length - 1];
    canvas.setAttribute("aria-label", "Events and deliveries per second over the last two minutes; now " +
      last.events.toFixed(1) + " events/s and " + last.deliveries.toFixed(1) + " deliveries/s");
  }

  function niceCeiling(value) {
    var magnitude = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (value <= steps[i] * magnitude) return steps[i] * magnitude;
    }
    return 10 * magnitude;
  }

  // Event log -------------------------------------------------------------------

  var nextCursor = null;

  function filters() {
    var form = $("#filter-form");
    var out = {};
    ["topic", "type", "user", "ts_from", "ts_to"].forEach(function (name) {
      var value = form.elements[name].value.trim();
      if (value) out[name] = value;
    });
    ["seq_from", "seq_to"].forEach(function (name) {
      var value = form.elements[name].value.trim();
      if (value) out[name] = parseInt(value, 10);
    });
    return out;
  }

  async function search(append) {
    var query = filters();
    query.limit = parseInt($("#f-limit").value, 10) || 50;
    if (append && nextCursor) query.after = nextCursor;
    var params = new URLSearchParams();
    Object.keys(query).forEach(function (key) {
      params.set(key, String(query[key]));
    });
    try {
      var page = await C.api("/api/admin/events?" + params.toString());
      var rows = $("#event-rows");
      if (!append) rows.textContent = "";
      page.events.forEach(function (e) {
        var sender = (e.meta && e.meta.sender) || "";
        var replay = e.meta && e.meta.replay ? " (replay)" : "";
        rows.appendChild(el("tr", {},
          el("td", {}, el("time", { datetime: e.ts, text: e.ts })),
          el("td", {}, el("code", { text: e.topic })),
          el("td", { class: "num", text: e.seq === null ? "" : String(e.seq) }),
          el("td", {}, el("code", { text: e.type + replay })),
          el("td", { text: sender }),
          el("td", {}, el("code", { text: JSON.stringify(e.data).slice(0, 160) }))));
      });
      nextCursor = page.next;
      $("#log-more").disabled = !nextCursor;
      var shown = rows.children.length;
      C.say($("#log-status"), shown + " event(s) shown" + (nextCursor ? "; more on the next page." : "."), "ok");
    } catch (err) {
      C.say($("#log-status"), C.errorText(err), "error");
    }
  }

  // Replay ------------------------------------------------------------------------

  var counted = null; // {filters, to_user, count} of the last dry run

  function replayBody() {
    var body = filters();
    var toUser = $("#replay-to-user").value.trim();
    if (toUser) body.to_user = toUser;
    return body;
  }

  async function dryRun() {
    var body = replayBody();
    counted = null;
    $("#replay-start").disabled = true;
    if (Object.keys(body).filter(function (k) { return k !== "to_user"; }).length === 0) {
      C.say($("#replay-status"), "Set at least one filter above (topic, type, user, time or seq).", "error");
      return;
    }
    try {
      var result = await C.api("/api/admin/replay", { method: "POST", json: Object.assign({}, body, { dry_run: true }) });
      counted = { body: body, count: result.count };
      C.say($("#replay-status"), result.count + " event(s) would be replayed" +
        (body.to_user ? " to " + body.to_user + "'s inbox." : " to their topics."), "ok");
      $("#replay-start").disabled = result.count === 0;
      $("#replay-status").dataset.count = String(result.count);
    } catch (err) {
      C.say($("#replay-status"), C.errorText(err), "error");
    }
  }

  function confirmReplay() {
    if (!counted) return;
    var target = counted.body.to_user ? counted.body.to_user + "'s inbox" : "their own topics";
    $("#replay-dialog-text").textContent = "Send " + counted.count + " event(s) again, as new events, to " +
      target + "? Subscribers receive them now; this cannot be undone.";
    $("#replay-dialog").showModal();
  }

  async function replay() {
    var body = counted.body;
    var replayId = C.uuid().replace(/-/g, "");
    var total = 0;
    var after = null;
    $("#replay-start").disabled = true;
    C.say($("#replay-status"), "Replaying…");
    try {
      // Page by page under one replay_id: one recorded replay, however long.
      do {
        var page = Object.assign({}, body, { replay_id: replayId });
        if (after) page.after = after;
        var result = await C.api("/api/admin/replay", { method: "POST", json: page });
        total = result.total;
        after = result.next;
        C.say($("#replay-status"), "Replaying… " + total + " so far");
      } while (after);
      C.say($("#replay-status"), "Replayed " + total + " event(s) (replay " + replayId + ").", "ok");
      $("#replay-status").dataset.replayed = String(total);
    } catch (err) {
      C.say($("#replay-status"), "Replay stopped after " + total + ": " + C.errorText(err), "error");
    }
    counted = null;
  }

  // Start -------------------------------------------------------------------------

  function start(session) {
    $("#signin").hidden = true;
    $("#app").hidden = false;
    $("#signout").hidden = false;
    C.say($("#admin-status"), "Signed in as " + session.user + "…");
    if (!timer) poll();
    startPanels(session);
  }

  async function startPanels(session) {
    if (!document.querySelector("section[data-panel]")) return;
    hub = HubClient.connect(window.location.origin, {
      token: session.token,
      getToken: C.renewToken,
      autoConnect: false,
    });
    await C.mountPanels(panels, hub, session);
    hub.connect();
  }

  C.wireSignIn({
    form: $("#signin-form"),
    tokenForm: $("#token-form"),
    message: $("#signin-message"),
    forceAdmin: true,
    onSignedIn: start,
  });
  $("#signout").addEventListener("click", function () {
    C.signOut();
    if (hub) hub.close();
    window.location.reload();
  });
  $("#stats-pause").addEventListener("click", function (event) {
    paused = !paused;
    event.target.setAttribute("aria-pressed", String(paused));
    event.target.textContent = paused ? "Resume updates" : "Pause updates";
  });
  $("#filter-form").addEventListener("submit", function (event) {
    event.preventDefault();
    nextCursor = null;
    search(false);
  });
  $("#log-more").addEventListener("click", function () {
    search(true);
  });
  $("#replay-form").addEventListener("submit", function (event) {
    event.preventDefault();
    dryRun();
  });
  $("#replay-start").addEventListener("click", confirmReplay);
  $("#replay-dialog").addEventListener("close", function () {
    if ($("#replay-dialog").returnValue === "confirm") replay();
  });
  // Filters changed: the last count no longer applies.
  $("#filter-form").addEventListener("input", function () {
    counted = null;
    $("#replay-start").disabled = true;
  });

  var saved = C.loadSession();
  if (saved) start(saved);
  else $("#signin-user").focus();
})();
