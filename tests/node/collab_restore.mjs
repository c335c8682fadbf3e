// Versions: save one, edit on, restore it over HTTP; every connected editor converges to it.
import { HUB_URL, required, run } from "./common.mjs";
import { editor, serverText, until } from "./collab_common.mjs";

const DOCUMENT = required("COLLAB_DOCUMENT");
const TOKEN = required("TOKEN_A");

async function call(method, path, body) {
  const response = await fetch(`${HUB_URL}/api/collab/${DOCUMENT}${path}`, {
    method, headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: await response.json() };
}

run(async () => {
  const a = await editor(HUB_URL, TOKEN, DOCUMENT);
  const b = await editor(HUB_URL, required("TOKEN_B"), DOCUMENT);
  a.provider.doc.getText("content").insert(0, "The agreed clause.");
  await until("b has the clause", () => b.text() === "The agreed clause.");
  await until("a's edit acknowledged", () => a.provider.unacked === 0);
  const saved = await call("POST", "/versions", { name: "agreed" });
  b.provider.doc.getText("content").insert(4, "un");
  a.provider.doc.getText("content").insert(0, "Draft: ");
  await until("both edits everywhere", () => a.text() === b.text() && a.text().includes("unagreed") && a.text().startsWith("Draft"));
  await until("acknowledged", () => a.provider.unacked === 0 && b.provider.unacked === 0);
  const compared = await call("GET", "/versions/agreed/compare");
  const restored = await call("POST", "/versions/agreed/restore");
  await until("both converge to the version", () => a.text() === "The agreed clause." && b.text() === a.text());
  const listed = await call("GET", "/versions");
  const stored = await serverText(HUB_URL, TOKEN, DOCUMENT);
  a.hub.close();
  b.hub.close();
  return { saved: saved.status, restored: restored.status, a: a.text(), b: b.text(), stored,
           diff: compared.body.diff, versions: listed.body.versions.map((v) => v.name) };
});
