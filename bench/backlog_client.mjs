// The receiving end of bench/durability_bench.py: connect as one user with a
// queued inbox, count the queued events as they arrive, print timings as JSON.
//
// env: HUB_URL, HUB_TOKEN, BENCH_EXPECTED (events to wait for), BENCH_TYPE
// (their type), BENCH_TIMEOUT_MS. socket.io-client comes from tests/node.
import { createRequire } from "node:module";

const require = createRequire(new URL("../tests/node/package.json", import.meta.url));
const { io } = require("socket.io-client");

const expected = Number(process.env.BENCH_EXPECTED);
const type = process.env.BENCH_TYPE || "bench.event";
const timeoutMs = Number(process.env.BENCH_TIMEOUT_MS || 60000);

function finish(result, code = 0) {
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(code));
}

const started = performance.now();
const since = () => performance.now() - started;
const result = { expected, events: 0, connect_ms: null, welcome_ms: null, last_event_ms: null, in_order: true };
let lastSeq = 0;

const socket = io(process.env.HUB_URL, {
  auth: { token: process.env.HUB_TOKEN },
  transports: ["websocket"],
  reconnection: false,
});
socket.on("connect", () => { result.connect_ms = since(); });
socket.on("connect_error", (err) => finish({ ...result, error: String(err && err.message) }, 1));
socket.on("hub.welcome", () => { result.welcome_ms = since(); });
socket.on(type, (envelope) => {
  result.events += 1;
  if (envelope.seq <= lastSeq) result.in_order = false;
  lastSeq = envelope.seq;
  if (result.events === expected) {
    result.last_event_ms = since();
    socket.disconnect();
    finish(result);
  }
});
setTimeout(() => finish({ ...result, error: `timed out after ${timeoutMs} ms` }, 1), timeoutMs).unref();
