/*!
 * hub-client.js: a small client for the hub, wrapping socket.io-client 4.x.
 *
 * The hub serves this file at /static/hub-client.js. It is plain ES2017 with no
 * build step, wrapped as a UMD module:
 *
 *   - in a page, load it after socket.io.js; it uses the global `io` and defines
 *     the global `HubClient`;
 *   - under Node or another CommonJS loader it exports `HubClient` and requires
 *     `socket.io-client` when the first client is created;
 *   - anywhere, `options.io` (the `io` function) overrides both.
 *
 * Usage:
 *
 *   const hub = HubClient.connect("https://hub.example.com", {
 *     token: jwt,
 *     getToken: async () => (await fetch("/my-token")).text(),  // optional
 *   });
 *   hub.on("notification.created", (data, envelope) => show(data));
 *   await hub.ready();                       // the hub.welcome data
 *   await hub.subscribe("presence:lobby");   // the reply, or throws a HubError
 *
 * What it does beyond socket.io-client (see PROTOCOL.md, the wire contract):
 *   - requests are promises that resolve with the `{ok: true, ...}` reply or
 *     reject with a HubError {code, message};
 *   - it remembers the last `seq` seen per topic and, after a reconnect,
 *     resubscribes every topic with `since`, so no durable event is lost;
 *   - it drops durable events it has already handled (same topic, seq not newer),
 *     which a reconnect can deliver twice (inbox redelivery plus `since` backlog);
 *   - inbox events (`user:...` topics with a seq) are acknowledged, in batches,
 *     once every handler has run without throwing; when one throws (or its
 *     promise rejects) the event stays queued on the hub, and its redelivery on
 *     the next connection runs the handlers again;
 *   - `hub.token_expiring` is answered with `auth.refresh` when a `getToken`
 *     callback was given, and reconnections always use the latest token.
 */
(function (root, factory) {
  "use strict";
  if (typeof module === "object" && module && module.exports) {
    // CommonJS: require lazily, so a page bundler or `options.io` can do without it.
    module.exports = factory(function () {
      return require("socket.io-client");
    });
  } else if (typeof define === "function" && define.amd) {
    define([], function () {
      return factory(function () {
        return root.io;
      });
    });
  } else {
    root.HubClient = factory(function () {
      return root.io;
    });
  }
})(typeof globalThis !== "undefined" ? globalThis : typeof self !== "undefined" ? self : this, function (loadIo) {
  "use strict";

  var DEFAULTS = {
    requestTimeout: 10000, // ms before a request without a reply rejects with code "timeout"
    publishRetries: 3, // extra tries of a publish that timed out or met `unavailable`
    ackDelay: 50, // ms to gather inbox acknowledgements into one `ack` request
    ackBatch: 100, // flush at once when this many ids are waiting
  };

  // Codes worth another try of an idempotent publish; the rest are final answers.
  var RETRYABLE = { timeout: true, unavailable: true, rate_limited: true, internal: true };

  // Events that are not envelopes, emitted by the client itself. Envelope types
  // always contain a dot, so these names can never collide with one.
  //   connect {reconnect}        the socket is connected (before hub.welcome)
  //   disconnect {reason}
  //   connect_error HubError     a refused handshake ({code: auth_*}) or a transport failure
  //   resubscribed {topic, since, reply}   after a reconnect, per topic
  //   resync {topic, reply}      the hub could not replay what was missed: rebuild from reply.snapshot
  //   token_refreshed {expires_at}
  //   error HubError|Error       a failure with no caller to reject (ack, refresh, a handler)
  /** The `subscribe` request: the kind's parameters, then `topic` and `since` (which they may not replace). */
  function subscribePayload(topic, since, params) {
    var payload = Object.assign({}, params || {});
    payload.topic = topic;
    delete payload.since;
    if (typeof since === "number") payload.since = since;
    return payload;
  }

  var LOCAL_EVENTS = ["connect", "disconnect", "connect_error", "resubscribed", "resync", "token_refreshed", "error"];

  /** An error reply of the hub: `code` is one of the contract's error codes. */
  class HubError extends Error {
    constructor(code, message, data) {
      super(message || code);
      this.name = "HubError";
      this.code = code;
      if (data !== undefined) this.data = data;
    }

    toJSON() {
      return { code: this.code, message: this.message };
    }
  }

  function randomId() {
    var cryptoApi = typeof globalThis !== "undefined" ? globalThis.crypto : undefined;
    if (cryptoApi && typeof cryptoApi.randomUUID === "function") return cryptoApi.randomUUID();
    var hex = "";
    for (var i = 0; i < 32; i++) hex += Math.floor(Math.random() * 16).toString(16);
    return hex;
  }

  function isInbox(topic) {
    return typeof topic === "string" && topic.indexOf("user:") === 0;
  }

  /** A socket.io `connect_error` as a HubError: the hub's {code, message}, or `unavailable`. */
  function connectError(err) {
    var data = err && err.data;
    if (data && typeof data === "object" && typeof data.code === "string") {
      return new HubError(data.code, data.message, data);
    }
    return new HubError("unavailable", (err && err.message) || "cannot reach the hub");
  }

  class HubClient {
    /**
     * @param {string} url the hub's base URL, e.g. "https://hub.example.com"
     * @param {object} options
     *   token: the JWT; getToken: optional () => token | Promise<token>, asked on
     *   hub.token_expiring and when a reconnection is refused as auth_expired;
     *   transports: e.g. ["websocket"]; io: the socket.io `io` function;
     *   autoConnect (default true); socketOptions: more socket.io-client options;
     *   requestTimeout, publishRetries, ackDelay, ackBatch: see DEFAULTS.
     */
    constructor(url, options) {
      options = options || {};
      this.url = url;
      this.options = Object.assign({}, DEFAULTS, options);
      this.token = options.token || null;
      this.getToken = options.getToken || null;
      this.user = null; // from hub.welcome
      this.welcome = null;

      this._handlers = new Map(); // type -> Set of handlers
      this._topics = new Map(); // subscribed topic -> {since: baseline seq from the hub}
      this._lastSeq = new Map(); // topic -> highest seq handled
      this._failed = new Set(); // inbox event ids whose handlers failed: tried again on redelivery
      this._ackQueue = [];
      this._ackTimer = null;
      this._connectedBefore = false;
      this._readyWaiters = [];
      this._refusal = null; // the HubError of a refused handshake, until the next connect

      var io = options.io || loadIo();
      if (typeof io !== "function") {
        throw new Error("hub-client.js needs socket.io-client: load socket.io.js first, or pass options.io");
      }
      var self = this;
      var socketOptions = Object.assign(
        {
          // The callback form is evaluated on every (re)connection, so a refreshed
          // token is used; the token never goes in the URL (the hub refuses that).
          auth: function (cb) {
            cb({ token: self.token });
          },
          autoConnect: false,
        },
        options.transports ? { transports: options.transports } : {},
        options.socketOptions || {}
      );
      this.socket = io(url, socketOptions);
      this._wire();
      if (options.autoConnect !== false) this.socket.connect();
    }

    /** Create a client and start connecting. */
    static connect(url, options) {
      return new HubClient(url, options);
    }

    get connected() {
      return this.socket.connected;
    }

    // Events ------------------------------------------------------------------

    /**
     * Call `handler(data, envelope)` for every envelope of `type` ("*" for all),
     * or `handler(detail)` for one of the client's own events (LOCAL_EVENTS).
     * A handler may be async: inbox events are acknowledged once it settles.
     * Returns a function that removes the handler.
     */
    on(type, handler) {
      if (!this._handlers.has(type)) this._handlers.set(type, new Set());
      this._handlers.get(type).add(handler);
      var self = this;
      return function () {
        self.off(type, handler);
      };
    }

    off(type, handler) {
      var set = this._handlers.get(type);
      if (set) set.delete(handler);
    }

    /** Resolve with the hub.welcome data once connected; reject if the handshake is refused. */
    ready() {
      if (this.welcome && this.socket.connected) return Promise.resolve(this.welcome);
      if (this._refusal && !this.socket.active) return Promise.reject(this._refusal);
      var self = this;
      return new Promise(function (resolve, reject) {
        self._readyWaiters.push({ resolve: resolve, reject: reject });
      });
    }

    _emitLocal(type, detail) {
      var set = this._handlers.get(type);
      if (!set || set.size === 0) {
        // An error nobody listens to should still be seen by a developer.
        if (type === "error" && typeof console !== "undefined") console.error("hub-client:", detail);
        return;
      }
      set.forEach(function (handler) {
        try {
          handler(detail);
        } catch (err) {
          if (typeof console !== "undefined") console.error("hub-client: a handler failed", err);
        }
      });
    }

    _wire() {
      var self = this;
      var socket = this.socket;

      socket.on("connect", function () {
        var reconnect = self._connectedBefore;
        self._refusal = null;
        self._connectedBefore = true;
        self._emitLocal("connect", { reconnect: reconnect });
        if (reconnect) self._resubscribeAll();
      });

      socket.on("disconnect", function (reason) {
        self.welcome = null;
        self._emitLocal("disconnect", { reason: reason });
      });

      socket.on("connect_error", function (err) {
        var error = connectError(err);
        // A refused handshake is final for socket.io (it does not retry it); an
        // expired token can be replaced once by getToken, then we try again.
        if (error.code === "auth_expired" && self.getToken && !self._renewing) {
          self._renewing = true;
          Promise.resolve()
            .then(function () {
              return self.getToken();
            })
            .then(function (token) {
              if (token && token !== self.token) {
                self.token = token;
                socket.connect();
              } else {
                self._failReady(error);
              }
            }, function () {
              self._failReady(error);
            })
            .then(function () {
              self._renewing = false;
            });
        } else if (!socket.active) {
          // Refused by the hub (socket.io will not retry): whoever waits must know.
          self._failReady(error);
        }
        self._emitLocal("connect_error", error);
      });

      // Every event from the hub is an envelope named by its type.
      socket.onAny(function (type, envelope) {
        self._dispatch(type, envelope);
      });
    }

    _failReady(error) {
      this._refusal = error;
      var waiters = this._readyWaiters;
      this._readyWaiters = [];
      waiters.forEach(function (w) {
        w.reject(error);
      });
    }

    _dispatch(type, envelope) {
      if (!envelope || typeof envelope !== "object") return;
      var topic = envelope.topic;
      var seq = envelope.seq;
      var durable = typeof seq === "number";
      var inboxEvent = durable && isInbox(topic);
      var replay = envelope.meta && envelope.meta.replay === true;

      if (type === "hub.welcome") {
        this.welcome = envelope.data;
        this.user = envelope.data && envelope.data.user;
        var waiters = this._readyWaiters;
        this._readyWaiters = [];
        waiters.forEach(function (w) {
          w.resolve(envelope.data);
        });
      } else if (type === "hub.token_expiring") {
        this._onTokenExpiring(envelope);
      }

      if (durable && !replay) {
        var last = this._lastSeq.get(topic);
        if (last === undefined || seq > last) {
          this._lastSeq.set(topic, seq);
        } else if (!this._failed.has(envelope.id)) {
          // Already handled (a reconnect can bring it twice); still acknowledge
          // an inbox event, since the hub re-sends it until it is acknowledged.
          if (inboxEvent) this._queueAck(envelope.id);
          return;
        }
        // else: a redelivery of an event whose handler failed: give it another try.
      }

      var handlers = []
        .concat(Array.from(this._handlers.get(type) || []))
        .concat(Array.from(this._handlers.get("*") || []));
      var self = this;
      var failed = 0;
      // Each handler's outcome, never rejecting (Promise.allSettled is not ES2017).
      var outcomes = handlers.map(function (handler) {
        return new Promise(function (resolve) {
          resolve(handler(envelope.data, envelope));
        }).catch(function (err) {
          failed += 1;
          self._emitLocal("error", err);
        });
      });
      // Acknowledge an inbox event only once every handler has finished without
      // failing; otherwise the hub delivers it again on the next connection.
      Promise.all(outcomes).then(function () {
        if (!inboxEvent) return;
        if (failed === 0) {
          self._failed.delete(envelope.id);
          self._queueAck(envelope.id);
        } else {
          self._rememberFailed(envelope.id);
        }
      });
    }

    _rememberFailed(id) {
      this._failed.add(id);
      if (this._failed.size > 1000) {
        // Forget the oldest (a Set iterates in insertion order).
        this._failed.delete(this._failed.values().next().value);
      }
    }

    // Requests ----------------------------------------------------------------

    /**
     * Send a request `name` with `payload`; resolve with the reply (without `ok`),
     * reject with a HubError. `onReply(reply)` runs synchronously on a good reply,
     * before any event that follows it is dispatched.
     */
    _call(name, payload, timeout, onReply) {
      var socket = this.socket;
      var ms = timeout || this.options.requestTimeout;
      return new Promise(function (resolve, reject) {
        socket.timeout(ms).emit(name, payload, function (err, reply) {
          if (err) {
            reject(new HubError("timeout", "no reply to " + name + " within " + ms + " ms"));
          } else if (!reply || typeof reply !== "object") {
            reject(new HubError("invalid_message", "malformed reply to " + name));
          } else if (reply.ok) {
            var result = Object.assign({}, reply);
            delete result.ok;
            if (onReply) onReply(result);
            resolve(result);
          } else {
            var error = reply.error || {};
            reject(new HubError(error.code || "internal", error.message, error));
          }
        });
      });
    }

    /** A plugin request such as `presence.typing`; resolves with the reply. */
    request(name, payload, options) {
      return this._call(name, payload || {}, options && options.timeout);
    }

    /**
     * Subscribe to `topic`. `since`: replay the durable events after that seq
     * (defaults to the last seq this client has seen on the topic, if any).
     * `params`: the topic kind's subscription parameters (a filter, a date range...),
     * sent again with every resubscription after a reconnect.
     */
    subscribe(topic, options) {
      options = options || {};
      var since = options.since !== undefined ? options.since : this._lastSeq.get(topic);
      var params = options.params || null;
      var payload = subscribePayload(topic, since, params);
      var self = this;
      return this._call("subscribe", payload, options.timeout, function (reply) {
        self._subscribed(topic, payload.since, reply, params);
      });
    }

    _subscribed(topic, since, reply, params) {
      this._topics.set(topic, { since: reply.seq || 0, params: params || null });
      var last = this._lastSeq.get(topic);
      if (last !== undefined && typeof reply.seq === "number" && reply.seq < last) {
        // The hub's log is behind what we saw (it was reset): start over from it.
        this._lastSeq.set(topic, reply.seq);
      }
      if (typeof since === "number" && reply.recovered === false) {
        this._emitLocal("resync", { topic: topic, reply: reply });
      }
    }

    unsubscribe(topic, options) {
      var self = this;
      return this._call("unsubscribe", { topic: topic }, options && options.timeout, function () {
        self._topics.delete(topic);
      });
    }

    /** The topics this client has subscribed to (resubscribed after reconnects). */
    subscriptions() {
      return Array.from(this._topics.keys());
    }

    /** The highest seq handled on `topic`, or undefined. */
    lastSeq(topic) {
      return this._lastSeq.get(topic);
    }

    _resubscribeAll() {
      var self = this;
      this._topics.forEach(function (state, topic) {
        var last = self._lastSeq.get(topic);
        var since = Math.max(state.since || 0, last === undefined ? 0 : last);
        self
          ._call("subscribe", subscribePayload(topic, since, state.params), undefined, function (reply) {
            self._subscribed(topic, since, reply, state.params);
          })
          .then(
            function (reply) {
              self._emitLocal("resubscribed", { topic: topic, since: since, reply: reply });
            },
            function (err) {
              self._emitLocal("error", err);
            }
          );
      });
    }

    /**
     * Publish an event (where the topic's policy lets clients publish). `id` is
     * the idempotency key: generated when not given, and the same on every retry,
     * so the hub stores and delivers the event once.
     */
    publish(topic, type, data, options) {
      options = options || {};
      var payload = { topic: topic, type: type, data: data || {}, id: options.id || randomId() };
      var retries = options.retries !== undefined ? options.retries : this.options.publishRetries;
      var self = this;
      function attempt(left, delay) {
        return self._call("publish", payload, options.timeout).catch(function (err) {
          if (left <= 0 || !(err instanceof HubError) || !RETRYABLE[err.code]) throw err;
          return new Promise(function (resolve) {
            setTimeout(resolve, delay);
          }).then(function () {
            return attempt(left - 1, delay * 2);
          });
        });
      }
      return attempt(retries, 200);
    }

    /** Acknowledge inbox events by id (done for you after handlers ran). */
    ack(ids, options) {
      return this._call("ack", { ids: ids }, options && options.timeout);
    }

    _queueAck(id) {
      if (typeof id !== "string") return;
      this._ackQueue.push(id);
      if (this._ackQueue.length >= this.options.ackBatch) {
        this._flushAcks();
      } else if (!this._ackTimer) {
        var self = this;
        this._ackTimer = setTimeout(function () {
          self._flushAcks();
        }, this.options.ackDelay);
      }
    }

    /** Send the waiting acknowledgements now; resolves when the hub replied. */
    _flushAcks() {
      if (this._ackTimer) clearTimeout(this._ackTimer);
      this._ackTimer = null;
      var ids = this._ackQueue.splice(0, this._ackQueue.length);
      if (ids.length === 0) return Promise.resolve({ acked: 0 });
      var self = this;
      // A lost ack is harmless: the hub re-sends the events and we drop the duplicates.
      return this.ack(ids).catch(function (err) {
        self._emitLocal("error", err);
        return { acked: 0 };
      });
    }

    /** Replace the token: used by the next reconnection, and sent with `auth.refresh`. */
    refresh(token, options) {
      this.token = token;
      var self = this;
      return this._call("auth.refresh", { token: token }, options && options.timeout).then(function (reply) {
        self._emitLocal("token_refreshed", reply);
        return reply;
      });
    }

    _onTokenExpiring() {
      if (!this.getToken || this._refreshing) return;
      var self = this;
      this._refreshing = true;
      Promise.resolve()
        .then(function () {
          return self.getToken();
        })
        .then(function (token) {
          if (!token) throw new HubError("auth_expired", "getToken() gave no token");
          return self.refresh(token);
        })
        .catch(function (err) {
          self._emitLocal("error", err);
        })
        .then(function () {
          self._refreshing = false;
        });
    }

    /** Reconnect a client that was closed or refused. */
    connect() {
      this.socket.connect();
      return this;
    }

    /** Send the waiting acknowledgements, then disconnect. */
    close() {
      var self = this;
      var flushed = this.socket.connected ? this._flushAcks() : Promise.resolve();
      return flushed.then(function () {
        self.socket.disconnect();
      });
    }
  }

  HubClient.HubError = HubError;
  HubClient.LOCAL_EVENTS = LOCAL_EVENTS;
  HubClient.version = 1;
  return HubClient;
});
