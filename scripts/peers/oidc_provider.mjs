// A real OpenID provider for Warden's OAuth end-to-end test: npm `oidc-provider` 9.13
// (run it with Node 22), configured as an MCP authorization server. Part of
// scripts/e2e-oauth.sh; see docs/e2e-oauth.md.
//
//   PEERS_DIR=.peers $PEERS_NODE22 scripts/peers/oidc_provider.mjs [--port N] [--client ID:SECRET]...
//     [--public-client ID=REDIRECT_URI]... [--access-ttl SECONDS] [--refresh-tokens]
//
// Listens on 127.0.0.1:N (default 0 = any free port) and prints
// `listening on http://127.0.0.1:PORT` once it answers; the issuer is exactly that URL.
//
// What it offers:
// - Metadata at /.well-known/oauth-authorization-server (RFC 8414) and
//   /.well-known/openid-configuration (the same document), JWKS at /jwks. The signing key is
//   an ES256 key generated at startup: nothing is stored on disk.
// - Resource indicators (RFC 8707): any `http://127.0.0.1:PORT/…` or `http://localhost:PORT/…`
//   resource (no query, no fragment) is a resource server whose access tokens are ES256 JWTs
//   (`typ: at+jwt`, RFC 9068) with `aud` = the resource and the granted subset of the scopes
//   `mcp:tools mcp:admin mcp:read`. No default resource: a token request without `resource`
//   gets an opaque token for /me only. Anything else is `invalid_target`.
// - Open dynamic client registration (RFC 7591) at /reg, public clients
//   (`token_endpoint_auth_method: none`) allowed.
// - Authorization code flow with PKCE S256 required for every client; `iss` in every
//   authorization response (RFC 9207).
// - DPoP (RFC 9449): a token request carrying a `DPoP` proof gets a token bound with
//   `cnf.jkt` (`token_type: DPoP`). No server nonce is required.
// - client_credentials for pre-registered confidential clients, given as `--client ID:SECRET`
//   (repeatable) or OIDC_CLIENTS="ID:SECRET,ID2:SECRET2"; default `agent-1:agent-1-secret`.
//   They authenticate with client_secret_basic and may ask for any resource above.
// - Pre-registered public clients for the authorization code flow (PKCE, no secret), given
//   as `--public-client ID=REDIRECT_URI` (repeatable), e.g. the `hr-assistant` agent of
//   scripts/e2e-policy.sh. Dynamic registration works as well.
// - Test users (password `test`, or OIDC_PASSWORD) with `groups`, `email` and `name` claims;
//   their access tokens also carry `groups`, `roles`, `employee_id` and `department`
//   (the HR example, examples/policy-hr):
//     alice  e-100 engineering  groups [staff, hr]         roles [employee]
//     bob    e-200 engineering  groups [staff, hr]         roles [manager]
//     carol  e-300 engineering  groups [contractors, hr]   roles [contractor]
//     dave   e-400 sales        groups [staff]             roles [manager]
// - `--access-ttl SECONDS`: lifetime of resource access tokens (default 600).
// - `--refresh-tokens`: issue a refresh token with every authorization code redeemed by a client
//   allowed the refresh_token grant (without `offline_access`), rotated at each use; for
//   Warden's upstream OAuth client test (scripts/e2e-upstream-oauth.sh).
// - With `--token-exchange SUBJECT_JWKS_URL`: the RFC 8693 token-exchange grant
//   (`provider.registerGrantType`), for Warden's `externalExchange` (scripts/e2e-delegation.sh).
//   The subject token must verify with the keys at SUBJECT_JWKS_URL and have `aud` = this
//   issuer; the answer is an ES256 `at+jwt` signed with this provider's key, `sub` = the
//   subject's, `aud` = the `resource` (or `audience`) asked for, `act` = the client. Clients
//   for it are given as `--pkjwt-client ID=JWKS_FILE` (private_key_jwt, checked by oidc-provider).
//   The same flag also registers the JWT-bearer grant for ID-JAGs (Warden's `idJag`): the
//   `assertion` must be a `typ: oauth-id-jag+jwt` from those keys with `aud` = this issuer
//   and `client_id` = the authenticated client; the answer is a token like the above.
// - Login and consent pages of its own at /interaction/:uid: plain HTML forms (login: fields
//   `login` and `password`; consent: one button) that a script completes with form POSTs.
import { createRequire } from "node:module";
import http from "node:http";
import path from "node:path";
import { randomBytes } from "node:crypto";

const args = process.argv.slice(2);
let port = 0;
const clientSpecs = [];
const publicClientSpecs = [];
let accessTtl = 600;
let refreshTokens = false;
const pkjwtClientSpecs = [];
let tokenExchangeJwks = null;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--port") port = Number(args[++i]);
  else if (args[i] === "--client") clientSpecs.push(args[++i]);
  else if (args[i] === "--public-client") publicClientSpecs.push(args[++i]);
  else if (args[i] === "--access-ttl") accessTtl = Number(args[++i]);
  else if (args[i] === "--refresh-tokens") refreshTokens = true;
  else if (args[i] === "--pkjwt-client") pkjwtClientSpecs.push(args[++i]);
  else if (args[i] === "--token-exchange") tokenExchangeJwks = args[++i];
  else {
    console.error(`unknown argument ${args[i]}\nusage: oidc_provider.mjs [--port N] [--client ID:SECRET]... [--public-client ID=REDIRECT_URI]...`);
    process.exit(2);
  }
}
if (clientSpecs.length === 0) {
  clientSpecs.push(...(process.env.OIDC_CLIENTS || "agent-1:agent-1-secret").split(",").filter(Boolean));
}
const peers = process.env.PEERS_DIR;
if (!peers) {
  console.error("PEERS_DIR is not set (source .peers/env.sh)");
  process.exit(2);
}
// oidc-provider and jose live in the peers tree (scripts/install-peers.sh), not next to this
// script. Both are ESM-only, so resolve their paths and import() them.
const require = createRequire(path.join(path.resolve(peers), "oidc", "package.json"));
const { default: Provider, errors } = await import(require.resolve("oidc-provider"));
const { generateKeyPair, exportJWK, calculateJwkThumbprint, createRemoteJWKSet, jwtVerify, SignJWT } = await import(
  require.resolve("jose")
);
const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";

const PASSWORD = process.env.OIDC_PASSWORD || "test";
const USERS = {
  alice: { name: "Alice Example", email: "alice@example.test", groups: ["staff", "hr"], roles: ["employee"],
    employee_id: "e-100", department: "engineering" },
  bob: { name: "Bob Example", email: "bob@example.test", groups: ["staff", "hr"], roles: ["manager"],
    employee_id: "e-200", department: "engineering" },
  carol: { name: "Carol Example", email: "carol@example.test", groups: ["contractors", "hr"], roles: ["contractor"],
    employee_id: "e-300", department: "engineering" },
  dave: { name: "Dave Example", email: "dave@example.test", groups: ["staff"], roles: ["manager"],
    employee_id: "e-400", department: "sales" },
};
// Claims of a user that go into their access tokens (besides sub, scope, client_id, …).
const ACCESS_TOKEN_CLAIMS = ["groups", "roles", "employee_id", "department"];
const RESOURCE_SCOPES = "mcp:tools mcp:admin mcp:read";

// Resource indicators we issue tokens for: loopback http URLs with an explicit port.
function isTestResource(indicator) {
  const u = URL.parse(indicator);
  return (
    u !== null &&
    u.protocol === "http:" &&
    (u.hostname === "127.0.0.1" || u.hostname === "localhost") &&
    u.port !== "" &&
    u.search === "" &&
    u.hash === "" &&
    !indicator.includes("#")
  );
}

// ES256 signing key, made now.
const { privateKey } = await generateKeyPair("ES256", { extractable: true });
const signingJwk = { ...(await exportJWK(privateKey)), alg: "ES256", use: "sig" };
signingJwk.kid = await calculateJwkThumbprint(signingJwk);

// Bind first: the issuer must name the real port.
let provider;
const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    console.error(`error handling ${req.method} ${req.url}: ${e?.stack ?? e}`);
    if (!res.headersSent) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end("internal error");
    }
  });
});
server.on("connection", (s) => s.setNoDelay(true));
await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const clients = clientSpecs.map((spec) => {
  const at = spec.indexOf(":");
  if (at <= 0) throw new Error(`--client wants ID:SECRET, got ${spec}`);
  return {
    client_id: spec.slice(0, at),
    client_secret: spec.slice(at + 1),
    grant_types: ["client_credentials"],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: "client_secret_basic",
    scope: RESOURCE_SCOPES,
  };
});
for (const spec of publicClientSpecs) {
  const eq = spec.indexOf("=");
  if (eq <= 0) throw new Error(`--public-client wants ID=REDIRECT_URI, got ${spec}`);
  clients.push({
    client_id: spec.slice(0, eq),
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    redirect_uris: [spec.slice(eq + 1)],
    token_endpoint_auth_method: "none",
    scope: `openid ${RESOURCE_SCOPES}`,
  });
}

for (const spec of pkjwtClientSpecs) {
  const eq = spec.indexOf("=");
  if (eq <= 0) throw new Error(`--pkjwt-client wants ID=JWKS_FILE, got ${spec}`);
  const fs = await import("node:fs");
  clients.push({
    client_id: spec.slice(0, eq),
    grant_types: [TOKEN_EXCHANGE, JWT_BEARER],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: "private_key_jwt",
    token_endpoint_auth_signing_alg: "ES256",
    jwks: JSON.parse(fs.readFileSync(spec.slice(eq + 1), "utf8")),
    scope: RESOURCE_SCOPES,
  });
}

provider = new Provider(issuer, {
  jwks: { keys: [signingJwk] },
  clients,
  clientDefaults: {
    grant_types: ["authorization_code"],
    id_token_signed_response_alg: "ES256",
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  },
  cookies: { keys: [randomBytes(32).toString("base64url")] },
  // The resource scopes are listed here too: oidc-provider checks a client's registered
  // `scope` (the MCP SDK's dynamic registration always sends one) against this list only,
  // and would answer `invalid_client_metadata` for `mcp:tools` otherwise.
  scopes: ["openid", "offline_access", "profile", "email", "groups", ...RESOURCE_SCOPES.split(" ")],
  claims: { openid: ["sub"], profile: ["name"], email: ["email"], groups: ["groups"] },
  async findAccount(_ctx, sub) {
    const user = USERS[sub];
    if (!user) return undefined;
    return { accountId: sub, async claims() { return { sub, name: user.name, email: user.email, groups: user.groups }; } };
  },
  // Access tokens of a user also say which groups the user is in, their roles and HR attributes.
  async extraTokenClaims(_ctx, token) {
    const user = token.accountId && USERS[token.accountId];
    return user ? Object.fromEntries(ACCESS_TOKEN_CLAIMS.map((c) => [c, user[c]])) : undefined;
  },
  pkce: { required: () => true },
  ...(refreshTokens
    ? {
        issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
        rotateRefreshToken: () => true,
      }
    : {}),
  responseTypes: ["code"],
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
    clientCredentials: { enabled: true },
    dPoP: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No default resource: the client must name one (the MCP client takes it from PRM).
      async defaultResource(_ctx, _client, oneOf) {
        return oneOf ?? undefined;
      },
      // Code and refresh grants use the resource granted at /auth when /token names none.
      async useGrantedResource() {
        return true;
      },
      async getResourceServerInfo(_ctx, indicator) {
        if (!isTestResource(indicator)) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
        return {
          scope: RESOURCE_SCOPES,
          audience: indicator,
          accessTokenTTL: accessTtl,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: "ES256" } },
        };
      },
    },
  },
  ttl: { AccessToken: 600, ClientCredentials: 600, AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600 },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async renderError(ctx, out) {
    ctx.type = "html";
    ctx.body = `<!doctype html><title>error</title><pre id="error">${esc(JSON.stringify(out))}</pre>`;
  },
});
if (tokenExchangeJwks) {
  const subjectKeys = createRemoteJWKSet(new URL(tokenExchangeJwks));
  const params = ["subject_token", "subject_token_type", "requested_token_type", "audience", "resource", "scope",
    "actor_token", "actor_token_type"];
  provider.registerGrantType(TOKEN_EXCHANGE, async (ctx) => {
    const p = ctx.oidc.params;
    if (p.subject_token_type !== "urn:ietf:params:oauth:token-type:access_token") {
      throw new errors.InvalidRequest("unsupported subject_token_type");
    }
    let subject;
    try {
      ({ payload: subject } = await jwtVerify(p.subject_token, subjectKeys, { audience: issuer }));
    } catch (e) {
      throw new errors.InvalidGrant(`subject_token: ${e.message}`);
    }
    const aud = p.resource || p.audience;
    if (!aud) throw new errors.InvalidTarget("resource or audience required");
    console.log(`token-exchange: ${ctx.oidc.client.clientId} for ${subject.sub} -> ${aud}`);
    ctx.body = await issue(ctx, subject.sub, aud, p.scope);
  }, params);
  provider.registerGrantType(JWT_BEARER, async (ctx) => {
    let jag;
    try {
      ({ payload: jag } = await jwtVerify(ctx.oidc.params.assertion, subjectKeys, { audience: issuer,
        typ: "oauth-id-jag+jwt", requiredClaims: ["sub", "jti", "exp", "iat", "client_id"] }));
    } catch (e) {
      throw new errors.InvalidGrant(`assertion: ${e.message}`);
    }
    if (jag.client_id !== ctx.oidc.client.clientId) throw new errors.InvalidGrant("client_id mismatch");
    if (!jag.resource) throw new errors.InvalidTarget("the ID-JAG names no resource");
    console.log(`id-jag: ${ctx.oidc.client.clientId} for ${jag.sub} -> ${jag.resource}`);
    ctx.body = await issue(ctx, jag.sub, jag.resource, jag.scope);
  }, ["assertion", "scope"]);
}
async function issue(ctx, sub, aud, scope) {
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({
    sub, scope: scope || "", client_id: ctx.oidc.client.clientId,
    act: { sub: ctx.oidc.client.clientId }, jti: randomBytes(12).toString("base64url"),
  })
    .setProtectedHeader({ alg: "ES256", kid: signingJwk.kid, typ: "at+jwt" })
    .setIssuer(issuer).setAudience(aud).setIssuedAt(now).setExpirationTime(now + 300)
    .sign(privateKey);
  return { access_token: token, token_type: "Bearer", expires_in: 300,
    issued_token_type: "urn:ietf:params:oauth:token-type:access_token" };
}
provider.on("server_error", (_ctx, err) => console.error(`server_error: ${err?.stack ?? err}`));

const callback = provider.callback();

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
function page(res, status, title, body) {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
  res.end(`<!doctype html><html><head><title>${esc(title)}</title></head><body><h1>${esc(title)}</h1>${body}</body></html>`);
}
async function formBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

// The login and consent pages (what devInteractions would do, but small and scriptable).
async function handle(req, res) {
  const url = new URL(req.url, issuer);
  const m = /^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?$/.exec(url.pathname);
  if (!m) return callback(req, res);
  const [, uid, action] = m;
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return page(res, 400, "Wrong interaction", "");
  const { prompt, params } = details;

  if (!action && req.method === "GET") {
    if (prompt.name === "login") {
      return page(res, 200, "Sign in",
        `<p>Client ${esc(params.client_id)} asks to sign you in.</p>
<form method="post" action="/interaction/${esc(uid)}/login">
<input name="login" autocomplete="username"><input name="password" type="password"><button type="submit">Sign in</button>
</form>`);
    }
    const missing = prompt.details;
    return page(res, 200, "Authorize",
      `<p>Client ${esc(params.client_id)} asks for: <code id="scopes">${esc(JSON.stringify({
        oidc: missing.missingOIDCScope ?? [],
        resources: missing.missingResourceScopes ?? {},
      }))}</code></p>
<form method="post" action="/interaction/${esc(uid)}/confirm"><input type="hidden" name="consent" value="yes"><button type="submit">Allow</button></form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button type="submit">Deny</button></form>`);
  }
  if (req.method !== "POST") return page(res, 405, "Method not allowed", "");
  const form = await formBody(req);

  if (action === "login" && prompt.name === "login") {
    const login = form.get("login");
    if (!USERS[login] || form.get("password") !== PASSWORD) {
      return page(res, 401, "Sign in failed", `<p id="error">wrong user or password</p>`);
    }
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  if (action === "confirm" && prompt.name === "consent") {
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(" "));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(" "));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  if (action === "abort") {
    return provider.interactionFinished(req, res,
      { error: "access_denied", error_description: "the user denied the request" }, { mergeWithLastSubmission: false });
  }
  return page(res, 400, "Unexpected step", `<p id="error">${esc(action)} during ${esc(prompt.name)}</p>`);
}

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
console.log(`listening on ${issuer}`);
