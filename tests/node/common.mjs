// Shared by the Node test scripts: settings from the environment, a global
// deadline, waiting for events with a timeout, and printing the result as JSON.
//
// The pytest side (tests/test_node_client.py) passes HUB_URL, tokens and the
// like in the environment and asserts on the one JSON object printed on stdout.

export const HUB_URL = required("HUB_URL");
const DEADLINE_MS = Number(process.env.NODE_TEST_TIMEOUT_MS || 20000);

export function required(name) {
  const value = process.env[name];
  if (!value) fail(`environment variable ${name} is required`);
  return value;
}

export function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

// A script never hangs the test suite: past the deadline it exits non-zero.
const deadline = setTimeout(() => fail(`timed out after ${DEADLINE_MS} ms`), DEADLINE_MS);
deadline.unref();

/** Resolve with the first value `register(resolve)` delivers, or reject after `ms`. */
export function waitFor(what, register, ms = 8000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    register((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** Print `result` as JSON and exit 0 (open sockets would otherwise keep Node alive). */
export function done(result) {
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
}

/** Run `main`, printing its result; any exception exits non-zero with its stack. */
export function run(main) {
  main().then(done, (err) => fail(err && err.stack ? err.stack : String(err)));
}

/**
 * The HubClient class from the file the hub serves at /static/hub-client.js,
 * evaluated as a CommonJS module whose `require` resolves from tests/node (so
 * it finds socket.io-client). The test checks the file users actually get.
 */
export async function loadServedClient() {
  const { createRequire } = await import("node:module");
  const response = await fetch(`${HUB_URL}/static/hub-client.js`);
  if (!response.ok) throw new Error(`GET /static/hub-client.js: ${response.status}`);
  const source = await response.text();
  const module = { exports: {} };
  const load = new Function("module", "exports", "require", source);
  load(module, module.exports, createRequire(import.meta.url));
  return { HubClient: module.exports, source, contentType: response.headers.get("content-type") };
}

/** POST /api/publish with a service token; the parsed {id, seq}. */
export async function servicePublish(token, body) {
  const response = await fetch(`${HUB_URL}/api/publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const reply = await response.json();
  if (response.status !== 201) throw new Error(`POST /api/publish: ${response.status} ${JSON.stringify(reply)}`);
  return reply;
}

/** A promise's rejection as plain JSON (or {resolved} if it did not reject). */
export async function rejection(promise) {
  try {
    return { resolved: await promise };
  } catch (err) {
    return { name: err.name, code: err.code, message: err.message, is_hub_error: err instanceof Error };
  }
}
