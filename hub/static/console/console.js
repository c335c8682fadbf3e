/*
 * console.js: what the demo page (/) and the admin page (/admin) share.
 *
 * Plain ES2017, no build step. Defines the global `HubConsole`:
 *   - signing in: a development token from POST /api/dev/token (development mode
 *     only), or a token pasted by the user; kept in sessionStorage per tab;
 *   - api(): fetch with the bearer token, JSON in and out, errors as HubConsole.ApiError;
 *   - the plugins' panels: loadPanels() imports their modules, mountPanels() calls
 *     each one's mount(ctx) (the API a panel gets is described in docs/console.md);
 *   - small DOM and formatting helpers.
 */
(function (root) {
  "use strict";

  var STORAGE_KEY = "hub.console.session";

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message || code);
      this.name = "ApiError";
      this.status = status;
      this.code = code;
    }
  }

  var session = null; // {token, user, roles, dev, admin}

  function loadSession() {
    try {
      var raw = root.sessionStorage.getItem(STORAGE_KEY);
      session = raw ? JSON.parse(raw) : null;
    } catch (err) {
      session = null;
    }
    return session;
  }

  function saveSession(value) {
    session = value;
    try {
      if (value) root.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(value));
      else root.sessionStorage.removeItem(STORAGE_KEY);
    } catch (err) {
      /* private mode: the session lasts as long as the page */
    }
  }

  /** The claims of a JWT, unverified (the hub verifies; the page only shows them). */
  function claimsOf(token) {
    var part = String(token).split(".")[1] || "";
    var json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    return JSON.parse(json);
  }

  async function api(path, options) {
    options = options || {};
    var headers = Object.assign({}, options.headers || {});
    var token = options.token || (session && session.token);
    if (token) headers.authorization = "Bearer " + token;
    var body = options.body;
    if (options.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.json);
    }
    var response;
    try {
      response = await fetch(path, { method: options.method || "GET", headers: headers, body: body });
    } catch (err) {
      throw new ApiError(0, "unavailable", "Cannot reach the hub.");
    }
    if (response.status === 204) return null;
    var payload = null;
    try {
      payload = await response.json();
    } catch (err) {
      payload = null;
    }
    if (!response.ok) {
      var error = (payload && payload.error) || {};
      throw new ApiError(response.status, error.code || "internal", error.message || response.statusText);
    }
    return payload;
  }

  /** A development token for `user` (with the admin role when `admin`). */
  async function devToken(user, admin) {
    return api("/api/dev/token", { method: "POST", json: { user: user, admin: !!admin } });
  }

  async function signInDev(user, admin) {
    var minted = await devToken(user, admin);
    saveSession({ token: minted.token, user: minted.user, roles: minted.roles, dev: true, admin: !!admin });
    return session;
  }

  function signInWithToken(token) {
    token = String(token || "").trim();
    var claims;
    try {
      claims = claimsOf(token);
    } catch (err) {
      throw new ApiError(0, "auth_invalid", "That is not a JWT.");
    }
    var roles = Array.isArray(claims.roles) ? claims.roles : [];
    saveSession({ token: token, user: String(claims.sub), roles: roles, dev: false, admin: roles.indexOf("admin") >= 0 });
    return session;
  }

  /** A fresh token for the hub client's getToken: only development sessions can get one. */
  async function renewToken() {
    if (!session || !session.dev) return null;
    var minted = await devToken(session.user, session.admin);
    saveSession(Object.assign({}, session, { token: minted.token }));
    return minted.token;
  }

  function signOut() {
    saveSession(null);
  }

  // DOM helpers ---------------------------------------------------------------

  function $(selector, scope) {
    return (scope || document).querySelector(selector);
  }

  /** el("li", {class: "x", text: "hi"}, child, ...): a new element. */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.indexOf("on") === 0) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function say(node, text, kind) {
    node.textContent = text || "";
    node.dataset.kind = kind || "info";
  }

  function errorText(err) {
    if (!err) return "Something went wrong.";
    var code = err.code ? " (" + err.code + ")" : "";
    return (err.message || String(err)) + code;
  }

  function formatTime(value) {
    var date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    return isNaN(date.getTime()) ? String(value) : date.toLocaleTimeString();
  }

  function formatDuration(seconds) {
    seconds = Math.floor(seconds);
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    return (h ? h + " h " : "") + (h || m ? m + " min " : "") + s + " s";
  }

  /** A v4 UUID in lower case; crypto.randomUUID needs a secure context, getRandomValues does not. */
  function uuid() {
    if (root.crypto && typeof root.crypto.randomUUID === "function" && root.isSecureContext) {
      return root.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    root.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.from(bytes, function (b) {
      return (b + 0x100).toString(16).slice(1);
    }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  /**
   * Wire a sign-in section: `form` with #signin-user (and optional #signin-admin),
   * `tokenForm` with #signin-token. Calls `onSignedIn(session)`.
   */
  function wireSignIn(options) {
    var message = options.message;
    options.form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var user = options.form.elements.user.value.trim();
      var admin = options.forceAdmin || (options.form.elements.admin && options.form.elements.admin.checked);
      say(message, "Signing in…");
      try {
        options.onSignedIn(await signInDev(user, admin));
        say(message, "");
      } catch (err) {
        var text = err.status === 404
          ? "Development tokens are off on this hub (it is not in development mode): paste a token below."
          : errorText(err);
        say(message, text, "error");
      }
    });
    options.tokenForm.addEventListener("submit", function (event) {
      event.preventDefault();
      try {
        options.onSignedIn(signInWithToken(options.tokenForm.elements.token.value));
        say(message, "");
      } catch (err) {
        say(message, errorText(err), "error");
      }
    });
  }

  // Plugins' panels -------------------------------------------------------------

  /**
   * Import the module of every plugin panel on this page (the cards with data-panel,
   * put in by the hub): a promise of [{section, module}] or [{section, error}].
   */
  function loadPanels() {
    var sections = Array.prototype.slice.call(document.querySelectorAll("section[data-panel]"));
    return Promise.all(sections.map(function (section) {
      var url = section.dataset.script;
      if (!url) return Promise.resolve({ section: section, module: null });
      return import(url).then(function (module) {
        return { section: section, module: module };
      }, function (error) {
        return { section: section, error: error };
      });
    }));
  }

  /** What a panel's mount(ctx) receives: the documented panel API. */
  function panelContext(section, hub, current) {
    return {
      id: section.dataset.panel,
      plugin: section.dataset.plugin,
      root: section,
      $: function (selector) {
        return section.querySelector(selector);
      },
      hub: hub,
      user: current.user,
      session: { user: current.user, roles: (current.roles || []).slice(), admin: !!current.admin },
      api: api,
      say: say,
      el: el,
      errorText: errorText,
      formatTime: formatTime,
      uuid: uuid,
    };
  }

  function panelFailed(section, err) {
    if (typeof console !== "undefined") console.error("console panel " + section.dataset.panel + ":", err);
    section.appendChild(el("p", { class: "message", "data-kind": "error", role: "alert",
      text: "This panel did not start: " + errorText(err) }));
  }

  /**
   * Call mount(ctx) of each panel that `loading` (from loadPanels) brought, with the
   * hub client (not yet connected: a panel sets up its handlers first). A panel that
   * fails says so in its own card; the page and the other panels carry on.
   */
  async function mountPanels(loading, hub, current) {
    var loaded = await loading;
    loaded.forEach(function (entry) {
      try {
        if (entry.error) throw entry.error;
        if (!entry.module) return;
        if (typeof entry.module.mount !== "function") throw new Error("its module exports no mount(ctx)");
        var result = entry.module.mount(panelContext(entry.section, hub, current));
        // Not awaited: a mount that waits for the connection would otherwise wait forever.
        if (result && typeof result.then === "function") {
          result.then(null, function (err) {
            panelFailed(entry.section, err);
          });
        }
      } catch (err) {
        panelFailed(entry.section, err);
      }
    });
    return loaded.length;
  }

  root.HubConsole = {
    ApiError: ApiError,
    api: api,
    loadSession: loadSession,
    session: function () {
      return session;
    },
    signInDev: signInDev,
    signInWithToken: signInWithToken,
    renewToken: renewToken,
    signOut: signOut,
    wireSignIn: wireSignIn,
    loadPanels: loadPanels,
    mountPanels: mountPanels,
    $: $,
    el: el,
    say: say,
    errorText: errorText,
    formatTime: formatTime,
    formatDuration: formatDuration,
    uuid: uuid,
  };
})(window);
