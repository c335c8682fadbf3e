/*
 * The notifications plugin's console panel: the list from GET /api/notifications,
 * new ones live (notification.created), the unread badge, mark as read, and a
 * form to send one (role admin). A module; the console calls mount(ctx).
 */

export function mount(ctx) {
  var hub = ctx.hub;
  var $ = ctx.$;
  var el = ctx.el;
  var shown = new Map(); // id -> {item, node}

  function setBadge(count) {
    var badge = $("#notification-badge");
    badge.textContent = String(count);
    badge.dataset.count = String(count);
    badge.setAttribute("aria-label", count + " unread");
    $("#notifications-read-all").disabled = count === 0;
  }

  function render(item, atTop) {
    var existing = shown.get(item.id);
    var button = item.read ? null : el("button", {
      type: "button", class: "secondary small", text: "Mark as read",
      "aria-label": "Mark “" + item.title + "” as read",
      onclick: function () {
        markRead([item.id]);
      },
    });
    var node = el("li", { class: item.read ? "read" : "unread", "data-id": item.id },
      el("div", { class: "item-head" }, el("strong", { text: item.title }),
        el("time", { datetime: item.created_at, text: ctx.formatTime(item.created_at) })),
      item.body ? el("p", { text: item.body }) : null,
      item.read ? el("span", { class: "muted", text: "Read" }) : button);
    var list = $("#notification-list");
    if (existing) list.replaceChild(node, existing.node);
    else if (atTop) list.insertBefore(node, list.firstChild);
    else list.appendChild(node);
    shown.set(item.id, { item: item, node: node });
    $("#notification-empty").hidden = shown.size > 0;
  }

  async function load() {
    try {
      var page = await ctx.api("/api/notifications?limit=50");
      $("#notification-list").textContent = "";
      shown.clear();
      page.items.forEach(function (item) {
        render(item, false);
      });
      setBadge(page.unread);
      $("#notification-empty").hidden = shown.size > 0;
    } catch (err) {
      ctx.say($("#notification-status"), "Notifications unavailable: " + ctx.errorText(err), "error");
    }
  }

  async function markRead(ids) {
    try {
      var result = await ctx.api("/api/notifications/read", { method: "POST", json: ids ? { ids: ids } : { all: true } });
      // notification.read follows on every device; update at once here anyway.
      applyRead(ids, null, result.unread);
    } catch (err) {
      ctx.say($("#notification-status"), ctx.errorText(err), "error");
    }
  }

  function applyRead(ids, readAt, unread) {
    shown.forEach(function (entry, id) {
      var covered = ids ? ids.indexOf(id) >= 0 : !readAt || entry.item.created_at <= readAt;
      if (covered && !entry.item.read) render(Object.assign({}, entry.item, { read: true }), false);
    });
    setBadge(unread);
  }

  hub.on("notification.created", function (data) {
    var isNew = !shown.has(data.id);
    render(data, true);
    if (isNew && !data.read) setBadge(Number($("#notification-badge").dataset.count) + 1);
  });
  hub.on("notification.read", function (data) {
    applyRead(data.all ? null : data.ids, data.read_at, data.unread);
  });
  $("#notifications-read-all").addEventListener("click", function () {
    markRead(null);
  });
  $("#notifications-reload").addEventListener("click", load);
  $("#notify-users").value = ctx.user;
  $("#notify-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    var form = event.target;
    var users = form.elements.users.value.split(",").map(function (u) {
      return u.trim();
    }).filter(Boolean);
    try {
      var sent = await ctx.api("/api/notifications", {
        method: "POST",
        json: { users: users, title: form.elements.title.value, body: form.elements.body.value },
      });
      ctx.say($("#notification-status"), "Sent to " + sent.users + " user(s).", "ok");
    } catch (err) {
      var hint = err.status === 403 ? " Sign in with the admin role to send." : "";
      ctx.say($("#notification-status"), ctx.errorText(err) + hint, "error");
    }
  });
  hub.ready().then(load, function () {});
}
