// One user of the HR example (examples/policy-hr) through the official TypeScript MCP SDK
// (@modelcontextprotocol/sdk 1.32): signs in at the test OpenID provider
// (scripts/peers/oidc_provider.mjs) through the pre-registered agent `hr-assistant`
// (authorization code + PKCE, resource = the MCP URL), then lists and calls tools through
// Warden and checks each policy decision. Part of scripts/e2e-policy.sh; see
// docs/e2e-policy.md.
//
//   PEERS_DIR=.peers $PEERS_NODE22 scripts/peers/ts_policy_client.mjs MCP_URL PLAN.json [TOKENS_OUT.json]
//
// PLAN.json: {"user": "alice", "clientId": "hr-assistant", "steps": [...]} (optional "label"
// replaces `policy-ts` in the check lines, "redirectUri" the default redirect), each step one of
//   {"list": {"visible": [names], "hidden": [names]}}
//   {"call": NAME, "arguments": {...}, "expect": "allow", "text": "substring of the result"}
//       optional "save": "FILE" writes the result's text there (for the calling script's checks)
//   {"call": NAME, "arguments": {...}, "expect": "deny"}       JSON-RPC error -32003 Forbidden
//   {"call": NAME, "arguments": {...}, "expect": "stepUp", "scope": "mcp:admin", "text": "…"}
//       Warden answers 403 insufficient_scope; the SDK transport's own upscoping asks the
//       provider for a token with the challenged scopes (our "browser" signs in again), the
//       code is exchanged (finishAuth) and the same call is retried: it must then succeed.
// The SDK does everything MCP and OAuth (discovery from the 401, PKCE, the token request,
// Bearer on every request, the 403 step-up); only the user's part (the provider's login and
// consent forms) is ours, as in ts_oauth_client.mjs.
// Writes the access tokens it got ({"initial", "final"}) to TOKENS_OUT.json for the shell's
// own checks. Prints one TAP-like line per check (`ok - policy-ts(alice): …`); exits 1 if any failed.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { MemoryOAuthStore, browse as browseAs } from "./browser.mjs";

const [url, planFile, tokensOut] = process.argv.slice(2);
if (!url || !planFile) {
  console.error("usage: ts_policy_client.mjs MCP_URL PLAN.json [TOKENS_OUT.json]   (env: PEERS_DIR, OAUTH_PASSWORD)");
  process.exit(2);
}
const peers = process.env.PEERS_DIR;
if (!peers) {
  console.error("PEERS_DIR is not set (source .peers/env.sh)");
  process.exit(2);
}
const plan = JSON.parse(fs.readFileSync(planFile, "utf8"));
const USER = plan.user;
const PASSWORD = process.env.OAUTH_PASSWORD || "test";
const CLIENT_ID = plan.clientId ?? "hr-assistant";
const REDIRECT = plan.redirectUri ?? "http://127.0.0.1:9/oauth/callback";
const FORBIDDEN = -32003;

const sdkRequire = createRequire(path.join(path.resolve(peers), "mcp-node", "package.json"));
const { Client } = sdkRequire("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = sdkRequire("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { UnauthorizedError } = sdkRequire("@modelcontextprotocol/sdk/client/auth.js");
const { McpError } = sdkRequire("@modelcontextprotocol/sdk/types.js");

// --- reporting --------------------------------------------------------------------------
let failed = 0;
const label = `${plan.label ?? "policy-ts"}(${USER})`;
function check(description, ok, detail) {
  if (ok) {
    console.log(`ok - ${label}: ${description}`);
    return true;
  }
  failed++;
  console.log(`not ok - ${label}: ${description}`);
  if (detail !== undefined) {
    const text = typeof detail === "string" ? detail : JSON.stringify(detail, null, 1);
    console.log(`#   ${text.slice(0, 1200).replace(/\n/g, "\n#   ")}`);
  }
  return false;
}
const claimsOf = (jwt) => {
  try {
    return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
  } catch {
    return {};
  }
};
const textOf = (result) => (result?.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");

// The user's browser: follows redirects, keeps cookies, fills in the provider's login form
// (USER / PASSWORD) and clicks "Allow", and stops at the redirect to the client's redirect
// URI. Same as ts_oauth_client.mjs.
const browse = (start, redirectUri) => browseAs(start, redirectUri, USER, PASSWORD);

// The SDK's OAuthClientProvider interface, in memory. The client is pre-registered at the
// provider (`--public-client hr-assistant=…`), so clientInformation() answers at once and
// the SDK skips dynamic registration: the token's client_id, which Warden makes the
// principal's agent, is always `hr-assistant`.
class AgentProvider extends MemoryOAuthStore {
  constructor() {
    super();
    this.redirectUrl = REDIRECT;
    this._client = { client_id: CLIENT_ID };
    this.callbacks = [];
    this.authorizationUrls = [];
  }
  get clientMetadata() {
    return {
      client_name: CLIENT_ID,
      redirect_uris: [this.redirectUrl],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  state() {
    this._state = randomUUID();
    return this._state;
  }
  async redirectToAuthorization(authorizationUrl) {
    this.authorizationUrls.push(new URL(authorizationUrl));
    const { callback } = await browse(authorizationUrl, this.redirectUrl);
    this.callbacks.push(callback);
  }
  lastCode() {
    return this.callbacks.at(-1)?.searchParams.get("code");
  }
}

const provider = new AgentProvider();
let transport;
let client;
async function connect() {
  transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  client = new Client({ name: `warden-e2e-policy-${USER}`, version: "1.0.0" }, { capabilities: {} });
  await client.connect(transport);
}

// 1. Sign in: connect → 401 → SDK discovery + authorization URL → our browser → code →
//    finishAuth → connect again with the token.
const tokens = {};
try {
  let first;
  try {
    await connect();
  } catch (e) {
    first = e;
  }
  if (!(first instanceof UnauthorizedError)) throw first ?? new Error("connected without a token");
  await transport.finishAuth(provider.lastCode());
  await connect();
  tokens.initial = provider.tokens().access_token;
  const c = claimsOf(tokens.initial);
  check(`signed in as ${USER} through agent ${CLIENT_ID}: token with sub, client_id, groups, roles, employee_id, department`,
    c.sub === USER && c.client_id === CLIENT_ID && Array.isArray(c.groups) && Array.isArray(c.roles) && c.employee_id && c.department &&
      provider.authorizationUrls[0]?.searchParams.get("client_id") === CLIENT_ID,
    c);
} catch (e) {
  check(`sign in as ${USER} through the SDK (authorization code, PKCE)`, false, String(e?.stack ?? e));
  console.log(`# ts policy client (${USER}): ${failed} failed`);
  process.exit(1);
}

// 2. The plan.
const args = (a) => JSON.stringify(a ?? {});
for (const step of plan.steps) {
  if (step.list) {
    const { visible = [], hidden = [] } = step.list;
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      check(`tools/list shows ${visible.join(", ") || "nothing required"}${hidden.length ? `; hides ${hidden.join(", ")}` : ""}`,
        visible.every((n) => names.includes(n)) && hidden.every((n) => !names.includes(n)), names);
    } catch (e) {
      check(`tools/list (${visible.join(", ")})`, false, String(e?.stack ?? e));
    }
    continue;
  }
  const name = step.call;
  const what = `tools/call ${name} ${args(step.arguments)}`;
  const call = () => client.callTool({ name, arguments: step.arguments ?? {} });
  if (step.expect === "allow") {
    try {
      const r = await call();
      const t = textOf(r);
      if (step.save) fs.writeFileSync(step.save, t);
      check(`${what} is allowed and answered${step.text ? ` (${JSON.stringify(step.text)})` : ""}`,
        !r.isError && (!step.text || t.includes(step.text)), r);
    } catch (e) {
      check(`${what} is allowed`, false, String(e?.stack ?? e));
    }
  } else if (step.expect === "deny") {
    try {
      const r = await call();
      check(`${what} is denied with -32003 Forbidden`, false, { answered: r });
    } catch (e) {
      check(`${what} is denied with -32003 Forbidden`, e instanceof McpError && e.code === FORBIDDEN && /Forbidden/.test(e.message),
        { code: e?.code, message: e?.message, data: e?.data });
    }
  } else if (step.expect === "stepUp") {
    const before = provider.authorizationUrls.length;
    let first;
    try {
      const r = await call();
      check(`${what} without ${step.scope} is refused with 403 insufficient_scope`, false, { answered: r });
    } catch (e) {
      first = e;
    }
    if (first === undefined) continue;
    const asked = provider.authorizationUrls[before];
    const askedScopes = (asked?.searchParams.get("scope") ?? "").split(" ");
    check(`${what} without ${step.scope}: 403 insufficient_scope, the SDK asks the provider again for scope "${asked?.searchParams.get("scope")}"`,
      first instanceof UnauthorizedError && asked !== undefined && askedScopes.includes(step.scope) && askedScopes.includes("mcp:tools"),
      { error: String(first?.stack ?? first), authorizationUrl: asked?.href });
    try {
      await transport.finishAuth(provider.lastCode());
      tokens.final = provider.tokens().access_token;
      const scopes = String(claimsOf(tokens.final).scope ?? "").split(" ");
      check(`after step-up the token has ${step.scope}`, scopes.includes(step.scope), claimsOf(tokens.final));
      const r = await call();
      const t = textOf(r);
      check(`${what} retried with the stepped-up token is allowed${step.text ? ` (${JSON.stringify(step.text)})` : ""}`,
        !r.isError && (!step.text || t.includes(step.text)), r);
    } catch (e) {
      check(`${what} after step-up`, false, String(e?.stack ?? e));
    }
  } else {
    check(`unknown step ${JSON.stringify(step)}`, false);
  }
}
await client.close().catch(() => {});
tokens.final ??= provider.tokens()?.access_token;
if (tokensOut) fs.writeFileSync(tokensOut, JSON.stringify(tokens));
console.log(`# ts policy client (${USER}): ${failed} failed`);
process.exit(failed ? 1 : 0);
