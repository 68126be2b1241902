// Drives a multiplexing Warden virtual server with the official TypeScript SDK client
// (@modelcontextprotocol/sdk 1.x, Streamable HTTP, protocol 2025-11-25). Part of
// scripts/e2e-multiplex.sh; expects the backends of examples/e2e-three-servers.yaml.
//
//   PEERS_DIR=.peers node scripts/peers/ts_client.mjs http://127.0.0.1:PORT/mcp
//
// Prints one TAP-like line per check (`ok - ts: …` / `not ok - ts: …`); exits 1 if any
// check failed.
import { createRequire } from "node:module";
import path from "node:path";

const url = process.argv[2];
if (!url) {
  console.error("usage: ts_client.mjs URL");
  process.exit(2);
}
const peers = process.env.PEERS_DIR;
if (!peers) {
  console.error("PEERS_DIR is not set (source .peers/env.sh)");
  process.exit(2);
}
// The SDK lives in the peers tree, not next to this script.
const require = createRequire(path.join(path.resolve(peers), "mcp-node", "package.json"));
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { CreateMessageRequestSchema } = require("@modelcontextprotocol/sdk/types.js");

let failed = 0;
function check(description, ok, detail) {
  if (ok) {
    console.log(`ok - ts: ${description}`);
  } else {
    failed++;
    console.log(`not ok - ts: ${description}`);
    if (detail !== undefined) {
      const text = typeof detail === "string" ? detail : JSON.stringify(detail);
      console.log(`#   ${text.slice(0, 600).replace(/\n/g, "\n#   ")}`);
    }
  }
}
// Runs `body`; a thrown error fails the check with the error as detail.
async function attempt(description, body) {
  try {
    const [ok, detail] = await body();
    check(description, ok, detail);
  } catch (e) {
    check(description, false, `threw: ${e?.stack ?? e}`);
  }
}
const text = (result) => (result?.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");

const SAMPLED = "sampled-by-ts-client";
const samplingRequests = [];
const clientErrors = [];

const client = new Client({ name: "warden-e2e-ts", version: "1.0.0" }, { capabilities: { sampling: {} } });
client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
  samplingRequests.push(request.params);
  return { model: "ts-test-model", role: "assistant", content: { type: "text", text: SAMPLED }, stopReason: "endTurn" };
});
client.onerror = (e) => clientErrors.push(String(e?.message ?? e));

try {
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  check("initialize through Warden", true);
} catch (e) {
  check("initialize through Warden", false, String(e?.stack ?? e));
  console.log(`# ts client: ${failed} failed`);
  process.exit(1);
}

// Lists: every backend's items appear under its prefix.
let toolNames = [];
await attempt("tools/list has tools of all four backends, prefixed", async () => {
  const { tools } = await client.listTools();
  toolNames = tools.map((t) => t.name);
  const want = ["rmcp__echo", "rmcp__test_sampling", "py__greet", "everything__echo", "pystdio__greet"];
  const missing = want.filter((n) => !toolNames.includes(n));
  const unprefixed = toolNames.filter((n) => !/^(rmcp|py|everything|pystdio)__/.test(n));
  return [missing.length === 0 && unprefixed.length === 0, { missing, unprefixed }];
});
await attempt("prompts/list has prompts of all four backends, prefixed", async () => {
  const names = (await client.listPrompts()).prompts.map((p) => p.name);
  const want = ["rmcp__test_simple_prompt", "py__review", "everything__simple-prompt", "pystdio__review"];
  const missing = want.filter((n) => !names.includes(n));
  return [missing.length === 0, { missing, names }];
});
await attempt("resources/list has resources of all four backends, prefixed", async () => {
  const uris = (await client.listResources()).resources.map((r) => r.uri);
  const want = ["rmcp+test://static-text", "py+py://greeting", "everything+demo://resource/static/document/features.md", "pystdio+py://greeting"];
  const missing = want.filter((u) => !uris.includes(u));
  return [missing.length === 0, { missing, uris }];
});

// One call per backend, each answered by the right server.
const calls = [
  ["rmcp__echo", { message: "hello-ts" }, (t) => t === "hello-ts"],
  ["py__greet", { name: "ts" }, (t) => t === "Hello, ts! (from python)"],
  ["everything__get-sum", { a: 2, b: 3 }, (t) => t === "The sum of 2 and 3 is 5."],
  ["pystdio__multiply", { a: 6, b: 7 }, (t) => t === "python product: 42"],
];
for (const [name, args, expect] of calls) {
  await attempt(`tools/call ${name} is answered by its backend`, async () => {
    const r = await client.callTool({ name, arguments: args });
    return [!r.isError && expect(text(r)), r];
  });
}

// Prefixed resources and prompts.
await attempt("resources/read py+py://greeting returns the python resource", async () => {
  const r = await client.readResource({ uri: "py+py://greeting" });
  const c = r.contents?.[0];
  return [c?.text === "static greeting from python" && c?.uri === "py+py://greeting", r];
});
await attempt("resources/read rmcp+test://static-text returns the rmcp resource", async () => {
  const r = await client.readResource({ uri: "rmcp+test://static-text" });
  const c = r.contents?.[0];
  return [typeof c?.text === "string" && c.text.length > 0 && c?.uri === "rmcp+test://static-text", r];
});
await attempt("prompts/get py__review renders the python prompt with its argument", async () => {
  const r = await client.getPrompt({ name: "py__review", arguments: { code: "x = 1" } });
  const t = r.messages?.[0]?.content?.text ?? "";
  return [t === "Please review this python snippet: x = 1", r];
});
await attempt("prompts/get everything__args-prompt renders the server-everything prompt", async () => {
  const r = await client.getPrompt({ name: "everything__args-prompt", arguments: { city: "Lisbon" } });
  const t = JSON.stringify(r.messages ?? []);
  return [t.includes("Lisbon"), r];
});

// Progress: three calls on three backends at once, each with its own token; each
// callback must see exactly its own backend's notifications.
await attempt("progress notifications of concurrent calls on three backends reach the right caller", async () => {
  const seen = { rmcp: [], everything: [], py: [] };
  const opts = (key) => ({ onprogress: (p) => seen[key].push(p), timeout: 30000 });
  const [r1, r2, r3] = await Promise.all([
    client.callTool({ name: "rmcp__test_tool_with_progress", arguments: {} }, undefined, opts("rmcp")),
    client.callTool({ name: "everything__trigger-long-running-operation", arguments: { duration: 0.6, steps: 3 } }, undefined, opts("everything")),
    client.callTool({ name: "py__count_steps", arguments: { steps: 4 } }, undefined, opts("py")),
  ]);
  const ok =
    text(r1) === "Progress test completed" &&
    text(r2).startsWith("Long running operation completed") &&
    text(r3) === "python counted 4 steps" &&
    seen.rmcp.length === 3 && seen.rmcp.every((p) => p.total === 100) &&
    seen.everything.length === 3 && seen.everything.every((p) => p.total === 3) &&
    seen.py.length === 4 && seen.py.every((p) => p.total === 4) &&
    !clientErrors.some((e) => e.includes("progress"));
  return [ok, { seen, clientErrors, results: [text(r1), text(r2), text(r3)] }];
});

// Sampling: the backend asks the client; Warden must route the request to this client and
// the answer back to the backend that asked.
await attempt("sampling round trip: rmcp__test_sampling gets this client's answer", async () => {
  const before = samplingRequests.length;
  const r = await client.callTool({ name: "rmcp__test_sampling", arguments: { prompt: "what is 2+2 (rmcp)" } }, undefined, { timeout: 30000 });
  const asked = samplingRequests.slice(before).some((p) => JSON.stringify(p.messages).includes("what is 2+2 (rmcp)"));
  return [!r.isError && text(r) === `LLM response: ${SAMPLED}` && asked, { result: r, asked }];
});
// server-everything registers this tool only for sessions whose client declared sampling,
// so its presence also shows Warden passed this client's capabilities on.
await attempt("sampling round trip: everything__trigger-sampling-request gets this client's answer", async () => {
  if (!toolNames.includes("everything__trigger-sampling-request")) {
    return [false, "everything__trigger-sampling-request not listed (client sampling capability not passed to the backend?)"];
  }
  const before = samplingRequests.length;
  const r = await client.callTool({ name: "everything__trigger-sampling-request", arguments: { prompt: "hi (everything)" } }, undefined, { timeout: 30000 });
  const asked = samplingRequests.slice(before).some((p) => JSON.stringify(p.messages).includes("hi (everything)"));
  return [!r.isError && text(r).includes(SAMPLED) && asked, { result: r, asked }];
});

await client.close();
console.log(`# ts client: ${failed} failed`);
process.exit(failed ? 1 : 0);
