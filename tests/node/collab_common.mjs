// Shared by the collab Node scripts: the hub's own hub-client.js and hub-collab.mjs
// as the hub serves them, yjs and y-protocols from npm, and small helpers.
import { createRequire } from "node:module";
import * as Y from "yjs";
import * as awarenessProtocol from "y-protocols/awareness";

export { Y, awarenessProtocol };

/** HubClient, from the file a hub serves at /static/hub-client.js. */
export async function loadHubClient(url) {
  const response = await fetch(`${url}/static/hub-client.js`);
  if (!response.ok) throw new Error(`GET /static/hub-client.js: ${response.status}`);
  const module = { exports: {} };
  new Function("module", "exports", "require", await response.text())(module, module.exports, createRequire(import.meta.url));
  return module.exports;
}

/** The provider module, from the file a hub serves at /api/collab/static/hub-collab.mjs. */
export async function loadProvider(url) {
  const response = await fetch(`${url}/api/collab/static/hub-collab.mjs`);
  if (!response.ok) throw new Error(`GET hub-collab.mjs: ${response.status}`);
  const source = await response.text();
  return import("data:text/javascript;base64," + Buffer.from(source).toString("base64"));
}

/** A connected HubClient with a provider on `document`, synced. */
export async function editor(url, token, document, options = {}) {
  const HubClient = await loadHubClient(url);
  const { HubDocProvider } = await loadProvider(url);
  const hub = new HubClient(url, { token, transports: ["websocket"], ...options });
  const doc = new Y.Doc();
  const provider = new HubDocProvider(hub, document, doc, { Y, awarenessProtocol });
  await provider.ready;
  return { hub, doc, provider, text: () => provider.doc.getText("content").toString() };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `check()` until it is truthy; its value. */
export async function until(what, check, ms = 15000, every = 20) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

/** The server's text of a document (GET /api/collab/{document}). */
export async function serverText(url, token, document) {
  const response = await fetch(`${url}/api/collab/${document}`, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`GET /api/collab/${document}: ${response.status}`);
  return response.text();
}

/** A seeded random number generator (mulberry32), so a failing run can be replayed. */
export function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One random edit of `text`: an insert of a few letters or a delete of a few. */
export function randomEdit(ytext, rand, alphabet = "abcdefghij") {
  const length = ytext.length;
  if (length > 0 && rand() < 0.35) {
    const at = Math.floor(rand() * length);
    ytext.delete(at, Math.min(length - at, 1 + Math.floor(rand() * 3)));
  } else {
    const at = Math.floor(rand() * (length + 1));
    let word = "";
    for (let i = 0, n = 1 + Math.floor(rand() * 4); i < n; i++) word += alphabet[Math.floor(rand() * alphabet.length)];
    ytext.insert(at, word);
  }
}
