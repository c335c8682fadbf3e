// hub-collab.mjs: binds a standard Y.Doc to a hub document over the hub's own
// Socket.IO connection (a HubClient from /static/hub-client.js), as y-websocket's
// provider does for its server. Served by the hub at /api/collab/static/hub-collab.mjs.
//
//   import * as Y from "yjs";                        // or the hub's /api/collab/static/yjs.mjs
//   import * as awarenessProtocol from "y-protocols/awareness";
//   const provider = new HubDocProvider(hub, "contract-42", ydoc, { Y, awarenessProtocol });
//   provider.on("synced", () => ...); provider.awareness.setLocalStateField("user", {name});
//
// Reconnect and resume: after the HubClient reconnects it resubscribes, and the
// provider syncs again (both ways: what the server has that it lacks, and what
// it changed meanwhile). When the server's epoch is not the one this doc came
// from (the history was replaced), the provider starts over with a fresh Y.Doc
// (event "reset" {doc}) instead of merging its stale state back.
//
// It imports nothing: pass the Yjs module (and y-protocols' awareness module,
// for cursors) in the options, so the page and the provider share one Yjs.

function bytes(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (value && value.buffer instanceof ArrayBuffer) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return new Uint8Array(0);
}

export class HubDocProvider {
  /**
   * @param hub a HubClient (hub-client.js)
   * @param document the document's name (topic collab:<document>)
   * @param doc a Y.Doc
   * @param options {Y, awarenessProtocol?, awareness?}
   */
  constructor(hub, document, doc, options) {
    this.hub = hub;
    this.document = document;
    this.topic = "collab:" + document;
    this.Y = options.Y;
    this.protocol = options.awarenessProtocol || null;
    this.epoch = null;
    this.writable = false;
    this.synced = false;
    this.connected = false;
    this.unacked = 0;
    // Local updates are numbered 1, 2, ...: `acked` is the highest one the hub has stored.
    this.sent = 0;
    this.acked = 0;
    this._queue = [];
    this._inflight = false;
    this._handlers = new Map();
    this._offs = [];
    this._bind(doc, options.awareness);
    var self = this;
    this._offs.push(hub.on("collab.update", function (data, envelope) {
      if (envelope.topic === self.topic && self.epoch !== null) self.Y.applyUpdate(self.doc, bytes(data.update), self);
    }));
    this._offs.push(hub.on("collab.awareness", function (data, envelope) {
      if (envelope.topic === self.topic) self._applyAwareness(bytes(data.update));
    }));
    this._offs.push(hub.on("collab.reset", function (data, envelope) {
      if (envelope.topic === self.topic) self._startOver(data.epoch);
    }));
    this._offs.push(hub.on("resubscribed", function (detail) {
      if (detail.topic === self.topic) self._resume(detail.reply.snapshot);
    }));
    this._offs.push(hub.on("disconnect", function () {
      self.connected = false;
      self.synced = false;
      if (self.awareness && self.protocol) {
        var others = Array.from(self.awareness.getStates().keys()).filter(function (id) { return id !== self.doc.clientID; });
        self.protocol.removeAwarenessStates(self.awareness, others, self);
      }
      self._emit("status", { connected: false });
    }));
    this.ready = this._start();
  }

  _bind(doc, awareness) {
    var self = this;
    if (this.doc && this._onUpdate) this.doc.off("update", this._onUpdate);
    this.doc = doc;
    this._onUpdate = function (update, origin) {
      if (origin !== self) self._send(update);
    };
    doc.on("update", this._onUpdate);
    if (this.protocol) {
      if (this.awareness && this._onAwareness) this.awareness.off("update", this._onAwareness);
      this.awareness = awareness || new this.protocol.Awareness(doc);
      this._known = new Set();
      this._onAwareness = function (change, origin) {
        if (origin === self || !self.connected) return;
        var changed = change.added.concat(change.updated, change.removed);
        self._sendAwareness(changed);
      };
      this.awareness.on("update", this._onAwareness);
    }
  }

  on(type, handler) {
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    this._handlers.get(type).add(handler);
  }

  off(type, handler) {
    var set = this._handlers.get(type);
    if (set) set.delete(handler);
  }

  _emit(type, detail) {
    var set = this._handlers.get(type);
    if (set) set.forEach(function (handler) { handler(detail); });
  }

  async _start() {
    await this.hub.ready();
    var reply = await this.hub.subscribe(this.topic);
    await this._resume(reply.snapshot);
  }

  /** Sync with the server: its state (the snapshot), then both ways with collab.sync. */
  async _resume(snapshot) {
    if (!snapshot) return;
    var Y = this.Y;
    if (this.epoch !== null && snapshot.epoch !== this.epoch) {
      this._startOver(snapshot.epoch, snapshot);
      return;
    }
    this.epoch = snapshot.epoch;
    this.writable = !!snapshot.writable;
    Y.applyUpdate(this.doc, bytes(snapshot.update), this);
    this.connected = true;
    var mine = this.writable ? Y.encodeStateAsUpdate(this.doc, bytes(snapshot.state_vector)) : null;
    var payload = { document: this.document, state_vector: Y.encodeStateVector(this.doc), epoch: this.epoch };
    if (mine && mine.length > 2) payload.update = mine;
    var reply = await this.hub.request("collab.sync", payload);
    if (reply.reset) {
      this._startOver(reply.epoch);
      return;
    }
    Y.applyUpdate(this.doc, bytes(reply.update), this);
    if (reply.awareness) this._applyAwareness(bytes(reply.awareness));
    this.synced = true;
    if (this.awareness && this.awareness.getLocalState() !== null) this._sendAwareness([this.doc.clientID]);
    this._emit("synced", { epoch: this.epoch });
    this._emit("status", { connected: true });
  }

  /** The server's history is not the one this doc came from: a fresh doc, never a merge. */
  _startOver(epoch, snapshot) {
    var fresh = new this.Y.Doc();
    var local = this.awareness ? this.awareness.getLocalState() : null;
    this.epoch = null;
    this.synced = false;
    this._bind(fresh, null);
    if (local && this.awareness) this.awareness.setLocalState(local);
    this._emit("reset", { doc: fresh, epoch: epoch });
    var self = this;
    this.hub.subscribe(this.topic).then(function (reply) { return self._resume(reply.snapshot); },
      function (err) { self._emit("error", err); });
  }

  _send(update) {
    if (!this.connected || this.epoch === null || !this.writable) return; // the next sync carries it
    this.sent += 1;
    this._queue.push({ update: update, seq: this.sent });
    this.unacked += 1;
    this._flush();
  }

  /** One collab.update in flight at a time; what was typed meanwhile goes as one merged update. */
  _flush() {
    if (this._inflight || this._queue.length === 0) return;
    if (!this.connected) {
      this.unacked -= this._queue.length; // not stored: the sync after the reconnect carries them
      this._queue = [];
      return;
    }
    var batch = this._queue;
    this._queue = [];
    var update = batch.length === 1 ? batch[0].update : this.Y.mergeUpdates(batch.map(function (item) { return item.update; }));
    var upto = batch[batch.length - 1].seq;
    var self = this;
    var epoch = this.epoch;
    this._inflight = true;
    this.hub.request("collab.update", { document: this.document, update: update, epoch: epoch }).then(
      function () {
        self._inflight = false;
        self.unacked -= batch.length;
        self.acked = Math.max(self.acked, upto);
        self._emit("acked", { update: update, count: batch.length, upto: upto });
        self._flush();
      },
      function (err) {
        self._inflight = false;
        var code = err && err.code;
        if (code === "rate_limited" && self.epoch === epoch) {
          self._queue = [{ update: update, seq: upto }].concat(self._queue);
          self.unacked -= batch.length - 1;
          setTimeout(function () { self._flush(); }, 100);
          return;
        }
        self.unacked -= batch.length;
        // Not stored: after a reconnect the sync sends it again; a conflict means the epoch moved on.
        if (code === "conflict") self._startOver(null);
        else self._emit("error", err);
        self._flush();
      }
    );
  }

  /** Awareness changes (a moving cursor) within 30 ms go as one request: typing never meets the rate limit. */
  _sendAwareness(clients) {
    if (!this.protocol || !this.connected) return;
    var self = this;
    this._awarenessDue = this._awarenessDue || new Set();
    clients.forEach(function (id) { self._awarenessDue.add(id); });
    if (this._awarenessTimer) return;
    this._awarenessTimer = setTimeout(function () {
      self._awarenessTimer = null;
      var due = Array.from(self._awarenessDue);
      self._awarenessDue.clear();
      if (!self.connected || due.length === 0) return;
      var update = self.protocol.encodeAwarenessUpdate(self.awareness, due);
      self.hub.request("collab.awareness", { document: self.document, update: update }).catch(function (err) {
        self._emit("error", err);
      });
    }, 30);
  }

  _applyAwareness(update) {
    if (!this.protocol) return;
    var before = new Set(this.awareness.getStates().keys());
    this.protocol.applyAwarenessUpdate(this.awareness, update, this);
    // A peer we had not seen (a late joiner, perhaps on another hub process) learns of us at once.
    var self = this;
    var fresh = Array.from(this.awareness.getStates().keys()).some(function (id) {
      return id !== self.doc.clientID && !before.has(id) && !self._known.has(id);
    });
    this.awareness.getStates().forEach(function (_, id) { self._known.add(id); });
    if (fresh && this.awareness.getLocalState() !== null) this._sendAwareness([this.doc.clientID]);
  }

  /** Stop: leave the document (the others see this client's cursor go) and stop listening. */
  async destroy() {
    this._offs.forEach(function (off) { off(); });
    this.doc.off("update", this._onUpdate);
    if (this.awareness && this.protocol) {
      this.awareness.off("update", this._onAwareness);
      this.protocol.removeAwarenessStates(this.awareness, [this.doc.clientID], "local");
    }
    if (this.hub.connected) await this.hub.unsubscribe(this.topic).catch(function () {});
  }
}
