/*
 * demo.js: the demo page (/). Every feature, live, through hub-client.js:
 * an upload with its progress, notifications with the unread badge, a presence
 * room with typing, and a document's OCR stages. Plain ES2017.
 */
(function () {
  "use strict";

  var C = window.HubConsole;
  var $ = C.$;
  var el = C.el;
  var TYPING_RENEW_MS = 3000; // under the hub's 5 s typing timeout
  var TYPING_IDLE_MS = 2500; // quiet this long: tell the room we stopped
  var FEED_MAX = 60;

  var hub = null;

  // Sign-in and the connection ------------------------------------------------

  function start(session) {
    $("#signin").hidden = true;
    $("#app").hidden = false;
    $("#signout").hidden = false;
    $("#notify-users").value = session.user;
    C.say($("#connection-status"), "Connecting as " + session.user + "…");
    hub = HubClient.connect(window.location.origin, {
      token: session.token,
      getToken: C.renewToken,
    });
    hub.on("connect_error", function (err) {
      C.say($("#connection-status"), "Not connected: " + C.errorText(err), "error");
    });
    hub.on("disconnect", function () {
      C.say($("#connection-status"), "Disconnected; reconnecting…", "error");
    });
    hub.on("hub.welcome", function (data) {
      var roles = data.roles && data.roles.length ? " (" + data.roles.join(", ") + ")" : "";
      C.say($("#connection-status"), "Connected as " + data.user + roles, "ok");
      document.body.dataset.connected = "true";
    });
    hub.on("*", logEvent);
    wireNotifications();
    wirePresence();
    wireUploads();
    wireDocuments();
    hub.ready().then(loadNotifications, function () {});
  }

  function logEvent(data, envelope) {
    var feed = $("#event-feed");
    var summary = envelope.topic + (envelope.seq !== null && envelope.seq !== undefined ? " #" + envelope.seq : "");
    feed.insertBefore(
      el("li", {}, el("time", { datetime: envelope.ts, text: C.formatTime(envelope.ts) }), " ",
        el("code", { text: envelope.type }), " ", el("span", { class: "muted", text: summary })),
      feed.firstChild
    );
    while (feed.children.length > FEED_MAX) feed.removeChild(feed.lastChild);
  }

  // Uploads -------------------------------------------------------------------

  var currentUpload = null;

  function setUploadPercent(percent) {
    var value = Math.max(0, Math.min(100, Math.round(percent)));
    $("#upload-progress").value = value;
    $("#upload-percent").textContent = String(value);
  }

  function wireUploads() {
    hub.on("upload.progress", function (data, envelope) {
      if (envelope.topic !== currentUpload) return;
      setUploadPercent(data.percent);
      C.say($("#upload-status"), data.phase === "storing" ? "Storing…" : "Receiving…");
    });
    hub.on("upload.completed", function (data, envelope) {
      if (envelope.topic !== currentUpload) return;
      setUploadPercent(100);
      var status = $("#upload-status");
      status.textContent = "Stored " + data.bytes + " bytes (" + data.content_type + "): ";
      status.appendChild(el("a", { href: data.url, text: "open the file" }));
      status.dataset.kind = "ok";
    });
    hub.on("upload.failed", function (data, envelope) {
      if (envelope.topic !== currentUpload) return;
      C.say($("#upload-status"), "Upload failed: " + data.message + " (" + data.code + ")", "error");
    });

    $("#upload-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      var file = $("#upload-file").files[0];
      if (!file) return;
      var id = C.uuid();
      var topic = "upload:" + id;
      var previous = currentUpload;
      currentUpload = topic;
      setUploadPercent(0);
      C.say($("#upload-status"), "Starting " + file.name + "…");
      try {
        if (previous) hub.unsubscribe(previous).catch(function () {});
        // Subscribing first claims the id, so no tick is missed.
        await hub.subscribe(topic);
        var form = new FormData();
        form.append("upload_id", id); // before the file, as the hub requires
        form.append("file", file);
        await C.api("/api/uploads", { method: "POST", body: form });
      } catch (err) {
        C.say($("#upload-status"), "Upload failed: " + C.errorText(err), "error");
      }
    });
  }

  // Notifications -------------------------------------------------------------

  var notifications = new Map(); // id -> {item, node}

  function setBadge(count) {
    var badge = $("#notification-badge");
    badge.textContent = String(count);
    badge.dataset.count = String(count);
    badge.setAttribute("aria-label", count + " unread");
    $("#notifications-read-all").disabled = count === 0;
  }

  function renderNotification(item, atTop) {
    var existing = notifications.get(item.id);
    var button = item.read ? null : el("button", {
      type: "button", class: "secondary small", text: "Mark as read",
      "aria-label": "Mark “" + item.title + "” as read",
      onclick: function () {
        markRead([item.id]);
      },
    });
    var node = el("li", { class: item.read ? "read" : "unread", "data-id": item.id },
      el("div", { class: "item-head" }, el("strong", { text: item.title }),
        el("time", { datetime: item.created_at, text: C.formatTime(item.created_at) })),
      item.body ? el("p", { text: item.body }) : null,
      item.read ? el("span", { class: "muted", text: "Read" }) : button);
    var list = $("#notification-list");
    if (existing) list.replaceChild(node, existing.node);
    else if (atTop) list.insertBefore(node, list.firstChild);
    else list.appendChild(node);
    notifications.set(item.id, { item: item, node: node });
    $("#notification-empty").hidden = notifications.size > 0;
  }

  async function loadNotifications() {
    try {
      var page = await C.api("/api/notifications?limit=50");
      $("#notification-list").textContent = "";
      notifications.clear();
      page.items.forEach(function (item) {
        renderNotification(item, false);
      });
      setBadge(page.unread);
      $("#notification-empty").hidden = notifications.size > 0;
    } catch (err) {
      C.say($("#notification-status"), "Notifications unavailable: " + C.errorText(err), "error");
    }
  }

  async function markRead(ids) {
    try {
      var result = await C.api("/api/notifications/read", { method: "POST", json: ids ? { ids: ids } : { all: true } });
      // notification.read follows on every device; update at once here anyway.
      applyRead(ids, null, result.unread);
    } catch (err) {
      C.say($("#notification-status"), C.errorText(err), "error");
    }
  }

  function applyRead(ids, readAt, unread) {
    notifications.forEach(function (entry, id) {
      var covered = ids ? ids.indexOf(id) >= 0 : !readAt || entry.item.created_at <= readAt;
      if (covered && !entry.item.read) {
        renderNotification(Object.assign({}, entry.item, { read: true }), false);
      }
    });
    setBadge(unread);
  }

  function wireNotifications() {
    hub.on("notification.created", function (data) {
      var isNew = !notifications.has(data.id);
      renderNotification(data, true);
      if (isNew && !data.read) setBadge(Number($("#notification-badge").dataset.count) + 1);
    });
    hub.on("notification.read", function (data) {
      applyRead(data.all ? null : data.ids, data.read_at, data.unread);
    });
    $("#notifications-read-all").addEventListener("click", function () {
      markRead(null);
    });
    $("#notifications-reload").addEventListener("click", loadNotifications);
    $("#notify-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      var form = event.target;
      var users = form.elements.users.value.split(",").map(function (u) {
        return u.trim();
      }).filter(Boolean);
      try {
        var sent = await C.api("/api/notifications", {
          method: "POST",
          json: { users: users, title: form.elements.title.value, body: form.elements.body.value },
        });
        C.say($("#notification-status"), "Sent to " + sent.users + " user(s).", "ok");
      } catch (err) {
        var hint = err.status === 403 ? " Sign in with the admin role to send." : "";
        C.say($("#notification-status"), C.errorText(err) + hint, "error");
      }
    });
  }

  // Presence ------------------------------------------------------------------

  var room = null; // the joined room's name
  var members = new Map(); // user -> member
  var typingUsers = new Set();
  var typingSentAt = 0;
  var typingIdle = null;

  function renderMembers() {
    var list = $("#member-list");
    list.textContent = "";
    var me = hub.user;
    members.forEach(function (member) {
      var label = member.name && member.name !== member.user ? member.name + " (" + member.user + ")" : member.user;
      list.appendChild(el("li", { "data-user": member.user },
        el("span", { class: "dot", "aria-hidden": "true" }), label,
        member.user === me ? el("span", { class: "muted", text: " (you)" }) : null,
        typingUsers.has(member.user) ? el("span", { class: "muted", text: " typing…" }) : null));
    });
  }

  function renderTyping() {
    var names = Array.from(typingUsers);
    var text = "";
    if (names.length === 1) text = names[0] + " is typing…";
    else if (names.length > 1) text = names.join(", ") + " are typing…";
    $("#typing-indicator").textContent = text;
    renderMembers();
  }

  function sendTyping(typing) {
    if (!room) return;
    hub.request("presence.typing", { room: room, typing: typing }).catch(function (err) {
      C.say($("#presence-status"), C.errorText(err), "error");
    });
  }

  function stopTyping() {
    if (typingIdle) clearTimeout(typingIdle);
    typingIdle = null;
    if (typingSentAt) {
      typingSentAt = 0;
      sendTyping(false);
    }
  }

  async function joinRoom(name) {
    if (room) await leaveRoom();
    try {
      var reply = await hub.subscribe("presence:" + name);
      room = name;
      members.clear();
      typingUsers.clear();
      ((reply.snapshot && reply.snapshot.members) || []).forEach(function (member) {
        members.set(member.user, member);
      });
      renderTyping();
      $("#room-leave").disabled = false;
      $("#chat-input").disabled = false;
      C.say($("#presence-status"), "In room " + name + ".", "ok");
    } catch (err) {
      C.say($("#presence-status"), C.errorText(err), "error");
    }
  }

  async function leaveRoom() {
    if (!room) return;
    stopTyping();
    var left = room;
    room = null;
    members.clear();
    typingUsers.clear();
    renderTyping();
    $("#room-leave").disabled = true;
    $("#chat-input").disabled = true;
    C.say($("#presence-status"), "Left room " + left + ".");
    await hub.unsubscribe("presence:" + left).catch(function () {});
  }

  function wirePresence() {
    function inRoom(envelope) {
      return room && envelope.topic === "presence:" + room;
    }
    hub.on("presence.joined", function (data, envelope) {
      if (!inRoom(envelope)) return;
      members.set(data.user, { user: data.user, name: data.name, since: data.since });
      renderMembers();
    });
    hub.on("presence.left", function (data, envelope) {
      if (!inRoom(envelope)) return;
      members.delete(data.user);
      typingUsers.delete(data.user);
      renderTyping();
    });
    hub.on("presence.typing", function (data, envelope) {
      if (!inRoom(envelope)) return;
      if (data.typing) typingUsers.add(data.user);
      else typingUsers.delete(data.user);
      renderTyping();
    });
    // After a reconnect the hub client subscribes again; the snapshot is the truth then.
    hub.on("resubscribed", function (detail) {
      if (!room || detail.topic !== "presence:" + room) return;
      members.clear();
      ((detail.reply.snapshot && detail.reply.snapshot.members) || []).forEach(function (member) {
        members.set(member.user, member);
      });
      renderMembers();
    });

    $("#room-form").addEventListener("submit", function (event) {
      event.preventDefault();
      joinRoom($("#room-name").value.trim());
    });
    $("#room-leave").addEventListener("click", leaveRoom);
    var input = $("#chat-input");
    input.addEventListener("input", function () {
      if (!input.value) {
        stopTyping();
        return;
      }
      var now = Date.now();
      if (now - typingSentAt > TYPING_RENEW_MS) {
        typingSentAt = now;
        sendTyping(true);
      }
      if (typingIdle) clearTimeout(typingIdle);
      typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
    });
    input.addEventListener("blur", stopTyping);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        input.value = "";
        stopTyping();
      }
    });
  }

  // Documents (OCR) -------------------------------------------------------------

  var currentDoc = null; // topic
  var stages = new Map(); // stage -> {node, bar, text}

  function renderStatus(status) {
    var message = status.message ? ": " + status.message : "";
    C.say($("#doc-state"), "Document " + status.state + " (stage " + status.stage + ")" + message,
      status.state === "failed" ? "error" : status.state === "completed" ? "ok" : "info");
    $("#doc-state").dataset.state = status.state;
    var entry = stages.get(status.stage);
    if (!entry) {
      var bar = el("progress", { max: "100", value: "0", "aria-label": "Stage " + status.stage });
      var text = el("span", { class: "muted" });
      var node = el("li", { "data-stage": status.stage }, el("strong", { text: status.stage }), " ", bar, " ", text);
      $("#doc-stages").appendChild(node);
      entry = { node: node, bar: bar, text: text };
      stages.set(status.stage, entry);
    }
    var progress = typeof status.progress === "number" ? status.progress : 0;
    if (status.state === "completed") progress = 100;
    entry.bar.value = progress;
    entry.text.textContent = Math.round(progress) + " %" + (status.message ? " · " + status.message : "");
    entry.node.dataset.state = status.state;
    if (status.state === "completed" && status.result) {
      var pre = $("#doc-result");
      pre.textContent = status.result.text || "(no text found)";
      pre.hidden = false;
    }
    if (status.state === "failed" && status.error) {
      C.say($("#doc-state"), "Failed: " + status.error.message + " (" + status.error.code + ")", "error");
      $("#doc-state").dataset.state = "failed";
    }
  }

  async function submitDocument(file) {
    stages.clear();
    $("#doc-stages").textContent = "";
    $("#doc-result").hidden = true;
    var previous = currentDoc;
    currentDoc = null;
    if (previous) hub.unsubscribe(previous).catch(function () {});
    C.say($("#doc-state"), "Sending " + file.name + "…");
    try {
      var form = new FormData();
      form.append("file", file);
      var job = await C.api("/api/documents", { method: "POST", body: form });
      currentDoc = "doc:" + job.document_id;
      renderStatus(job);
      // since: 0 replays every status from the first, so no stage is missed.
      await hub.subscribe(currentDoc, { since: 0 });
    } catch (err) {
      C.say($("#doc-state"), "Could not submit: " + C.errorText(err), "error");
    }
  }

  /** A PNG with a line of text, drawn here, so OCR can be tried without a file at hand. */
  function sampleImage() {
    var canvas = document.createElement("canvas");
    canvas.width = 900;
    canvas.height = 220;
    var ctx = canvas.getContext("2d");
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#000000";
    ctx.font = "bold 64px sans-serif";
    ctx.textBaseline = "middle";
    ctx.fillText("Hello from the hub", 40, 110);
    return new Promise(function (resolve) {
      canvas.toBlob(function (blob) {
        resolve(new File([blob], "sample.png", { type: "image/png" }));
      }, "image/png");
    });
  }

  function wireDocuments() {
    hub.on("doc.status", function (data, envelope) {
      if (envelope.topic !== currentDoc) return;
      renderStatus(data);
    });
    $("#doc-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var file = $("#doc-file").files[0];
      if (file) submitDocument(file);
    });
    $("#doc-sample").addEventListener("click", async function () {
      submitDocument(await sampleImage());
    });
  }

  // Start -----------------------------------------------------------------------

  C.wireSignIn({
    form: $("#signin-form"),
    tokenForm: $("#token-form"),
    message: $("#signin-message"),
    onSignedIn: start,
  });
  $("#signout").addEventListener("click", function () {
    C.signOut();
    if (hub) hub.close();
    window.location.reload();
  });
  var saved = C.loadSession();
  if (saved) start(saved);
  else $("#signin-user").focus();
})();
