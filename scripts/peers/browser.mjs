// The user's browser for the OAuth end-to-end peers (ts_oauth_client.mjs,
// ts_policy_client.mjs): follows redirects, keeps cookies, submits the test provider's
// forms (login with `user`/`password`, then consent), and stops at the redirect to the
// client's redirect URI, which it does not fetch (nothing listens there). Returns that
// URL and the titles of the pages it went through.
export async function browse(start, redirectUri, USER, PASSWORD) {
  const jar = new Map();
  const pages = [];
  let next = { url: String(start), method: "GET" };
  for (let step = 0; step < 20; step++) {
    const headers = { accept: "text/html" };
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    if (next.body) headers["content-type"] = "application/x-www-form-urlencoded";
    const res = await fetch(next.url, { method: next.method, headers, body: next.body, redirect: "manual" });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split("=")[1]) < Date.now()));
      if (expired || value === "") jar.delete(name);
      else jar.set(name, value);
    }
    const location = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && location) {
      const to = new URL(location, next.url);
      if (to.href.startsWith(redirectUri)) return { callback: to, pages };
      next = { url: to.href, method: "GET" };
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`browser: ${next.method} ${next.url} -> ${res.status}: ${html.slice(0, 300)}`);
    const title = /<title>([^<]*)<\/title>/i.exec(html)?.[1] ?? "";
    const form = /<form[^>]*method="post"[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
    if (!form) throw new Error(`browser: no form on ${next.url}: ${html.slice(0, 300)}`);
    const fields = new URLSearchParams();
    for (const input of form[2].matchAll(/<input([^>]*)>/gi)) {
      const name = /name="([^"]*)"/.exec(input[1])?.[1];
      if (!name) continue;
      const value = /value="([^"]*)"/.exec(input[1])?.[1] ?? "";
      fields.set(name, name === "login" ? USER : name === "password" ? PASSWORD : value);
    }
    pages.push(title);
    next = { url: new URL(form[1].replaceAll("&amp;", "&"), next.url).href, method: "POST", body: fields.toString() };
  }
  throw new Error("browser: too many steps");
}

// The storage half of the SDK's OAuthClientProvider interface, in memory: client
// information, tokens and the PKCE verifier. The peers' providers extend it with their
// metadata, state and redirect handling.
export class MemoryOAuthStore {
  clientInformation() {
    return this._client;
  }
  saveClientInformation(info) {
    this._client = info;
  }
  tokens() {
    return this._tokens;
  }
  saveTokens(tokens) {
    this._tokens = tokens;
  }
  saveCodeVerifier(v) {
    this._verifier = v;
  }
  codeVerifier() {
    return this._verifier;
  }
}
