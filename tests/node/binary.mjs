// socket.io-client 4.x and binary payloads: a request carrying bytes (a Buffer),
// its reply with bytes, and a published event with bytes, over each transport.
//
// env: HUB_URL, HUB_TOKEN, HUB_TOPIC_KEY (the blob:<key> topic to use).
import { io } from "socket.io-client";
import { HUB_URL, required, run, waitFor } from "./common.mjs";

const TOKEN = required("HUB_TOKEN");
const KEY = required("HUB_TOPIC_KEY");

function connect(transport) {
  const socket = io(HUB_URL, { reconnection: false, forceNew: true, transports: [transport], auth: { token: TOKEN } });
  return waitFor(`a ${transport} connection`, (settle) => socket.on("hub.welcome", () => settle(socket)));
}

function describe(value) {
  // socket.io-client gives a Buffer under Node (an ArrayBuffer in browsers).
  const bytes = Buffer.isBuffer(value) ? value : value instanceof ArrayBuffer ? Buffer.from(value) : null;
  return bytes === null ? { kind: typeof value } : { kind: "bytes", hex: bytes.toString("hex"), length: bytes.length };
}

run(async () => {
  const sockets = { websocket: await connect("websocket"), polling: await connect("polling") };
  const chunks = {};
  for (const [name, socket] of Object.entries(sockets)) {
    const reply = await socket.emitWithAck("subscribe", { topic: `blob:${KEY}` });
    if (!reply.ok) throw new Error(`subscribe over ${name}: ${JSON.stringify(reply)}`);
    chunks[name] = waitFor(`blob.chunk over ${name}`, (settle) =>
      socket.on("blob.chunk", (envelope) => settle({ payload: describe(envelope.data.payload), size: envelope.data.size }))
    );
  }
  const sent = Buffer.from([0, 1, 2, 3, 254, 255]);
  const reply = await sockets.websocket.emitWithAck("listing.blob", { key: KEY, payload: sent, repeat: 2 });
  const result = { reply: { ok: reply.ok, size: reply.size, reversed: describe(reply.reversed) }, chunks: {} };
  for (const name of Object.keys(sockets)) result.chunks[name] = await chunks[name];
  // A core publish with bytes on an ephemeral kind, from the polling socket.
  const published = waitFor("blob.note", (settle) =>
    sockets.websocket.on("blob.note", (envelope) => settle(describe(envelope.data.raw)))
  );
  const publishReply = await sockets.polling.emitWithAck("publish", {
    topic: `blob:${KEY}`, type: "blob.note", data: { raw: Buffer.from("hé") },
  });
  result.publish = { ok: publishReply.ok, received: await published };
  for (const socket of Object.values(sockets)) socket.disconnect();
  return result;
});
