// The whole MCP authorization flow against a protected Warden virtual server, with a real
// OpenID provider (scripts/peers/oidc_provider.mjs) and the official TypeScript MCP SDK
// (@modelcontextprotocol/sdk 1.32). Part of scripts/e2e-oauth.sh; see docs/e2e-oauth.md.
//
//   PEERS_DIR=.peers $PEERS_NODE22 scripts/peers/ts_oauth_client.mjs http://127.0.0.1:PORT/mcp
//
// Three runs, each starting from nothing (no token, no registered client):
//
// legacy (protocol 2025-11-25): entirely the SDK. `Client` + `StreamableHTTPClientTransport`
//   with an `authProvider`: the transport meets the 401, reads `resource_metadata` and
//   `scope` from `WWW-Authenticate`, and the SDK's `auth()` fetches the Protected Resource
//   Metadata (RFC 9728) and the authorization server metadata, registers a client (RFC 7591),
//   builds the authorization URL (PKCE S256, `resource` per RFC 8707, `scope`) and hands it
//   to `redirectToAuthorization`. Only the user's part is ours: the "browser" below (fetch
//   plus a cookie jar) follows the redirects, fills in the provider's login form and clicks
//   "Allow" on its consent form, and catches the redirect to the client's redirect URI. The
//   SDK then exchanges the code (`transport.finishAuth`) and the client connects, lists and
//   calls tools with the token.
// modern (protocol 2026-07-28): the SDK 1.32 does not speak this era, so the MCP requests
//   are built by hand with fetch, exactly as crates/test-support's `McpClient::modern`
//   builds them (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, `params._meta` with the
//   protocol version, client capabilities and client info). The OAuth part is still the
//   SDK's: its exported `extractWWWAuthenticateParams` reads the hand-built request's 401,
//   and its `auth()` with the same OAuthClientProvider does discovery, registration,
//   authorization (our browser again) and the token request.
// dpop: the SDK 1.32 has no DPoP support (it only knows the metadata field names; its
//   transport always sends `Authorization: Bearer`), so the proofs are ours (jose, ES256,
//   RFC 9449). The token is still obtained by the SDK's `auth()`: the provider's
//   `addClientAuthentication` hook (an SDK extension point that receives the token
//   request's headers) adds a `DPoP` proof, so the provider binds the token to our key
//   (`cnf.jkt`). The modern MCP requests are then hand-built with `Authorization: DPoP …`
//   and a fresh proof (`htm`, `htu`, `iat`, `jti`, `ath`) each; and the checks that Warden
//   refuses the same token as `Bearer`, a replayed proof, a proof without or with a wrong
//   `ath`, for another URL, or signed by another key.
//
// Prints one TAP-like line per check (`ok - oauth-ts(legacy): …`); exits 1 if any failed.
import { createRequire } from "node:module";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { MemoryOAuthStore, browse as browseAs } from "./browser.mjs";

const url = process.argv[2];
if (!url) {
  console.error("usage: ts_oauth_client.mjs MCP_URL   (env: PEERS_DIR, OAUTH_USER, OAUTH_PASSWORD)");
  process.exit(2);
}
const peers = process.env.PEERS_DIR;
if (!peers) {
  console.error("PEERS_DIR is not set (source .peers/env.sh)");
  process.exit(2);
}
const USER = process.env.OAUTH_USER || "alice";
const PASSWORD = process.env.OAUTH_PASSWORD || "test";
const SCOPE = "mcp:tools";
const MODERN = "2026-07-28";

// The SDK lives in the peers tree (mcp-node), jose next to oidc-provider (oidc).
const sdkRequire = createRequire(path.join(path.resolve(peers), "mcp-node", "package.json"));
const { Client } = sdkRequire("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = sdkRequire("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { auth, extractWWWAuthenticateParams, UnauthorizedError } = sdkRequire("@modelcontextprotocol/sdk/client/auth.js");
const oidcRequire = createRequire(path.join(path.resolve(peers), "oidc", "package.json"));
const { generateKeyPair, exportJWK, calculateJwkThumbprint, SignJWT, decodeJwt, decodeProtectedHeader, base64url } =
  await import(oidcRequire.resolve("jose"));

// --- reporting --------------------------------------------------------------------------
let failed = 0;
let label = "oauth-ts";
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
async function attempt(description, body) {
  try {
    const [ok, detail] = await body();
    return check(description, ok, detail);
  } catch (e) {
    return check(description, false, `threw: ${e?.stack ?? e}`);
  }
}

// --- HTTP helpers -------------------------------------------------------------------------
// A fetch that records every request the SDK makes (the SDK takes it as `fetch`/`fetchFn`),
// so the checks can see the discovery order and the exact token request.
function recordingFetch(trace) {
  return async (input, init = {}) => {
    const target = String(input instanceof Request ? input.url : input);
    const method = (init.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    let form;
    if (init.body instanceof URLSearchParams) form = Object.fromEntries(init.body);
    else if (typeof init.body === "string" && headers.get("content-type")?.includes("x-www-form-urlencoded")) {
      form = Object.fromEntries(new URLSearchParams(init.body));
    }
    const json = typeof init.body === "string" && headers.get("content-type")?.includes("json") ? safeJson(init.body) : undefined;
    const entry = { method, url: target, form, json, headers: Object.fromEntries(headers) };
    trace.push(entry);
    const res = await fetch(input, init);
    entry.status = res.status;
    entry.wwwAuthenticate = res.headers.get("www-authenticate");
    return res;
  };
}
function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
const pathOf = (u) => new URL(u).pathname;
const short = (t) => t.map((e) => `${e.method} ${e.url} -> ${e.status}`);

// The user's browser: follows redirects, keeps cookies, submits the provider's forms (login
// with OAUTH_USER/OAUTH_PASSWORD, then consent), and stops at the redirect to the client's
// redirect URI, which it does not fetch (nothing listens there). Returns that URL and the
// pages it went through.
const browse = (start, redirectUri) => browseAs(start, redirectUri, USER, PASSWORD);

// An OAuthClientProvider (the SDK's interface) that keeps everything in memory and plays
// the user when the SDK asks to redirect to the authorization server.
class AutomatedProvider extends MemoryOAuthStore {
  constructor(name, { dpop } = {}) {
    super();
    this.name = name;
    this.dpop = dpop; // { proof(htm, htu) } to bind the token to a key, or undefined
    this.redirectUrl = "http://127.0.0.1:9/oauth/callback"; // never fetched: browse() stops there
    this._state = randomUUID();
    this.callback = undefined;
    this.pages = [];
    this.authorizationUrl = undefined;
    if (dpop) {
      // SDK hook: called with the token request's headers and form (replaces the default
      // client authentication, which for a public client is just `client_id`).
      this.addClientAuthentication = async (headers, params, tokenUrl) => {
        params.set("client_id", this._client.client_id);
        headers.set("DPoP", await this.dpop.proof("POST", String(tokenUrl)));
      };
    }
  }
  get clientMetadata() {
    return {
      client_name: `warden-e2e-${this.name}`,
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
    const { callback, pages } = await browse(authorizationUrl, this.redirectUrl);
    this.callback = callback;
    this.pages = pages;
  }
}

// Checks on the authorization request the SDK built and the response our browser caught.
function checkAuthorizationLeg(p, { issuer, resource }) {
  const a = p.authorizationUrl?.searchParams;
  check("authorization request: response_type=code, PKCE S256, scope, state and resource from PRM",
    a && a.get("response_type") === "code" && a.get("code_challenge_method") === "S256" &&
      /^[A-Za-z0-9_-]{43}$/.test(a.get("code_challenge") ?? "") && a.get("scope") === SCOPE &&
      a.get("resource") === resource && a.get("state") === p._state && a.get("client_id") === p._client?.client_id,
    p.authorizationUrl?.href);
  check("the provider's login and consent pages were completed by the script", p.pages.join(",") === "Sign in,Authorize", p.pages);
  const c = p.callback?.searchParams;
  check("authorization response carries code, the same state, and iss = the issuer (RFC 9207)",
    c && c.get("code") && c.get("state") === p._state && c.get("iss") === issuer, p.callback?.href);
}

// Checks on what the SDK sent to get there: discovery from the challenge, DCR, token request.
function checkOAuthTrace(trace, p, { prmUrl, issuer, resource, dpop }) {
  const i = trace.findIndex((e) => e.url === prmUrl && e.method === "GET");
  check("SDK fetched the Protected Resource Metadata at the URL from the 401's resource_metadata",
    i >= 0 && trace[i].status === 200, short(trace));
  const asMeta = trace.filter((e) => e.method === "GET" && e.url.startsWith(issuer) && pathOf(e.url).startsWith("/.well-known/"));
  const found = asMeta.find((e) => e.status === 200);
  check("SDK then fetched the metadata of the authorization server named in PRM (RFC 8414 at the issuer first)",
    found && pathOf(asMeta[0].url) === "/.well-known/oauth-authorization-server" && i >= 0 && trace.indexOf(asMeta[0]) > i,
    short(trace));
  const reg = trace.find((e) => e.method === "POST" && e.url === `${issuer}/reg`);
  check("SDK registered a public client dynamically (RFC 7591, token_endpoint_auth_method none)",
    reg?.status === 201 && reg.json?.token_endpoint_auth_method === "none" && reg.json?.redirect_uris?.[0] === p.redirectUrl && p._client?.client_id,
    reg ?? short(trace));
  const tok = trace.find((e) => e.method === "POST" && e.url === `${issuer}/token`);
  check(`SDK token request: authorization_code with code_verifier and resource = ${resource}${dpop ? ", DPoP proof attached" : ""}`,
    tok?.status === 200 && tok.form?.grant_type === "authorization_code" && tok.form?.code === p.callback?.searchParams.get("code") &&
      /^[A-Za-z0-9._~-]{43,128}$/.test(tok.form?.code_verifier ?? "") && tok.form?.resource === resource &&
      tok.form?.redirect_uri === p.redirectUrl && (dpop ? !!tok.headers.dpop : !tok.headers.dpop),
    tok ?? short(trace));
}

// Checks on the access token itself (decoded, not verified: Warden verifies).
function checkAccessToken(tokens, { issuer, resource, jkt }) {
  let header, claims;
  try {
    header = decodeProtectedHeader(tokens.access_token);
    claims = decodeJwt(tokens.access_token);
  } catch (e) {
    return check("access token is a JWT", false, String(e));
  }
  check(`access token: ES256 at+jwt from the issuer, aud = ${resource}, scope ${SCOPE}, sub ${USER}`,
    header.alg === "ES256" && header.typ === "at+jwt" && claims.iss === issuer && claims.aud === resource &&
      String(claims.scope).split(" ").includes(SCOPE) && claims.sub === USER && claims.exp > Date.now() / 1000,
    { header, claims });
  if (jkt) {
    check("access token is DPoP-bound: token_type DPoP, cnf.jkt = thumbprint of our key",
      tokens.token_type === "DPoP" && claims.cnf?.jkt === jkt, { token_type: tokens.token_type, cnf: claims.cnf, jkt });
  } else {
    check("access token is a plain bearer token (token_type Bearer, no cnf)",
      /^bearer$/i.test(tokens.token_type) && claims.cnf === undefined, { token_type: tokens.token_type, cnf: claims.cnf });
  }
  return claims;
}

// The 401 challenge Warden must send (MCP authorization, RFC 9728 §5.1, RFC 9449 §7.1).
function checkChallenge(res, what) {
  const www = res.headers.get("www-authenticate") ?? "";
  const { resourceMetadataUrl, scope } = extractWWWAuthenticateParams(res); // SDK's parser
  const expected = new URL(url);
  const prm = `${expected.origin}/.well-known/oauth-protected-resource${expected.pathname}`;
  check(`${what}: 401 with WWW-Authenticate Bearer resource_metadata="${prm}", scope="${SCOPE}", and a DPoP challenge`,
    res.status === 401 && /^\s*Bearer\s/i.test(www) && resourceMetadataUrl?.href === prm && scope === SCOPE &&
      /(^|,\s*|\s)DPoP\s+algs="[^"]*ES256/.test(www),
    { status: res.status, "www-authenticate": www });
  return { prmUrl: resourceMetadataUrl?.href ?? prm, scope };
}

// Hand-built modern (2026-07-28) request, as crates/test-support McpClient::modern builds it.
let nextId = 1;
function modernRequest(method, params = {}) {
  const body = {
    jsonrpc: "2.0",
    id: nextId++,
    method,
    params: {
      ...params,
      _meta: {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { name: "warden-e2e-ts-oauth", version: "1.0.0" },
      },
    },
  };
  const headers = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": MODERN,
    "mcp-method": method,
  };
  const name = params.name ?? params.uri;
  if (name !== undefined && ["tools/call", "prompts/get", "resources/read"].includes(method)) headers["mcp-name"] = name;
  return { body, headers };
}
async function postModern(method, params, authHeaders = {}) {
  const { body, headers } = modernRequest(method, params);
  const res = await fetch(url, { method: "POST", headers: { ...headers, ...authHeaders }, body: JSON.stringify(body) });
  return { res, message: await readResponse(res, body.id) };
}
// The JSON-RPC response to `id`, from an application/json or text/event-stream body.
async function readResponse(res, id) {
  const text = await res.text();
  const type = res.headers.get("content-type") ?? "";
  if (type.includes("text/event-stream")) {
    for (const event of text.split(/\r?\n\r?\n/)) {
      const data = event.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      const msg = data && safeJson(data);
      if (msg && msg.id === id) return msg;
    }
    return { raw: text };
  }
  return safeJson(text) ?? { raw: text };
}
const textOf = (result) => (result?.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
// The backend's tool named `base`, as Warden shows it (bare, or with a backend prefix).
const findTool = (names, base) => names.find((n) => n === base) ?? names.find((n) => n.endsWith(`__${base}`));

// ======================================================================================
// legacy era: the SDK end to end
// ======================================================================================
label = "oauth-ts(legacy)";
let issuer, resource;
{
  // A raw look at the challenge first (fetch, not the SDK), so a wrong header is reported as such.
  const probe = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: {
      protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "probe", version: "1" } } }),
  });
  await probe.text();
  const { prmUrl } = checkChallenge(probe, "initialize without a token");
  const prmRes = await fetch(prmUrl);
  const prm = safeJson(await prmRes.text());
  resource = prm?.resource;
  issuer = prm?.authorization_servers?.[0];
  check("PRM (RFC 9728): resource is the MCP URL, one authorization server, scopes_supported has mcp:tools, header bearer method, DPoP algs",
    prmRes.status === 200 && resource === url && typeof issuer === "string" && prm.scopes_supported?.includes(SCOPE) &&
      prm.bearer_methods_supported?.includes("header") && prm.dpop_signing_alg_values_supported?.includes("ES256"),
    { status: prmRes.status, prm });
}
if (!issuer) {
  console.log("# no authorization server from PRM; nothing more to try");
  process.exit(1);
}
await attempt("the authorization server's RFC 8414 metadata: same issuer, S256, registration, iss responses, DPoP", async () => {
  const res = await fetch(`${issuer}/.well-known/oauth-authorization-server`);
  const m = safeJson(await res.text());
  return [res.status === 200 && m?.issuer === issuer && m.code_challenge_methods_supported?.includes("S256") &&
    m.registration_endpoint && m.authorization_response_iss_parameter_supported === true &&
    m.dpop_signing_alg_values_supported?.includes("ES256"), m];
});

{
  const trace = [];
  const provider = new AutomatedProvider("legacy");
  const sdkFetch = recordingFetch(trace);
  let transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: sdkFetch });
  let client = new Client({ name: "warden-e2e-ts-oauth", version: "1.0.0" }, { capabilities: {} });
  // 1. connect: 401 → SDK discovery + DCR + authorization URL → our browser → REDIRECT.
  let firstError;
  try {
    await client.connect(transport);
  } catch (e) {
    firstError = e;
  }
  check("SDK connect without a token stops for user authorization (UnauthorizedError after the redirect)",
    firstError instanceof UnauthorizedError && provider.callback !== undefined, String(firstError?.stack ?? firstError ?? "connected without a token"));
  const prmUrl = trace.find((e) => e.status === 401)?.wwwAuthenticate?.match(/resource_metadata="([^"]+)"/)?.[1];
  checkAuthorizationLeg(provider, { issuer, resource });
  // 2. the redirect came back: the SDK exchanges the code.
  await attempt("SDK finishAuth exchanges the code for tokens", async () => {
    await transport.finishAuth(provider.callback.searchParams.get("code"));
    return [provider.tokens()?.access_token !== undefined, provider.tokens()];
  });
  checkOAuthTrace(trace, provider, { prmUrl, issuer, resource });
  if (provider.tokens()) checkAccessToken(provider.tokens(), { issuer, resource });

  // 3. connect again with the token; MCP over the SDK.
  transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: sdkFetch });
  client = new Client({ name: "warden-e2e-ts-oauth", version: "1.0.0" }, { capabilities: {} });
  const connected = await attempt("SDK initialize with the access token (Authorization: Bearer)", async () => {
    await client.connect(transport);
    return [true];
  });
  if (connected) {
    let names = [];
    await attempt("tools/list through Warden lists the backend's echo, add and debug_request_headers", async () => {
      names = (await client.listTools()).tools.map((t) => t.name);
      return [findTool(names, "echo") && findTool(names, "add") && findTool(names, "debug_request_headers"), names];
    });
    await attempt("tools/call echo is answered by the backend", async () => {
      const r = await client.callTool({ name: findTool(names, "echo") ?? "echo", arguments: { message: "hello-legacy-oauth" } });
      return [!r.isError && textOf(r) === "hello-legacy-oauth", r];
    });
    await attempt("tools/call add is answered by the backend", async () => {
      const r = await client.callTool({ name: findTool(names, "add") ?? "add", arguments: { a: 2, b: 40 } });
      return [!r.isError && textOf(r) === "42", r];
    });
    await attempt("the backend saw no Authorization (nor DPoP) header: no token passthrough", async () => {
      const r = await client.callTool({ name: findTool(names, "debug_request_headers") ?? "debug_request_headers", arguments: {} });
      const t = textOf(r);
      return [!r.isError && t.length > 0 && !/^(authorization|dpop):/im.test(t) && !t.includes(provider.tokens().access_token.slice(-20)), t];
    });
    await client.close();
  }
}

// ======================================================================================
// modern era: SDK auth(), hand-built 2026-07-28 requests
// ======================================================================================
label = "oauth-ts(modern)";
async function sdkAuthorize(provider, trace, { dpop } = {}) {
  // Hand-built modern request without a token → 401.
  const { res } = await postModern("tools/list", {});
  const { prmUrl, scope } = checkChallenge(res, "modern tools/list without a token");
  const fetchFn = recordingFetch(trace);
  // SDK: discovery from resource_metadata, DCR, authorization URL → our browser.
  const first = await auth(provider, { serverUrl: url, resourceMetadataUrl: new URL(prmUrl), scope, fetchFn });
  check("SDK auth() starting from the modern 401 redirects the user (REDIRECT)", first === "REDIRECT" && provider.callback, first);
  checkAuthorizationLeg(provider, { issuer, resource });
  // SDK: the code comes back → token request.
  const second = await auth(provider, {
    serverUrl: url, resourceMetadataUrl: new URL(prmUrl), scope, fetchFn,
    authorizationCode: provider.callback?.searchParams.get("code"),
  });
  check("SDK auth() with the code gets tokens (AUTHORIZED)", second === "AUTHORIZED" && provider.tokens()?.access_token, second);
  checkOAuthTrace(trace, provider, { prmUrl, issuer, resource, dpop });
  return provider.tokens();
}
{
  const provider = new AutomatedProvider("modern");
  let tokens;
  try {
    tokens = await sdkAuthorize(provider, []);
  } catch (e) {
    check("SDK auth() for the modern era", false, String(e?.stack ?? e));
  }
  if (tokens) {
    checkAccessToken(tokens, { issuer, resource });
    const bearer = { authorization: `Bearer ${tokens.access_token}` };
    let names = [];
    await attempt("server/discover with the token answers (2026-07-28 in supportedVersions)", async () => {
      const { res, message } = await postModern("server/discover", {}, bearer);
      return [res.status === 200 && JSON.stringify(message.result ?? {}).includes(MODERN), { status: res.status, message }];
    });
    const accepted = await attempt("tools/list with the token (MCP-Protocol-Version, Mcp-Method, _meta) lists echo", async () => {
      const { res, message } = await postModern("tools/list", {}, bearer);
      names = (message.result?.tools ?? []).map((t) => t.name);
      return [res.status === 200 && findTool(names, "echo") !== undefined, { status: res.status, message }];
    });
    await attempt("tools/call echo (Mcp-Name) with the token is answered by the backend", async () => {
      const name = findTool(names, "echo") ?? "echo";
      const { res, message } = await postModern("tools/call", { name, arguments: { message: "hello-modern-oauth" } }, bearer);
      return [res.status === 200 && !message.result?.isError && textOf(message.result) === "hello-modern-oauth", { status: res.status, message }];
    });
    // Refusals prove something only if the same token is accepted when sent properly.
    if (!accepted) {
      check("refusal checks (query string, tampered token) skipped: the valid token was not accepted", false);
    } else {
      await attempt("the same request with the token in the query string (?access_token=) is refused (400 or 401)", async () => {
        const { body, headers } = modernRequest("tools/list", {});
        const res = await fetch(`${url}?access_token=${encodeURIComponent(tokens.access_token)}`, { method: "POST", headers, body: JSON.stringify(body) });
        await res.text();
        return [res.status === 401 || res.status === 400, { status: res.status, www: res.headers.get("www-authenticate") }];
      });
      await attempt("a tampered token (signature broken) gets 401 error=\"invalid_token\"", async () => {
        const [h, p, s] = tokens.access_token.split(".");
        const bad = `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === "AAAA" ? "BBBB" : "AAAA"}`;
        const { res } = await postModern("tools/list", {}, { authorization: `Bearer ${bad}` });
        const www = res.headers.get("www-authenticate") ?? "";
        return [res.status === 401 && /error="invalid_token"/.test(www) && /resource_metadata=/.test(www), { status: res.status, www }];
      });
    }
  }
}

// ======================================================================================
// dpop: SDK auth() + our DPoP proofs, hand-built modern requests
// ======================================================================================
label = "oauth-ts(dpop)";
{
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = await exportJWK(publicKey);
  const jkt = await calculateJwkThumbprint(jwk);
  const other = await generateKeyPair("ES256", { extractable: true });
  const otherJwk = await exportJWK(other.publicKey);
  const ath = async (token) => base64url.encode(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token))));
  // RFC 9449 §4.2 proof; `claims` overrides or adds claims, `key` picks another signer.
  async function proof(htm, htu, { token, claims = {}, key = privateKey, pub = jwk } = {}) {
    const payload = { htm, htu, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ...claims };
    if (token !== undefined && !("ath" in claims)) payload.ath = await ath(token);
    for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
    return new SignJWT(payload).setProtectedHeader({ typ: "dpop+jwt", alg: "ES256", jwk: pub }).sign(key);
  }
  const provider = new AutomatedProvider("dpop", { dpop: { proof: (htm, htu) => proof(htm, htu) } });
  let tokens;
  try {
    tokens = await sdkAuthorize(provider, [], { dpop: true });
  } catch (e) {
    check("SDK auth() with DPoP proofs on the token request", false, String(e?.stack ?? e));
  }
  if (tokens) {
    checkAccessToken(tokens, { issuer, resource, jkt });
    const at = tokens.access_token;
    const dpopAuth = async (opts = {}) => ({ authorization: `DPoP ${at}`, dpop: await proof("POST", opts.htu ?? url, { token: at, ...opts }) });
    let names = [];
    const accepted = await attempt("tools/list with Authorization: DPoP and a proof (htm, htu, iat, jti, ath) is accepted", async () => {
      const { res, message } = await postModern("tools/list", {}, await dpopAuth());
      names = (message.result?.tools ?? []).map((t) => t.name);
      return [res.status === 200 && findTool(names, "echo") !== undefined, { status: res.status, www: res.headers.get("www-authenticate"), message }];
    });
    await attempt("tools/call echo with the DPoP-bound token is answered by the backend", async () => {
      const name = findTool(names, "echo") ?? "echo";
      const { res, message } = await postModern("tools/call", { name, arguments: { message: "hello-dpop" } }, await dpopAuth());
      return [res.status === 200 && textOf(message.result) === "hello-dpop", { status: res.status, www: res.headers.get("www-authenticate"), message }];
    });
    await attempt("the backend saw neither Authorization nor DPoP", async () => {
      const name = findTool(names, "debug_request_headers") ?? "debug_request_headers";
      const { res, message } = await postModern("tools/call", { name, arguments: {} }, await dpopAuth());
      const t = textOf(message.result);
      return [res.status === 200 && t.length > 0 && !/^(authorization|dpop):/im.test(t), { status: res.status, text: t, message }];
    });
    // Refusals: each must be 401 with a challenge. They prove something only if the same
    // token with a correct proof is accepted.
    const refusals = !accepted ? [] : [
      ["the DPoP-bound token sent as Bearer (no proof)", async () => ({ authorization: `Bearer ${at}` })],
      ["the DPoP-bound token sent as Bearer with a valid proof", async () => ({ authorization: `Bearer ${at}`, dpop: await proof("POST", url, { token: at }) })],
      ["Authorization: DPoP without a DPoP proof header", async () => ({ authorization: `DPoP ${at}` })],
      ["a proof without ath", async () => dpopAuth({ claims: { ath: undefined } })],
      ["a proof whose ath is the hash of another token", async () => dpopAuth({ claims: { ath: await ath(`${at}x`) } })],
      ["a proof for another htu", async () => dpopAuth({ htu: `${new URL(url).origin}/other` })],
      ["a proof for another htm (GET)", async () => ({ authorization: `DPoP ${at}`, dpop: await proof("GET", url, { token: at }) })],
      ["a proof signed by another key (cnf.jkt mismatch)", async () => dpopAuth({ key: other.privateKey, pub: otherJwk })],
      ["a proof with iat 10 minutes old", async () => dpopAuth({ claims: { iat: Math.floor(Date.now() / 1000) - 600 } })],
      ["a proof with typ jwt instead of dpop+jwt", async () => {
        const payload = { htm: "POST", htu: url, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ath: await ath(at) };
        return { authorization: `DPoP ${at}`, dpop: await new SignJWT(payload).setProtectedHeader({ typ: "jwt", alg: "ES256", jwk }).sign(privateKey) };
      }],
    ];
    for (const [what, headers] of refusals) {
      await attempt(`refused with 401: ${what}`, async () => {
        const { res, message } = await postModern("tools/list", {}, await headers());
        const www = res.headers.get("www-authenticate") ?? "";
        return [res.status === 401 && www.length > 0, { status: res.status, www, message }];
      });
    }
    if (!accepted) check("DPoP refusal checks skipped: the token with a correct proof was not accepted", false);
    else await attempt("refused with 401: a replayed proof (same jti) is refused the second time", async () => {
      const headers = await dpopAuth();
      const first = await postModern("tools/list", {}, headers);
      const second = await postModern("tools/list", {}, headers);
      return [first.res.status === 200 && second.res.status === 401,
        { first: first.res.status, second: second.res.status, www: second.res.headers.get("www-authenticate") }];
    });
  }
}

console.log(`# ts oauth client: ${failed} failed`);
process.exit(failed ? 1 : 0);
