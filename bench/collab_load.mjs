// The load of bench/collab_bench.py: EDITORS editors (hub provider, one socket each) on one
// document, each making RATE edits per second for SECONDS; one more editor observes.
// Each edit is one transaction: a letter into the shared Y.Text and the edit's time into
// a Y.Map, so the observer measures edit -> applied at another client (through the hub:
// stored, relayed). Prints one JSON object.
//
// env: HUB_URL, TOKENS (comma-separated JWTs, EDITORS + 1 of them),
// COLLAB_DOCUMENT, EDITORS, RATE, SECONDS. Packages come from tests/node.
import { createRequire } from "node:module";

const require = createRequire(new URL("../tests/node/package.json", import.meta.url));
const Y = require("yjs");
const awarenessProtocol = require("y-protocols/awareness");

const url = process.env.HUB_URL;
const tokens = process.env.TOKENS.split(",");
const document = process.env.COLLAB_DOCUMENT || "bench";
const editors = Number(process.env.EDITORS || 50);
const rate = Number(process.env.RATE || 10);
const seconds = Number(process.env.SECONDS || 10);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function load() {
  const source = await (await fetch(`${url}/static/hub-client.js`)).text();
  const module = { exports: {} };
  new Function("module", "exports", "require", source)(module, module.exports, require);
  const provider = await (await fetch(`${url}/api/collab/static/hub-collab.mjs`)).text();
  const { HubDocProvider } = await import("data:text/javascript;base64," + Buffer.from(provider).toString("base64"));
  return { HubClient: module.exports, HubDocProvider };
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const { HubClient, HubDocProvider } = await load();
const open = async (token) => {
  const hub = new HubClient(url, { token, transports: ["websocket"] });
  const provider = new HubDocProvider(hub, document, new Y.Doc(), { Y, awarenessProtocol });
  await provider.ready;
  return { hub, provider };
};
const observer = await open(tokens[editors]);
const sides = [];
for (let i = 0; i < editors; i++) sides.push(await open(tokens[i]));

const latencies = [];
let measuring = true;
observer.provider.doc.getMap("clock").observe((event) => {
  if (!measuring) return;
  const now = Date.now();
  event.keysChanged.forEach((key) => latencies.push(now - event.target.get(key)));
});

// The round trip of each collab.update (stored, then acknowledged), apart from the relay.
const roundTrips = [];
for (const side of sides) {
  const request = side.hub.request.bind(side.hub);
  side.hub.request = (name, payload, options) => {
    const sent = performance.now();
    const reply = request(name, payload, options);
    if (name === "collab.update") reply.then(() => { if (measuring) roundTrips.push(performance.now() - sent); }, () => {});
    return reply;
  };
}
let edits = 0;
let requests = 0;
sides.forEach((side) => side.provider.on("acked", () => { requests += 1; }));
const started = Date.now();
await Promise.all(sides.map(async (side, index) => {
  const text = side.provider.doc.getText("content");
  const clock = side.provider.doc.getMap("clock");
  await sleep(Math.random() * 1000 / rate); // spread the editors over the period
  const end = started + seconds * 1000;
  let next = Date.now();
  while (Date.now() < end) {
    side.provider.doc.transact(() => {
      text.insert(Math.floor(Math.random() * (text.length + 1)), "abcdefghij"[index % 10]);
      clock.set(String(index), Date.now());
    });
    edits += 1;
    next += 1000 / rate;
    await sleep(Math.max(0, next - Date.now()));
  }
}));
const elapsed = (Date.now() - started) / 1000;
const deadline = Date.now() + 30000;
while (sides.some((side) => side.provider.unacked > 0) && Date.now() < deadline) await sleep(20);
const drained = (Date.now() - started) / 1000;
await sleep(500);
measuring = false;
const converged = sides.every((side) => side.provider.doc.getText("content").toString() === observer.provider.doc.getText("content").toString());
latencies.sort((a, b) => a - b);
roundTrips.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({
  editors, rate, seconds, edits, update_requests: requests, elapsed_s: elapsed, drained_s: drained,
  edits_per_s: edits / drained, requests_per_s: requests / drained,
  latency_ms: { samples: latencies.length, p50: percentile(latencies, 50), p90: percentile(latencies, 90),
                p99: percentile(latencies, 99), max: latencies[latencies.length - 1] },
  update_round_trip_ms: { p50: percentile(roundTrips, 50), p99: percentile(roundTrips, 99) },
  converged, length: observer.provider.doc.getText("content").length,
}) + "\n", () => process.exit(0));
