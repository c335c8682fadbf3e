// A connection storm: every token of HUB_TOKENS_FILE (a JSON list) connects at
// once over websocket, waits for hub.welcome, and once all are welcomed they all
// disconnect at once. Prints {welcomed, errors, connect_ms}.
//
// env: HUB_URL, HUB_TOKENS_FILE, STORM_HOLD_MS (time connected, default 500).
import { readFileSync } from "node:fs";
import { io } from "socket.io-client";
import { HUB_URL, required, run, waitFor } from "./common.mjs";

const tokens = JSON.parse(readFileSync(required("HUB_TOKENS_FILE"), "utf8"));
const HOLD_MS = Number(process.env.STORM_HOLD_MS || 500);

function open(token) {
  const socket = io(HUB_URL, { auth: { token }, transports: ["websocket"], reconnection: false, forceNew: true });
  const welcomed = waitFor("hub.welcome", (resolve) => socket.on("hub.welcome", resolve), 30000);
  socket.on("connect_error", () => {}); // counted through the rejected welcome below
  return { socket, welcomed };
}

run(async () => {
  const started = Date.now();
  const sockets = tokens.map(open);
  const outcomes = await Promise.allSettled(sockets.map((s) => s.welcomed));
  const connectMs = Date.now() - started;
  await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
  for (const { socket } of sockets) socket.disconnect();
  const errors = outcomes.filter((o) => o.status === "rejected").map((o) => String(o.reason));
  return { welcomed: outcomes.length - errors.length, errors: errors.slice(0, 5), connect_ms: connectMs };
});
