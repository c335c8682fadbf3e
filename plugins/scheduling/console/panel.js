/*
 * The scheduling plugin's console panel: pick a lawyer, watch the week's slots
 * (availability:<resource>) change live, hold a slot, book it, cancel it.
 * A module; the console calls mount(ctx).
 */

var DAY_MS = 86400000;

export function mount(ctx) {
  var hub = ctx.hub;
  var $ = ctx.$;
  var el = ctx.el;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  var resource = null;
  var type = null;
  var slots = new Map(); // instant (ms) -> slot as the hub shows it to this user

  function say(text, kind) {
    ctx.say($("#sched-status"), text, kind);
  }

  function label(slot) {
    var start = new Date(slot.start);
    return start.toLocaleString(undefined, { weekday: "short", day: "numeric", month: "short",
      hour: "2-digit", minute: "2-digit", timeZone: zone });
  }

  async function act(name, payload, done) {
    try {
      var reply = await hub.request(name, payload);
      say(done(reply), "ok");
    } catch (err) {
      say(ctx.errorText(err), "error");
    }
  }

  function buttons(slot) {
    var at = slot.start;
    if (slot.status === "free") {
      return [el("button", { type: "button", class: "sched-hold", text: "Hold", onclick: function () {
        act("scheduling.hold", { resource: resource, start: at, type: type }, function () { return "Held " + label(slot) + "."; });
      } })];
    }
    if (slot.status === "yours" && slot.state === "held") {
      return [
        el("button", { type: "button", class: "sched-book", text: "Book", onclick: function () {
          act("scheduling.book", { hold_id: slot.hold_id, id: ctx.uuid() }, function () { return "Booked " + label(slot) + "."; });
        } }),
        el("button", { type: "button", class: "secondary sched-release", text: "Release", onclick: function () {
          act("scheduling.release", { hold_id: slot.hold_id }, function () { return "Released."; });
        } }),
      ];
    }
    if (slot.status === "yours" && slot.state === "booked") {
      return [el("button", { type: "button", class: "secondary sched-cancel", text: "Cancel", onclick: function () {
        act("scheduling.cancel", { booking_id: slot.booking_id }, function () { return "Cancelled."; });
      } })];
    }
    return [];
  }

  function render() {
    var list = $("#sched-slots");
    list.textContent = "";
    Array.from(slots.keys()).sort(function (a, b) { return a - b; }).forEach(function (instant) {
      var slot = slots.get(instant);
      var state = slot.status === "yours" ? "yours (" + slot.state + ")" : slot.status;
      list.appendChild(el("li", { "data-start": String(instant), "data-status": slot.status, class: "sched-slot" },
        el("span", { text: label(slot) + " " }), el("span", { class: "muted sched-state", text: state }),
        " ", ...buttons(slot)));
    });
  }

  function changed(data) {
    if (!resource || data.resource !== resource) return;
    var instant = Date.parse(data.start);
    if (!slots.has(instant)) return; // another type's slot, or outside the week shown
    var slot = Object.assign({}, slots.get(instant), { status: data.status, state: data.state,
      hold_id: data.hold_id, booking_id: data.booking_id });
    slots.set(instant, slot);
    render();
  }

  ["slot.held", "slot.released", "slot.booked", "slot.freed"].forEach(function (name) {
    hub.on(name, changed);
  });

  function apply(snapshot) {
    type = snapshot.type;
    slots.clear();
    snapshot.slots.forEach(function (slot) { slots.set(Date.parse(slot.start), slot); });
    $("#sched-zone").textContent = "Times in " + zone + "; " + snapshot.name + " works in " +
      snapshot.resource_tz + ".";
    render();
  }

  // Nothing of this topic is stored: after a reconnect the fresh snapshot is the truth.
  hub.on("resubscribed", function (detail) {
    if (resource && detail.topic === "availability:" + resource && detail.reply && detail.reply.snapshot) {
      apply(detail.reply.snapshot);
    }
  });

  async function show(id) {
    if (resource && resource !== id) {
      try { await hub.unsubscribe("availability:" + resource); } catch (err) { /* already gone */ }
    }
    var now = Date.now();
    try {
      var reply = await hub.subscribe("availability:" + id, { params: {
        from: new Date(now).toISOString(), to: new Date(now + 7 * DAY_MS).toISOString(), tz: zone } });
      resource = id;
      apply(reply.snapshot);
      say(reply.snapshot.slots.length + " slots this week.", "ok");
    } catch (err) {
      say(ctx.errorText(err), "error");
    }
  }

  $("#sched-form").addEventListener("submit", function (event) {
    event.preventDefault();
    show($("#sched-lawyer").value);
  });

  hub.ready().then(async function () {
    try {
      var listed = await ctx.api("/api/scheduling/resources");
      var select = $("#sched-lawyer");
      select.textContent = "";
      listed.resources.forEach(function (item) {
        select.appendChild(el("option", { value: item.id, text: item.name }));
      });
      if (!listed.resources.length) say("No lawyers are set up yet (PUT /api/scheduling/resources/{id}).", "info");
    } catch (err) {
      say(ctx.errorText(err), "error");
    }
  });
}
