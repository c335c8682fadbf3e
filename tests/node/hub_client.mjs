// hub-client.js, as the hub serves it, against a real hub: subscribe to the own
// inbox, receive service-published events, typed errors, automatic acks, and
// resubscription with `since` after a reconnect, each event handled once.
//
// env: HUB_URL, HUB_USER, HUB_TOKEN (for HUB_USER), HUB_OTHER_USER,
//      HUB_SERVICE_TOKEN, HUB_TRANSPORT (websocket or polling).
import { io } from "socket.io-client";
import { HUB_URL, loadServedClient, rejection, required, run, servicePublish, waitFor } from "./common.mjs";

const USER = required("HUB_USER");
const TOKEN = required("HUB_TOKEN");
const OTHER = required("HUB_OTHER_USER");
const SERVICE_TOKEN = required("HUB_SERVICE_TOKEN");
const TRANSPORT = process.env.HUB_TRANSPORT || "websocket";
const INBOX = `user:${USER}`;
const runId = Math.random().toString(36).slice(2, 10);

run(async () => {
  const result = {};
  const { HubClient, contentType } = await loadServedClient();
  result.served = { content_type: contentType, has_connect: typeof HubClient.connect === "function" };

  const hub = HubClient.connect(HUB_URL, {
    token: TOKEN,
    transports: [TRANSPORT],
    socketOptions: { reconnectionDelay: 100, reconnectionDelayMax: 200 },
  });

  // Every test.hello the application's handler sees, and every ack the client sends.
  const seen = [];
  const seenWaiters = [];
  hub.on("test.hello", (data, envelope) => {
    seen.push({ id: envelope.id, seq: envelope.seq, data, topic: envelope.topic });
    seenWaiters.splice(0).forEach((w) => w());
  });
  const untilSeen = (id) =>
    waitFor(`event ${id}`, (settle) => {
      const check = () => (seen.some((e) => e.id === id) ? settle(true) : seenWaiters.push(check));
      check();
    });
  const acks = [];
  const ackWaiters = [];
  const ack = hub.ack.bind(hub);
  hub.ack = async (ids) => {
    const reply = await ack(ids);
    acks.push({ ids, reply });
    ackWaiters.splice(0).forEach((w) => w());
    return reply;
  };
  const untilAcked = (id) =>
    waitFor(`an ack of ${id}`, (settle) => {
      const check = () => (acks.some((a) => a.ids.includes(id)) ? settle(true) : ackWaiters.push(check));
      check();
    });
  const outgoingSubscribes = [];
  hub.socket.onAnyOutgoing((event, payload) => {
    if (event === "subscribe") outgoingSubscribes.push(payload);
  });

  result.welcome = await hub.ready();
  result.transport = hub.socket.io.engine.transport.name;
  result.subscribe = await hub.subscribe(INBOX);

  // (0) A handler that throws: its inbox event is not acknowledged (see (5)).
  const handlerErrors = [];
  hub.on("error", (err) => handlerErrors.push(String(err && err.message)));
  hub.on("test.fail", () => {
    throw new Error("handler failed on purpose");
  });
  const e0 = await servicePublish(SERVICE_TOKEN, { topic: INBOX, type: "test.fail", data: {}, id: `e0-${runId}` });
  await waitFor("the handler's error", (settle) => {
    const check = () => (handlerErrors.length ? settle(true) : setTimeout(check, 10));
    check();
  });
  result.e0 = e0;
  result.handler_errors = handlerErrors;

  // (1) An event a service publishes reaches the handler, which the client then acknowledges.
  const e1 = await servicePublish(SERVICE_TOKEN, { topic: INBOX, type: "test.hello", data: { n: 1 }, id: `e1-${runId}` });
  await untilSeen(e1.id);
  await untilAcked(e1.id);
  result.e1 = e1;

  // (2) Typed errors.
  result.errors = {
    other_inbox: await rejection(hub.subscribe(`user:${OTHER}`)),
    bad_topic: await rejection(hub.subscribe("Not A Topic!")),
    unknown_kind: await rejection(hub.subscribe("nosuchkind:abc")),
    client_publish_to_inbox: await rejection(hub.publish(INBOX, "test.hello", { n: 0 })),
  };

  // (3) An event published while the client is offline arrives once after it
  // reconnects, although the hub sends it twice (inbox redelivery and the backlog).
  const subscribesBefore = outgoingSubscribes.length;
  hub.socket.disconnect();
  const e2 = await servicePublish(SERVICE_TOKEN, { topic: INBOX, type: "test.hello", data: { n: 2 }, id: `e2-${runId}` });
  const resubscribed = waitFor("resubscribed", (settle) => hub.on("resubscribed", settle));
  hub.connect();
  result.resubscribed_manual = await resubscribed;
  await untilSeen(e2.id);
  await untilAcked(e2.id);
  result.e2 = e2;

  // (4) A dropped transport: socket.io reconnects by itself, and the client resubscribes.
  const again = waitFor("resubscribed after a drop", (settle) => {
    const off = hub.on("resubscribed", (detail) => {
      off();
      settle(detail);
    });
  });
  hub.socket.io.engine.close();
  result.resubscribed_drop = await again;
  const e3 = await servicePublish(SERVICE_TOKEN, { topic: INBOX, type: "test.hello", data: { n: 3 }, id: `e3-${runId}` });
  await untilSeen(e3.id);
  await untilAcked(e3.id);
  result.e3 = e3;
  result.resubscribe_payloads = outgoingSubscribes.slice(subscribesBefore);
  result.last_seq = hub.lastSeq(INBOX);
  await hub.close();

  // (5) Only e0 is left unacknowledged: with the user offline, publish e4; a
  // fresh connection's offline queue (sent in seq order) is then e0, e4.
  const e4 = await servicePublish(SERVICE_TOKEN, { topic: INBOX, type: "test.hello", data: { n: 4 }, id: `e4-${runId}` });
  const raw = io(HUB_URL, { transports: ["websocket"], auth: { token: TOKEN }, reconnection: false, forceNew: true });
  const queued = [];
  result.queued = await waitFor("the offline queue", (settle) =>
    raw.onAny((type, envelope) => {
      if (type.startsWith("test.")) queued.push({ type, id: envelope.id, seq: envelope.seq });
      if (queued.length === 2) settle(queued);
    })
  );
  raw.disconnect();
  result.e4 = e4;
  result.seen = seen;
  return result;
});
