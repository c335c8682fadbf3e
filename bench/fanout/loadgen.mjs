// The load generator, the same for every server: socket.io-client 4.8 over websocket.
// Usage: node loadgen.mjs '<json options>'; prints one JSON line per phase on stdout.
//   {mode: "fanout", url, secret, subscribers, events, pad}       deliveries per second
//   {mode: "idle", url, secret, connections}                        connections per second, then holds
//        them open until a line arrives on stdin (the runner reads the server's memory meanwhile)
//   {mode: "latency", url, secret, subscribers, rate, seconds, pad} publish-to-delivery percentiles
//   {mode: "storm", url, secret, clients, events, welcome}         all clients connect at once (a reconnect
//        after a restart): seconds until the last has its `connect` (or `hub.welcome` with `welcome`) and
//        `events` queued events of type bench.queued
// `urls` (a list) instead of `url` spreads the subscribers over several servers (the publisher uses the first).
import { createHmac } from "node:crypto";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const opts = JSON.parse(process.argv[2]);
const TOPIC = opts.topic || "bench:fan";
const TYPE = "bench.tick";
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

function token(sub) {
  const enc = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${enc({ alg: "HS256", typ: "JWT" })}.${enc({ sub, roles: [], iat: now, exp: now + 3600 })}`;
  return `${unsigned}.${createHmac("sha256", opts.secret).update(unsigned).digest("base64url")}`;
}

const URLS = opts.urls || [opts.url];

function connect(sub, url = URLS[0]) {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      transports: ["websocket"], reconnection: false, forceNew: true, auth: { token: token(sub) }, timeout: 60000,
    });
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(new Error(`${sub}: ${err.message}`)));
  });
}

async function connectMany(count, prefix, concurrency = 100) {
  const sockets = new Array(count);
  let next = 0;
  async function worker() {
    while (next < count) {
      const i = next++;
      sockets[i] = await connect(`${prefix}${i}`, URLS[i % URLS.length]);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return sockets;
}

const call = (socket, event, payload) =>
  new Promise((resolve, reject) => {
    socket.timeout(60000).emit(event, payload, (err, reply) => (err ? reject(err) : resolve(reply)));
  });

async function subscribers(count, onEvent) {
  const sockets = await connectMany(count, "sub");
  for (let i = 0; i < sockets.length; i += 500) {
    await Promise.all(sockets.slice(i, i + 500).map(async (s) => {
      const reply = await call(s, "subscribe", { topic: TOPIC });
      if (!reply?.ok) throw new Error(`subscribe refused: ${JSON.stringify(reply)}`);
      s.on(TYPE, onEvent);
    }));
  }
  return sockets;
}

const payload = (n, pad) => ({ n, t: performance.now(), pad: "x".repeat(pad) });

async function warmUp(publisher, waitFor, count) {
  // One event everyone must receive: all subscriptions are live and every path warm.
  const got = waitFor(count);
  await call(publisher, "publish", { topic: TOPIC, type: TYPE, data: payload(-1, opts.pad || 0) });
  await got;
}

function counter() {
  let received = 0, target = Infinity, done = null, size = 0;
  return {
    onEvent(envelope) {
      if (!size) size = JSON.stringify(envelope).length;
      if (++received >= target && done) { const d = done; done = null; d(); }
    },
    expect(n) { received = 0; target = n; return new Promise((resolve) => { done = resolve; }); },
    get received() { return received; },
    get size() { return size; },
  };
}

async function fanout() {
  const c = counter();
  const perSocket = new Map();
  const subs = await subscribers(opts.subscribers, function (e) {
    c.onEvent(e);
    perSocket.set(this, (perSocket.get(this) || 0) + 1);
  });
  const publisher = await connect("publisher");
  await warmUp(publisher, (n) => c.expect(n), subs.length);
  const total = subs.length * opts.events;
  const all = c.expect(total);
  out({ phase: "publish" });
  const start = performance.now();
  for (let n = 0; n < opts.events; n++) {
    publisher.emit("publish", { topic: TOPIC, type: TYPE, data: payload(n, opts.pad) }, () => {});
  }
  const timeout = new Promise((resolve) => setTimeout(resolve, (opts.timeout || 120) * 1000, "timeout"));
  const result = await Promise.race([all, timeout]);
  const elapsed = (performance.now() - start) / 1000;
  out({
    mode: "fanout", subscribers: subs.length, events: opts.events, deliveries: c.received, expected: total,
    seconds: elapsed, deliveries_per_s: c.received / elapsed, complete: result !== "timeout", envelope_bytes: c.size,
    // On an incomplete run: how many subscribers missed events, and whether they are still connected.
    short: subs.filter((s) => (perSocket.get(s) || 0) < opts.events + 1).length,
    short_connected: subs.filter((s) => (perSocket.get(s) || 0) < opts.events + 1 && s.connected).length,
    // Deliveries beyond one per subscriber and event (the warm-up included): duplicates, which
    // `deliveries` would otherwise count towards completion.
    extra: subs.reduce((sum, s) => sum + Math.max(0, (perSocket.get(s) || 0) - (opts.events + 1)), 0),
  });
  for (const s of [...subs, publisher]) s.disconnect();
}

async function idle() {
  const start = performance.now();
  const sockets = await connectMany(opts.connections, opts.prefix || "idle", opts.concurrency || 100);
  const elapsed = (performance.now() - start) / 1000;
  out({ mode: "idle", connections: sockets.length, seconds: elapsed, connects_per_s: sockets.length / elapsed });
  const rl = createInterface({ input: process.stdin });
  await new Promise((resolve) => rl.once("line", resolve));
  rl.close();
  for (const s of sockets) s.disconnect();
  out({ mode: "idle", closed: true });
}

async function latency() {
  const samples = [];
  let measuring = false;
  const c = counter();
  const subs = await subscribers(opts.subscribers, (e) => {
    c.onEvent(e);
    if (measuring && e.data.n >= 0) samples.push(performance.now() - e.data.t);
  });
  const publisher = await connect("publisher");
  await warmUp(publisher, (n) => c.expect(n), subs.length);
  const events = Math.max(1, Math.round(opts.rate * opts.seconds));
  const all = c.expect(subs.length * events);
  measuring = true;
  const start = performance.now();
  let sent = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(events, Math.floor(((performance.now() - start) / 1000) * opts.rate) + 1);
      while (sent < due) publisher.emit("publish", { topic: TOPIC, type: TYPE, data: payload(sent++, opts.pad) }, () => {});
      if (sent < events) setTimeout(tick, 1); else resolve();
    };
    tick();
  });
  const timeout = new Promise((resolve) => setTimeout(resolve, 60000, "timeout"));
  const result = await Promise.race([all, timeout]);
  samples.sort((a, b) => a - b);
  const pct = (p) => samples.length ? samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] : null;
  out({
    mode: "latency", subscribers: subs.length, rate: opts.rate, events, samples: samples.length,
    complete: result !== "timeout", p50_ms: pct(0.5), p99_ms: pct(0.99), max_ms: samples.at(-1) ?? null,
  });
  for (const s of [...subs, publisher]) s.disconnect();
}

async function storm() {
  const start = performance.now();
  let served = 0, failed = 0, last = 0;
  const sockets = [];
  const result = await new Promise((resolve) => {
    const settle = () => { if (served + failed === opts.clients) resolve("done"); };
    for (let i = 0; i < opts.clients; i++) {
      const socket = io(URLS[i % URLS.length], {
        transports: ["websocket"], reconnection: false, forceNew: true, auth: { token: token(`storm${i}`) },
        timeout: (opts.timeout || 180) * 1000,
      });
      sockets.push(socket);
      let welcomed = !opts.welcome, connected = false, got = 0, done = false;
      const check = () => {
        if (!done && connected && welcomed && got >= (opts.events || 0)) {
          done = true; served++; last = performance.now(); settle();
        }
      };
      socket.once("connect", () => { connected = true; check(); });
      socket.on("hub.welcome", () => { welcomed = true; check(); });
      socket.on("bench.queued", () => { got++; check(); });
      socket.once("connect_error", () => { if (!done) { done = true; failed++; settle(); } });
    }
    setTimeout(resolve, (opts.timeout || 180) * 1000, "timeout");
  });
  out({
    mode: "storm", clients: opts.clients, events: opts.events || 0, served, failed,
    seconds: ((last || performance.now()) - start) / 1000, complete: result === "done" && failed === 0,
  });
  for (const s of sockets) s.disconnect();
}

const modes = { fanout, idle, latency, storm };
modes[opts.mode]().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
