// Two editors type unique tokens while the test SIGKILLs the hub and starts it again.
// Each token's update is numbered by the provider; `acked` says which the hub stored.
// Progress goes to COLLAB_PROGRESS (a file the test polls to know when to kill).
import { writeFileSync } from "node:fs";
import { HUB_URL, required, run } from "./common.mjs";
import { editor, random, serverText, sleep, until } from "./collab_common.mjs";

const DOCUMENT = required("COLLAB_DOCUMENT");
const TOTAL = Number(process.env.COLLAB_EDITS || 300);
const PROGRESS = required("COLLAB_PROGRESS");

run(async () => {
  const options = { socketOptions: { reconnectionDelay: 100, reconnectionDelayMax: 300 } };
  const sides = [await editor(HUB_URL, required("TOKEN_A"), DOCUMENT, options),
                 await editor(HUB_URL, required("TOKEN_B"), DOCUMENT, options)];
  const typed = sides.map(() => []);
  let restarted = false;
  const work = async (index) => {
    const side = sides[index];
    const rand = random(index + 7);
    for (let i = 0; i < TOTAL; i++) {
      const ytext = side.provider.doc.getText("content");
      const token = `[${"ab"[index]}${i}]`;
      // Between tokens only, so that a token is never split by another.
      const text = ytext.toString();
      const gaps = [0];
      for (let at = 0; at < text.length; at++) if (text[at] === "]") gaps.push(at + 1);
      ytext.insert(gaps[Math.floor(rand() * gaps.length)], token);
      typed[index].push({ token, seq: side.provider.connected ? side.provider.sent : null });
      const acked = sides.map((s) => s.provider.acked);
      if (i % 10 === 0) writeFileSync(PROGRESS, JSON.stringify({ acked, i }));
      if (!restarted && side.provider.synced === false) restarted = true;
      await sleep(restarted ? 2 : 8);
    }
  };
  await Promise.all([work(0), work(1)]);
  await until("both editors synced again, everything acknowledged",
              () => sides.every((s) => s.provider.synced && s.provider.unacked === 0), 30000);
  await until("the editors converge", () => sides[0].text() === sides[1].text(), 20000);
  const stored = await serverText(HUB_URL, required("TOKEN_A"), DOCUMENT);
  const acked = sides.map((side, index) =>
    typed[index].filter((t) => t.seq !== null && t.seq <= side.provider.acked).map((t) => t.token));
  sides.forEach((s) => s.hub.close());
  return { text: sides[0].text(), stored, typed: typed.map((list) => list.map((t) => t.token)), acked,
           reconnected: restarted };
});
