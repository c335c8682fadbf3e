// The stock y-websocket WebsocketProvider, unchanged, syncs with the hub's compatible
// route: one provider authenticated by a one-time ticket, one by the token as subprotocol;
// a hub-provider editor sees their text, and they see its. (disableBc: providers in one
// process would otherwise also talk over a BroadcastChannel, around the hub.)
import WebSocket from "ws";
import { WebsocketProvider } from "y-websocket";
import { HUB_URL, required, run } from "./common.mjs";
import { Y, editor, serverText, until } from "./collab_common.mjs";

const DOCUMENT = required("COLLAB_DOCUMENT");
const TOKEN = required("TOKEN");
const WS_URL = HUB_URL.replace(/^http/, "ws") + "/api/collab/ws";

async function ticket() {
  const response = await fetch(`${HUB_URL}/api/collab/tickets`, {
    method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ document: DOCUMENT }),
  });
  if (!response.ok) throw new Error(`POST /api/collab/tickets: ${response.status}`);
  return (await response.json()).ticket;
}

run(async () => {
  const hubEditor = await editor(HUB_URL, required("TOKEN_HUB"), DOCUMENT);
  hubEditor.provider.doc.getText("content").insert(0, "from the hub provider. ");

  const first = new Y.Doc();
  const byTicket = new WebsocketProvider(WS_URL, DOCUMENT, first, { WebSocketPolyfill: WebSocket, disableBc: true, params: { ticket: await ticket() } });
  await until("the ticket provider syncs", () => byTicket.synced && first.getText("content").toString().includes("hub provider"));
  first.getText("content").insert(0, "from y-websocket. ");

  const second = new Y.Doc();
  const bySubprotocol = new WebsocketProvider(WS_URL, DOCUMENT, second, { WebSocketPolyfill: WebSocket, disableBc: true, protocols: ["hub", TOKEN] });
  await until("the subprotocol provider syncs", () => bySubprotocol.synced && second.getText("content").toString().includes("y-websocket"));

  await until("the hub provider sees y-websocket's text", () => hubEditor.text().includes("from y-websocket"));

  // A read-only user's provider syncs, but its changes are dropped: never stored, never relayed.
  const third = new Y.Doc();
  const viewer = new WebsocketProvider(WS_URL, DOCUMENT, third, { WebSocketPolyfill: WebSocket, disableBc: true, protocols: ["hub", required("TOKEN_VIEWER")] });
  await until("the viewer syncs", () => viewer.synced && third.getText("content").toString().includes("y-websocket"));
  third.getText("content").insert(0, "VIEWER WAS HERE. ");
  // A writer's edit after the viewer's: once it arrives everywhere, the viewer's would have too.
  first.getText("content").insert(first.getText("content").length, "Last.");
  await until("the last edit reaches everyone", () => hubEditor.text().endsWith("Last.") && second.getText("content").toString().endsWith("Last."));
  viewer.destroy();
  // A used ticket does not open a second connection.
  const reused = await new Promise((resolve) => {
    const socket = new WebSocket(`${WS_URL}/${DOCUMENT}?ticket=bogus`);
    socket.on("close", (code) => resolve(code));
    socket.on("error", () => resolve("error"));
  });
  const stored = await serverText(HUB_URL, TOKEN, DOCUMENT);
  byTicket.destroy();
  bySubprotocol.destroy();
  hubEditor.hub.close();
  return { viewer_seen: [hubEditor.text(), second.getText("content").toString()].some((t) => t.includes("VIEWER")),
           first: first.getText("content").toString(), second: second.getText("content").toString(),
           hub: hubEditor.text(), stored, reused };
});
