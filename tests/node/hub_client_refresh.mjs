// hub-client.js renews a short-lived token: on hub.token_expiring it asks
// getToken() and sends auth.refresh; a reconnection after the first token has
// expired then succeeds, which shows the auth callback sends the new token.
//
// env: HUB_URL, HUB_TOKEN (expires in a few seconds), HUB_REFRESHED_TOKEN (same
//      user, long-lived), HUB_FIRST_EXP (the first token's exp, Unix seconds).
import { HUB_URL, loadServedClient, required, run, waitFor } from "./common.mjs";

const TOKEN = required("HUB_TOKEN");
const REFRESHED = required("HUB_REFRESHED_TOKEN");
const FIRST_EXP = Number(required("HUB_FIRST_EXP"));

run(async () => {
  const result = { get_token_calls: 0, hub_errors: [] };
  const { HubClient } = await loadServedClient();
  const hub = new HubClient(HUB_URL, {
    token: TOKEN,
    transports: ["websocket"],
    getToken: async () => {
      result.get_token_calls += 1;
      return REFRESHED;
    },
    socketOptions: { reconnectionDelay: 100, reconnectionDelayMax: 200 },
  });
  hub.on("hub.error", (data) => result.hub_errors.push(data));
  const expiring = waitFor("hub.token_expiring", (settle) => hub.on("hub.token_expiring", settle));
  const refreshed = waitFor("token_refreshed", (settle) => hub.on("token_refreshed", settle));
  result.welcome = await hub.ready();
  result.expiring = await expiring;
  result.refreshed = await refreshed;
  result.client_token_is_new = hub.token === REFRESHED;

  // Outlive the first token, then drop the transport: the hub accepts the
  // reconnection only if it carries the refreshed token.
  const wait = Math.max(0, FIRST_EXP * 1000 - Date.now()) + 1200;
  await new Promise((resolve) => setTimeout(resolve, wait));
  result.connected_after_first_exp = hub.connected;
  const welcomed = waitFor("a second welcome", (settle) => {
    const off = hub.on("hub.welcome", (data) => {
      off();
      settle(data);
    });
  });
  const refused = [];
  hub.on("connect_error", (err) => refused.push(err.toJSON()));
  hub.socket.io.engine.close();
  result.second_welcome = await welcomed;
  result.refused = refused;
  await hub.close();
  return result;
});
