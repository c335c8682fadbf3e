// Two editors, one on each hub process (HUB_URL and HUB_URL_B), each make EDITS random
// inserts and deletes in one Y.Text at the same time; both must converge to one text,
// equal to what each hub serves from its stored document.
import { HUB_URL, required, run } from "./common.mjs";
import { editor, random, randomEdit, serverText, sleep, until } from "./collab_common.mjs";

const URL_B = required("HUB_URL_B");
const DOCUMENT = required("COLLAB_DOCUMENT");
const EDITS = Number(process.env.COLLAB_EDITS || 1000);

run(async () => {
  const a = await editor(HUB_URL, required("TOKEN_A"), DOCUMENT);
  const b = await editor(URL_B, required("TOKEN_B"), DOCUMENT);
  for (const side of [a, b]) { side.received = 0; side.hub.on("collab.update", () => { side.received += 1; }); }
  const work = async (side, seed) => {
    const rand = random(seed);
    const ytext = side.provider.doc.getText("content");
    for (let i = 0; i < EDITS; i++) {
      randomEdit(ytext, rand);
      if (i % 10 === 9) await sleep(1); // let the other side's edits arrive between ours
    }
  };
  const started = Date.now();
  await Promise.all([work(a, 1), work(b, 2)]);
  await until("every update acknowledged", () => a.provider.unacked === 0 && b.provider.unacked === 0);
  const edited = Date.now() - started;
  try {
    await until("the two editors converge", () => a.text() === b.text(), 20000);
  } catch (err) {
    const pending = (side) => ({ length: side.text().length, pending: !!side.provider.doc.store.pendingStructs,
                                 ds: !!side.provider.doc.store.pendingDs, received: side.received });
    throw new Error(`${err.message}: ${JSON.stringify([pending(a), pending(b)])}`);
  }
  // Awareness across the processes: a's cursor reaches b, and a late joiner on b sees a at once.
  const names = (side) => Array.from(side.provider.awareness.getStates().values()).map((s) => s.user && s.user.name);
  const shownAt = performance.now();
  a.provider.awareness.setLocalStateField("user", { name: "alice" });
  await until("b sees alice's cursor", () => names(b).includes("alice"), 5000, 2);
  const awarenessMs = performance.now() - shownAt;
  const late = await editor(URL_B, required("TOKEN_B"), DOCUMENT);
  // Its own state (an awareness state's first clock) tells the peers a newcomer is there: they answer with theirs.
  late.provider.awareness.setLocalStateField("user", { name: "late" });
  await until("a late joiner on b sees alice", () => names(late).includes("alice"), 5000, 2);
  late.hub.close();
  const service = required("SERVICE_TOKEN");
  const [fromA, fromB] = await Promise.all([serverText(HUB_URL, service, DOCUMENT), serverText(URL_B, service, DOCUMENT)]);
  a.hub.close();
  b.hub.close();
  return { length: a.text().length, converged: a.text() === b.text(), server_a: fromA === a.text(),
           server_b: fromB === a.text(), edit_ms: edited, awareness_ms: awarenessMs };
});
