// socket.io-client 4.x against the hub, without hub-client.js: accepted handshakes
// over each transport, and refused ones with their connect_error data.
//
// env: HUB_URL, HUB_TOKEN (a valid token for the user the test expects).
import { io } from "socket.io-client";
import { HUB_URL, required, run, waitFor } from "./common.mjs";

const TOKEN = required("HUB_TOKEN");

/** Connect with `options`; {welcome, transport} or {connect_error: {message, data}}. */
function attempt(options) {
  const socket = io(HUB_URL, { reconnection: false, forceNew: true, timeout: 5000, ...options });
  return waitFor(`a connection with ${JSON.stringify(options.transports)}`, (settle) => {
    socket.on("hub.welcome", (envelope) => {
      const transport = socket.io.engine.transport.name;
      socket.disconnect();
      settle({ welcome: envelope, transport });
    });
    socket.on("connect_error", (err) => {
      socket.close();
      settle({ connect_error: { message: err.message, data: err.data ?? null } });
    });
  });
}

run(async () => ({
  websocket: await attempt({ transports: ["websocket"], auth: { token: TOKEN } }),
  polling: await attempt({ transports: ["polling"], auth: { token: TOKEN } }),
  // The callback form, as hub-client.js uses it.
  auth_callback: await attempt({ transports: ["websocket"], auth: (cb) => cb({ token: TOKEN }) }),
  no_token: await attempt({ transports: ["websocket"] }),
  no_token_polling: await attempt({ transports: ["polling"] }),
  garbage_token: await attempt({ transports: ["websocket"], auth: { token: "not.a.jwt" } }),
  query_token: await attempt({ transports: ["websocket"], query: { token: TOKEN } }),
}));
