// A connection storm: every token of HUB_TOKENS_FILE (a JSON list) connects at
// once over websocket, waits for hub.welcome, and once all are welcomed they all
// disconnect at once. Prints {welcomed, errors, connect_ms}.
//
// env: HUB_URL, HUB_TOKENS_FILE, STORM_HOLD_MS (time connected, default 500),
// STORM_TOPICS (comma-separated: connection i subscribes to topic i mod their
// number before it counts as welcomed, e.g. presence rooms), STORM_READY_FILE
// (once all are welcomed and subscribed, the script writes this file and waits
// for STORM_GO_FILE to exist before disconnecting them all; instead of the hold).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { io } from "socket.io-client";
import { HUB_URL, required, run, waitFor } from "./common.mjs";

const tokens = JSON.parse(readFileSync(required("HUB_TOKENS_FILE"), "utf8"));
const HOLD_MS = Number(process.env.STORM_HOLD_MS || 500);
const TOPICS = (process.env.STORM_TOPICS || "").split(",").filter(Boolean);
const READY_FILE = process.env.STORM_READY_FILE;
const GO_FILE = process.env.STORM_GO_FILE;

function subscribe(socket, topic) {
  return new Promise((resolve, reject) => {
    socket.timeout(30000).emit("subscribe", { topic }, (err, reply) =>
      err || !reply.ok ? reject(err || new Error(JSON.stringify(reply))) : resolve(reply));
  });
}

function open(token, i) {
  const socket = io(HUB_URL, { auth: { token }, transports: ["websocket"], reconnection: false, forceNew: true });
  let welcomed = waitFor("hub.welcome", (resolve) => socket.on("hub.welcome", resolve), 30000);
  if (TOPICS.length) welcomed = welcomed.then(() => subscribe(socket, TOPICS[i % TOPICS.length]));
  socket.on("connect_error", () => {}); // counted through the rejected welcome below
  return { socket, welcomed };
}

async function hold() {
  if (!READY_FILE) return new Promise((resolve) => setTimeout(resolve, HOLD_MS));
  writeFileSync(READY_FILE, "ready");
  while (!existsSync(GO_FILE)) await new Promise((resolve) => setTimeout(resolve, 20));
}

run(async () => {
  const started = Date.now();
  const sockets = tokens.map((token, i) => open(token, i));
  const outcomes = await Promise.allSettled(sockets.map((s) => s.welcomed));
  const connectMs = Date.now() - started;
  await hold();
  for (const { socket } of sockets) socket.disconnect();
  const errors = outcomes.filter((o) => o.status === "rejected").map((o) => String(o.reason));
  return { welcomed: outcomes.length - errors.length, errors: errors.slice(0, 5), connect_ms: connectMs };
});
