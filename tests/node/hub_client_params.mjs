// hub-client.js with subscription parameters: the filter goes with the subscribe,
// and again with the resubscription after a reconnect (with `since`), so the
// client keeps receiving its filtered view. The `items:` kind is the test plugin
// tests/support/hub_listing.py (`status` filter; leaving it gives `item.removed`).
//
// env: HUB_URL, HUB_TOKEN (the viewer), HUB_WRITER_TOKEN.
import { io } from "socket.io-client";
import { HUB_URL, loadServedClient, required, run, waitFor } from "./common.mjs";

const TOKEN = required("HUB_TOKEN");
const WRITER_TOKEN = required("HUB_WRITER_TOKEN");

run(async () => {
  const { HubClient } = await loadServedClient();
  const writer = io(HUB_URL, { reconnection: false, forceNew: true, transports: ["websocket"], auth: { token: WRITER_TOKEN } });
  await waitFor("the writer's welcome", (settle) => writer.on("hub.welcome", () => settle()));
  const put = async (id, status) => {
    const reply = await writer.emitWithAck("listing.put", { list: "board", id: id, status: status });
    if (!reply.ok) throw new Error(`listing.put: ${JSON.stringify(reply)}`);
    return reply.seq;
  };

  const hub = HubClient.connect(HUB_URL, {
    token: TOKEN,
    transports: ["websocket"],
    socketOptions: { reconnectionDelay: 100, reconnectionDelayMax: 200 },
  });
  await waitFor("the viewer's welcome", (settle) => hub.on("hub.welcome", () => settle()));
  const got = [];
  let waiting = null;
  const record = (envelope) => {
    got.push([envelope.type, envelope.seq]);
    if (waiting) waiting();
  };
  hub.on("item.changed", (data, envelope) => record(envelope));
  hub.on("item.removed", (data, envelope) => record(envelope));
  const until = (count) =>
    waitFor(`${count} events`, (settle) => {
      waiting = () => got.length >= count && settle();
      waiting();
    });

  const first = await hub.subscribe("items:board", { params: { status: "open" } });
  const seqs = [await put("a", "open"), await put("b", "done"), await put("a", "done")];
  await until(2);

  // The connection drops; while it is away, one change in the filter and one out of it.
  const resubscribed = waitFor("resubscribed", (settle) => hub.on("resubscribed", (info) => settle(info)));
  hub.socket.io.engine.close();
  const away = [await put("c", "open"), await put("d", "closed")];
  const again = await resubscribed;
  await until(3);
  const last = await put("e", "open");
  await until(4);
  hub.close();
  writer.close();
  return { first: first, seqs: seqs, away: away, last: last, again: { topic: again.topic, reply: again.reply }, got: got };
});
