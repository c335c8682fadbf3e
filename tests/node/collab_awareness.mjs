// Awareness: a peer's state (its cursor) reaches the other editor promptly, and goes as
// soon as the peer's connection ends.
import { HUB_URL, required, run } from "./common.mjs";
import { editor, until } from "./collab_common.mjs";

const DOCUMENT = required("COLLAB_DOCUMENT");

run(async () => {
  const a = await editor(HUB_URL, required("TOKEN_A"), DOCUMENT);
  const b = await editor(HUB_URL, required("TOKEN_B"), DOCUMENT);
  const seesB = () => Array.from(a.provider.awareness.getStates().values()).some((s) => s.user && s.user.name === "bob");
  const started = performance.now();
  b.provider.awareness.setLocalStateField("user", { name: "bob", cursor: 3 });
  await until("a sees b", seesB, 5000, 2);
  const shown = performance.now() - started;
  const closed = performance.now();
  b.hub.close();
  await until("b is gone from a", () => !seesB(), 5000, 2);
  const removed = performance.now() - closed;
  a.hub.close();
  return { shown_ms: shown, removed_ms: removed };
});
