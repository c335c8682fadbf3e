// Epochs: the document's history is replaced (DELETE by a service) while one editor is
// online and another offline with changes of its own. Both start over from the server's
// new, empty history; neither merges its stale state back (no duplicated content).
import { HUB_URL, required, run } from "./common.mjs";
import { editor, serverText, until } from "./collab_common.mjs";

const DOCUMENT = required("COLLAB_DOCUMENT");
const SERVICE = required("SERVICE_TOKEN");

run(async () => {
  const a = await editor(HUB_URL, required("TOKEN_A"), DOCUMENT);
  const b = await editor(HUB_URL, required("TOKEN_B"), DOCUMENT);
  const resets = { a: 0, b: 0 };
  a.provider.on("reset", () => { resets.a += 1; });
  b.provider.on("reset", () => { resets.b += 1; });
  a.provider.doc.getText("content").insert(0, "Old history.");
  await until("b has it", () => b.text() === "Old history.");
  const oldEpoch = a.provider.epoch;

  b.hub.socket.disconnect(); // offline ...
  b.provider.doc.getText("content").insert(0, "Typed offline. "); // ... on the old history
  const deleted = await fetch(`${HUB_URL}/api/collab/${DOCUMENT}`, { method: "DELETE", headers: { authorization: `Bearer ${SERVICE}` } });
  await until("a starts over", () => resets.a === 1 && a.provider.synced && a.text() === "");
  b.hub.socket.connect();
  await until("b starts over", () => resets.b === 1 && b.provider.synced && b.text() === "");

  a.provider.doc.getText("content").insert(0, "New history.");
  await until("b gets the new history", () => b.text() === "New history.");
  await until("acknowledged", () => a.provider.unacked === 0);
  const stored = await serverText(HUB_URL, SERVICE, DOCUMENT);
  a.hub.close();
  b.hub.close();
  return { deleted: deleted.status, epochs_differ: a.provider.epoch !== oldEpoch && b.provider.epoch === a.provider.epoch,
           a: a.text(), b: b.text(), stored, resets };
});
