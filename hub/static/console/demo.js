/*
 * demo.js: the demo page (/). The core's part: signing in, the connection's
 * status and the live events log. Everything else on the page is the enabled
 * plugins' panels (hub_console_panels), mounted by HubConsole.mountPanels with
 * the connected hub client. Plain ES2017.
 */
(function () {
  "use strict";

  var C = window.HubConsole;
  var $ = C.$;
  var el = C.el;
  var FEED_MAX = 60;

  var hub = null;
  // Started at once, so the modules download while the user signs in.
  var panels = C.loadPanels();

  async function start(session) {
    $("#signin").hidden = true;
    $("#app").hidden = false;
    $("#signout").hidden = false;
    C.say($("#connection-status"), "Connecting as " + session.user + "…");
    // Not connected until every panel has its handlers: none misses an event of the first moments.
    hub = HubClient.connect(window.location.origin, {
      token: session.token,
      getToken: C.renewToken,
      autoConnect: false,
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
    await C.mountPanels(panels, hub, session);
    hub.connect();
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
