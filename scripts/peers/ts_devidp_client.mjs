// An MCP client signing in to `warden serve` with nothing but the embedded default
// configuration: Warden is both the protected MCP server and (its development identity
// provider) the authorization server. The official TypeScript MCP SDK
// (@modelcontextprotocol/sdk 1.32) does the whole OAuth flow; the scripted browser of
// browser.mjs fills Warden's login form (fields `login` and `password`). Part of
// scripts/e2e-devidp.sh; see docs/dev-idp.md.
//
//   PEERS_DIR=.peers $PEERS_NODE22 scripts/peers/ts_devidp_client.mjs http://127.0.0.1:PORT/mcp
//
// Two runs, each from nothing (no token, no client):
// dcr:  the SDK meets the 401, fetches the Protected Resource Metadata and Warden's RFC 8414
//       metadata, registers a public client (RFC 7591), sends the browser to the login page
//       (PKCE S256, `resource`, `scope`, `state`), exchanges the code, then lists and calls
//       the demo tools; then refreshes the token (rotation: the old refresh token is refused).
// cimd: the client's id is the URL of its Client ID Metadata Document, served here on
//       loopback http. The SDK 1.32 takes a `clientMetadataUrl` only when it is https, so the
//       provider hands the SDK that URL as its client information (`{client_id: URL}`, what
//       the SDK's own CIMD path stores); no registration happens and Warden fetches the
//       document to learn the redirect URIs.
//
// Prints one TAP-like line per check (`ok - devidp-ts(dcr): …`); exits 1 if any failed.
import { createRequire } from "node:module";
import http from "node:http";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { MemoryOAuthStore, browse } from "./browser.mjs";

const url = process.argv[2];
const peers = process.env.PEERS_DIR;
if (!url || !peers) {
  console.error("usage: PEERS_DIR=… ts_devidp_client.mjs MCP_URL   (env: OAUTH_USER, OAUTH_PASSWORD)");
  process.exit(2);
}
const USER = process.env.OAUTH_USER || "alice";
const PASSWORD = process.env.OAUTH_PASSWORD || "alice";
const SCOPE = "mcp:tools";

const sdkRequire = createRequire(path.join(path.resolve(peers), "mcp-node", "package.json"));
const { Client } = sdkRequire("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = sdkRequire("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { UnauthorizedError, refreshAuthorization } = sdkRequire("@modelcontextprotocol/sdk/client/auth.js");

let failed = 0;
let label = "devidp-ts";
function check(description, ok, detail) {
  if (ok) {
    console.log(`ok - ${label}: ${description}`);
    return true;
  }
  failed++;
  console.log(`not ok - ${label}: ${description}`);
  if (detail !== undefined) {
    const text = typeof detail === "string" ? detail : JSON.stringify(detail, null, 1);
    console.log(`#   ${String(text).slice(0, 1200).replace(/\n/g, "\n#   ")}`);
  }
  return false;
}
async function attempt(description, body) {
  try {
    const [ok, detail] = await body();
    return check(description, ok, detail);
  } catch (e) {
    return check(description, false, `threw: ${e?.stack ?? e}`);
  }
}
function recordingFetch(trace) {
  return async (input, init = {}) => {
    const target = String(input instanceof Request ? input.url : input);
    const method = (init.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    const entry = { method, url: target };
    if (init.body instanceof URLSearchParams) entry.form = Object.fromEntries(init.body);
    trace.push(entry);
    const res = await fetch(input, init);
    entry.status = res.status;
    return res;
  };
}
const decode = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
const textOf = (r) => (r?.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");

// The SDK's OAuthClientProvider, in memory; our browser plays the user.
class AutomatedProvider extends MemoryOAuthStore {
  constructor(name, clientId) {
    super();
    this.name = name;
    this.redirectUrl = "http://127.0.0.1:9/oauth/callback"; // never fetched: browse() stops there
    this._state = randomUUID();
    if (clientId) this._client = { client_id: clientId };
  }
  get clientMetadata() {
    return {
      client_name: `warden-devidp-e2e-${this.name}`,
      redirect_uris: [this.redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      scope: SCOPE,
    };
  }
  state() {
    return this._state;
  }
  async redirectToAuthorization(authorizationUrl) {
    this.authorizationUrl = new URL(authorizationUrl);
    const { callback, pages } = await browse(authorizationUrl, this.redirectUrl, USER, PASSWORD);
    this.callback = callback;
    this.pages = pages;
  }
}

// Discovery, by hand, for the checks (the SDK does its own below).
const probe = await fetch(url, {
  method: "POST",
  headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
  body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: {
    protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "probe", version: "1" } } }),
});
await probe.text();
const prmUrl = probe.headers.get("www-authenticate")?.match(/resource_metadata="([^"]+)"/)?.[1];
check("initialize without a token: 401 with resource_metadata", probe.status === 401 && prmUrl, probe.headers.get("www-authenticate"));
const prm = prmUrl ? await (await fetch(prmUrl)).json() : {};
const issuer = prm.authorization_servers?.[0];
check("PRM names the MCP URL as resource and Warden itself as the authorization server",
  prm.resource === url && issuer === new URL(url).origin, prm);
const asm = issuer ? await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json() : {};
check("Warden's RFC 8414 metadata: authorization and registration endpoints, S256, iss responses, CIMD supported",
  asm.issuer === issuer && asm.authorization_endpoint === `${issuer}/oauth/authorize` &&
    asm.registration_endpoint === `${issuer}/oauth/register` && asm.code_challenge_methods_supported?.includes("S256") &&
    asm.authorization_response_iss_parameter_supported === true && asm.client_id_metadata_document_supported === true, asm);

// One SDK run: connect (401 → discovery → [DCR] → browser → code) → finishAuth → MCP.
async function run(provider, { expectRegistration }) {
  const trace = [];
  const sdkFetch = recordingFetch(trace);
  let transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: sdkFetch });
  let client = new Client({ name: "warden-devidp-e2e", version: "1.0.0" }, { capabilities: {} });
  let firstError;
  try {
    await client.connect(transport);
  } catch (e) {
    firstError = e;
  }
  check("SDK connect without a token sends the user to Warden's login page (UnauthorizedError after the redirect)",
    firstError instanceof UnauthorizedError && provider.callback !== undefined, String(firstError?.stack ?? firstError ?? "connected"));
  const reg = trace.find((e) => e.method === "POST" && e.url === `${issuer}/oauth/register`);
  if (expectRegistration) check("SDK registered dynamically at /oauth/register (201)", reg?.status === 201 && provider._client?.client_id?.startsWith("dcr-"), trace);
  else check("no registration: the client id is the metadata document URL", !reg && provider._client?.client_id?.startsWith("http"), trace);
  const a = provider.authorizationUrl?.searchParams;
  check("authorization request: code, PKCE S256, resource, scope, state",
    a && a.get("response_type") === "code" && a.get("code_challenge_method") === "S256" && a.get("resource") === url &&
      a.get("scope") === SCOPE && a.get("state") === provider._state, provider.authorizationUrl?.href);
  check("the scripted browser signed in on Warden's login page", (provider.pages ?? []).join(",") === "Sign in", provider.pages);
  const c = provider.callback?.searchParams;
  check("authorization response: code, the same state, iss = Warden (RFC 9207)",
    c && c.get("code") && c.get("state") === provider._state && c.get("iss") === issuer, provider.callback?.href);
  if (!c?.get("code")) return;
  await attempt("SDK finishAuth exchanges the code (PKCE verifier) for tokens", async () => {
    await transport.finishAuth(c.get("code"));
    return [provider.tokens()?.access_token && provider.tokens()?.refresh_token, provider.tokens()];
  });
  const tokens = provider.tokens();
  if (!tokens?.access_token) return;
  const claims = decode(tokens.access_token);
  check(`access token: iss Warden, sub ${USER}, aud ${url}, scope ${SCOPE}, client_id the client`,
    claims.iss === issuer && claims.sub === USER && claims.aud === url && claims.scope === SCOPE &&
      claims.client_id === provider._client.client_id, claims);
  transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: sdkFetch });
  client = new Client({ name: "warden-devidp-e2e", version: "1.0.0" }, { capabilities: {} });
  const connected = await attempt("SDK initialize with the access token", async () => {
    await client.connect(transport);
    return [true];
  });
  if (!connected) return;
  let names = [];
  await attempt("tools/list lists the demo tools (clock__add, notes__add_note)", async () => {
    names = (await client.listTools()).tools.map((t) => t.name);
    return [names.includes("clock__add") && names.includes("notes__add_note"), names];
  });
  await attempt("tools/call clock__add answers 42", async () => {
    const r = await client.callTool({ name: "clock__add", arguments: { a: 2, b: 40 } });
    return [!r.isError && textOf(r) === "42", r];
  });
  await attempt("tools/call clock__echo answers", async () => {
    const r = await client.callTool({ name: "clock__echo", arguments: { message: `hello-${provider.name}` } });
    return [!r.isError && textOf(r).includes(`hello-${provider.name}`), r];
  });
  await client.close();
  await attempt("refresh (SDK refreshAuthorization): new tokens, and the old refresh token is refused afterwards", async () => {
    const fresh = await refreshAuthorization(issuer, { metadata: asm, clientInformation: provider._client, refreshToken: tokens.refresh_token, resource: new URL(url) });
    const again = await fetch(`${issuer}/oauth/token`, { method: "POST",
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: provider._client.client_id }) });
    const body = await again.json();
    return [fresh.access_token && fresh.refresh_token !== tokens.refresh_token && again.status === 400 && body.error === "invalid_grant",
      { fresh, again: again.status, body }];
  });
}

label = "devidp-ts(dcr)";
await run(new AutomatedProvider("dcr"), { expectRegistration: true });

label = "devidp-ts(cimd)";
{
  let hits = 0;
  let docUrl;
  const server = http.createServer((req, res) => {
    hits++;
    res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=60" });
    res.end(JSON.stringify({ client_id: docUrl, client_name: "warden-devidp-e2e-cimd", redirect_uris: ["http://127.0.0.1:9/oauth/callback"],
      grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], token_endpoint_auth_method: "none" }));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  docUrl = `http://127.0.0.1:${server.address().port}/oauth/client-metadata.json`;
  await run(new AutomatedProvider("cimd", docUrl), { expectRegistration: false });
  check("Warden fetched the client metadata document (and cached it: max-age=60)", hits === 1, { hits });
  server.close();
}

console.log(`# ts devidp client: ${failed} failed`);
process.exit(failed ? 1 : 0);
