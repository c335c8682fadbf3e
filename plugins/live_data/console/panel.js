/*
 * The live_data plugin's console panel: watch a collection (live:<collection>),
 * optionally filtered, as a table that updates itself. It keeps the list the way
 * docs/live_data.md tells every client to: the snapshot at the reply's seq, then
 * each event with a higher seq (events that arrive before the reply are held).
 */

var TYPES = ["live.added", "live.changed", "live.removed", "live.reset"];

export function mount(ctx) {
  var hub = ctx.hub;
  var $ = ctx.$;
  var el = ctx.el;
  var topic = null;
  var records = new Map();
  var seq = 0;
  var held = null; // events received while a subscribe is on its way

  function render() {
    var body = $("#live-rows");
    body.textContent = "";
    Array.from(records.keys()).sort().forEach(function (key) {
      body.appendChild(el("tr", { "data-key": key },
        el("td", { text: key }), el("td", { text: JSON.stringify(records.get(key)) })));
    });
    $("#live-caption").textContent = topic ? topic + ": " + records.size + " records (seq " + seq + ")" : "No collection watched.";
  }

  function apply(envelope) {
    if (envelope.seq <= seq) return; // already in the snapshot
    var data = envelope.data;
    if (envelope.type === "live.reset") {
      records = new Map(data.records.map(function (item) { return [item.key, item.record]; }));
    } else if (envelope.type === "live.removed") {
      records.delete(data.key);
    } else {
      records.set(data.key, data.record);
    }
    seq = envelope.seq;
  }

  function fromSnapshot(reply) {
    if (reply.snapshot) {
      records = new Map(reply.snapshot.records.map(function (item) { return [item.key, item.record]; }));
      seq = reply.seq;
    }
  }

  TYPES.forEach(function (type) {
    hub.on(type, function (data, envelope) {
      if (envelope.topic !== topic) return;
      if (held) held.push(envelope);
      else { apply(envelope); render(); }
    });
  });
  hub.on("resubscribed", function (info) {
    if (info.topic === topic) { fromSnapshot(info.reply); render(); }
  });

  $("#live-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    var name = $("#live-collection").value.trim();
    var text = $("#live-filter").value.trim();
    var params = {};
    if (text) {
      try { params.filter = JSON.parse(text); } catch (err) {
        ctx.say($("#live-status"), "The filter is not JSON.", "error");
        return;
      }
    }
    if (topic && topic !== "live:" + name) {
      try { await hub.unsubscribe(topic); } catch (err) { /* it may be gone already */ }
    }
    topic = "live:" + name;
    held = [];
    records = new Map();
    seq = 0;
    try {
      var reply = await hub.subscribe(topic, { params: params, since: null });
      fromSnapshot(reply);
      held.forEach(apply);
      ctx.say($("#live-status"), "Watching " + name + (text ? " where " + text : "") + ".", "ok");
    } catch (err) {
      topic = null;
      ctx.say($("#live-status"), ctx.errorText(err), "error");
    } finally {
      held = null;
      render();
    }
  });
}
