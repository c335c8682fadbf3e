// Fan-out under overload: SUBSCRIBERS clients on one topic, then one publisher
// sends EVENTS publish requests at once, without waiting for their replies.
// Waits until every connected subscriber has every event (or the deadline),
// then prints {publisher_connected, acked, subscribers: [{count, in_order, connected}]}.
//
// env: HUB_URL, HUB_TOKENS_FILE (a JSON list: the publisher's token first),
// FANOUT_TOPIC, FANOUT_EVENTS, FANOUT_WAIT_MS (how long to wait for the events).
import { readFileSync } from "node:fs";
import { io } from "socket.io-client";
import { HUB_URL, required, run, waitFor } from "./common.mjs";

const [publisherToken, ...tokens] = JSON.parse(readFileSync(required("HUB_TOKENS_FILE"), "utf8"));
const TOPIC = required("FANOUT_TOPIC");
const EVENTS = Number(required("FANOUT_EVENTS"));
const WAIT_MS = Number(process.env.FANOUT_WAIT_MS || 30000);

function call(socket, event, payload) {
  return new Promise((resolve, reject) =>
    socket.timeout(WAIT_MS).emit(event, payload, (err, reply) => (err ? reject(err) : resolve(reply))));
}

async function client(token) {
  const socket = io(HUB_URL, { auth: { token }, transports: ["websocket"], reconnection: false, forceNew: true });
  const state = { socket, seen: [] };
  socket.on("overload.event", (envelope) => state.seen.push(envelope.data.n));
  await waitFor("hub.welcome", (resolve) => socket.on("hub.welcome", resolve), 30000);
  return state;
}

run(async () => {
  const subscribers = [];
  for (let i = 0; i < tokens.length; i += 200) {
    subscribers.push(...(await Promise.all(tokens.slice(i, i + 200).map(client))));
  }
  await Promise.all(subscribers.map(async (s) => {
    const reply = await call(s.socket, "subscribe", { topic: TOPIC });
    if (!reply.ok) throw new Error(JSON.stringify(reply));
  }));
  const publisher = await client(publisherToken);
  let acked = 0;
  const replies = [];
  for (let n = 0; n < EVENTS; n++) {
    replies.push(call(publisher.socket, "publish", { topic: TOPIC, type: "overload.event", data: { n } })
      .then((reply) => { if (reply.ok) acked++; }, () => {}));
  }
  const complete = () => subscribers.every((s) => !s.socket.connected || s.seen.length >= EVENTS);
  const deadline = Date.now() + WAIT_MS;
  while (!complete() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  await Promise.race([Promise.all(replies), new Promise((resolve) => setTimeout(resolve, 1000))]);
  const result = {
    publisher_connected: publisher.socket.connected,
    acked,
    subscribers: subscribers.map((s) => ({
      count: s.seen.length, in_order: s.seen.every((n, i) => n === i), connected: s.socket.connected,
    })),
  };
  for (const s of [...subscribers, publisher]) s.socket.disconnect();
  return result;
});
