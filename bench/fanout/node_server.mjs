// The Node baseline: socket.io 4.8 with its defaults, the same protocol as the hub's bench kind.
// A client connects with auth {token} (HS256 JWT, verified here), sends `subscribe` {topic}
// and `publish` {topic, type, data} with acknowledgements; a publish goes to the room as an
// envelope shaped like the hub's. Usage: node node_server.mjs <port> <secret> [<redis url> <key prefix>]
// With a Redis URL, rooms span every process on that Redis (@socket.io/redis-adapter).
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { Server } from "socket.io";

const [port, secret, redisUrl, redisKey] = [Number(process.argv[2]), process.argv[3], process.argv[4], process.argv[5]];

function verify(token) {
  const [head, body, sig] = String(token || "").split(".");
  if (!sig) throw new Error("malformed");
  const header = JSON.parse(Buffer.from(head, "base64url"));
  if (header.alg !== "HS256") throw new Error("algorithm");
  const expected = createHmac("sha256", secret).update(`${head}.${body}`).digest();
  const given = Buffer.from(sig, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new Error("signature");
  const claims = JSON.parse(Buffer.from(body, "base64url"));
  if (typeof claims.exp !== "number" || claims.exp < Date.now() / 1000 - 30) throw new Error("expired");
  return claims;
}

const http = createServer((req, res) => { res.writeHead(200); res.end("ok"); });
const io = new Server(http, { cors: { origin: "*" } });
if (redisUrl) {
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const { createClient } = await import("redis");
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub, { key: redisKey || "socket.io" }));
}
io.use((socket, next) => {
  try { socket.data.user = verify(socket.handshake.auth?.token).sub; next(); }
  catch (err) { next(new Error("auth_invalid")); }
});
io.on("connection", (socket) => {
  socket.on("subscribe", (req, ack) => { socket.join(req.topic); ack?.({ ok: true, topic: req.topic, seq: 0 }); });
  socket.on("publish", (req, ack) => {
    const envelope = {
      v: 1, id: randomUUID().replaceAll("-", ""), type: req.type, topic: req.topic, seq: null,
      ts: new Date().toISOString(), data: req.data, meta: { sender: socket.data.user },
    };
    io.to(req.topic).emit(req.type, envelope);
    ack?.({ ok: true, id: envelope.id, seq: null });
  });
});
http.listen(port, "127.0.0.1", () => console.log(`listening on ${port}`));
