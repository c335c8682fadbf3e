// hub-client.js loaded the way a page loads it: as a plain script after
// socket.io.js, finding the global `io` and defining the global `HubClient`.
//
// env: HUB_URL, HUB_TOKEN.
import { io } from "socket.io-client";
import { HUB_URL, required, run } from "./common.mjs";

const TOKEN = required("HUB_TOKEN");

run(async () => {
  const response = await fetch(`${HUB_URL}/static/hub-client.js`);
  const source = await response.text();
  globalThis.io = io; // what <script src="/socket.io/socket.io.js"> would define
  // No `module`, `exports` or `define` in scope: the browser branch of the UMD wrapper.
  new Function(source).call(globalThis);
  const HubClient = globalThis.HubClient;
  const result = { defined: typeof HubClient === "function" };
  const hub = HubClient.connect(HUB_URL, { token: TOKEN });
  result.welcome = await hub.ready();
  result.transport = hub.socket.io.engine.transport.name;
  await hub.close();

  // A refused handshake rejects ready() with the hub's code.
  const refused = HubClient.connect(HUB_URL, { token: "garbage" });
  try {
    await refused.ready();
    result.refused = null;
  } catch (err) {
    result.refused = { name: err.name, code: err.code, message: err.message };
  }
  refused.close();
  return result;
});
