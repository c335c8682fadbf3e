/*
 * The presence plugin's console panel: join a room (presence:<room>), see its
 * members come and go, and who is typing. A module; the console calls mount(ctx).
 */

var TYPING_RENEW_MS = 3000; // under the hub's 5 s typing timeout
var TYPING_IDLE_MS = 2500; // quiet this long: tell the room we stopped

export function mount(ctx) {
  var hub = ctx.hub;
  var $ = ctx.$;
  var el = ctx.el;
  var room = null; // the joined room's name
  var members = new Map(); // user -> member
  var typingUsers = new Set();
  var typingSentAt = 0;
  var typingIdle = null;

  function renderMembers() {
    var list = $("#member-list");
    list.textContent = "";
    members.forEach(function (member) {
      var label = member.name && member.name !== member.user ? member.name + " (" + member.user + ")" : member.user;
      list.appendChild(el("li", { "data-user": member.user },
        el("span", { class: "dot", "aria-hidden": "true" }), label,
        member.user === ctx.user ? el("span", { class: "muted", text: " (you)" }) : null,
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

  function setMembers(snapshot) {
    members.clear();
    ((snapshot && snapshot.members) || []).forEach(function (member) {
      members.set(member.user, member);
    });
  }

  function sendTyping(typing) {
    if (!room) return;
    hub.request("presence.typing", { room: room, typing: typing }).catch(function (err) {
      ctx.say($("#presence-status"), ctx.errorText(err), "error");
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

  async function join(name) {
    if (room) await leave();
    try {
      var reply = await hub.subscribe("presence:" + name);
      room = name;
      typingUsers.clear();
      setMembers(reply.snapshot);
      renderTyping();
      $("#room-leave").disabled = false;
      $("#chat-input").disabled = false;
      ctx.say($("#presence-status"), "In room " + name + ".", "ok");
    } catch (err) {
      ctx.say($("#presence-status"), ctx.errorText(err), "error");
    }
  }

  async function leave() {
    if (!room) return;
    stopTyping();
    var left = room;
    room = null;
    members.clear();
    typingUsers.clear();
    renderTyping();
    $("#room-leave").disabled = true;
    $("#chat-input").disabled = true;
    ctx.say($("#presence-status"), "Left room " + left + ".");
    await hub.unsubscribe("presence:" + left).catch(function () {});
  }

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
    setMembers(detail.reply.snapshot);
    renderMembers();
  });

  $("#room-form").addEventListener("submit", function (event) {
    event.preventDefault();
    join($("#room-name").value.trim());
  });
  $("#room-leave").addEventListener("click", leave);
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
