//! Upstream credentials end to end: an in-process Warden in front of the
//! real conformance backend (behind a pass-through that records what each
//! `tools/call` carried), a JWT front door, and a small local authorization
//! server for `externalExchange` and `idJag` that verifies Warden's client
//! assertion with its public key.
//!
//! - `exchange`: the backend gets a token for its audience only, verifiable
//!   with Warden's JWKS (`/oauth/jwks`), `act` naming the agent, scope
//!   narrowed; cached per principal; the client's token never reaches it;
//! - transaction tokens: a `Txn-Token` per call, verifiable, naming the call;
//! - `secret`: header (from the environment), query and Basic (from a file)
//!   reach the backend, never the client;
//! - `externalExchange` / `idJag`: the grants Warden sends, the assertions
//!   it signs, and the external token the backend receives;
//! - a credential that cannot be obtained fails the call with a fixed error.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

#[path = "auth/support.rs"]
#[allow(dead_code)]
mod support;

use std::sync::Arc;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use test_support::{McpClient, Reply, start_in_process};
use warden::server::RunningGateway;

use support::{CountingBackend, EcKey, HttpServer, claims, http_server, json_resp, modern_body, modern_headers, token};

const WARDEN_ISSUER: &str = "https://warden.test";
const CONF_AUDIENCE: &str = "https://conf.internal";
const API_KEY: &str = "k-3f9a-very-secret";

/// What one request to the backend carried.
#[derive(Debug, Clone)]
struct Seen {
    uri: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Records every request (URI and headers) and forwards it to `target`.
async fn recording_proxy(target: &str, seen: Arc<Mutex<Vec<Seen>>>) -> (HttpServer, String) {
    let parsed = url::Url::parse(target).unwrap();
    let origin = format!("http://{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let server = http_server(move |req: Request<Incoming>| {
        let (client, origin, seen) = (client.clone(), origin.clone(), seen.clone());
        async move {
            let (parts, body) = req.into_parts();
            let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
            if bytes.windows(12).any(|w| w == b"\"tools/call\"") {
                let headers = parts
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                    .collect();
                seen.lock().push(Seen { uri: parts.uri.to_string(), headers });
            }
            let path = parts.uri.path();
            let mut rb = client.request(parts.method.clone(), format!("{origin}{path}"));
            for (k, v) in &parts.headers {
                if !matches!(k.as_str(), "host" | "content-length" | "connection" | "transfer-encoding") {
                    rb = rb.header(k, v);
                }
            }
            let resp = match rb.body(bytes).send().await {
                Ok(r) => r,
                Err(e) => return json_resp(502, &json!({"proxy_error": e.to_string()})),
            };
            let status = resp.status();
            let mut out = Response::builder().status(status);
            for (k, v) in resp.headers() {
                if !matches!(k.as_str(), "content-length" | "connection" | "transfer-encoding") {
                    out = out.header(k, v);
                }
            }
            let body = resp.bytes().await.unwrap_or_default();
            out.body(support::full(body)).unwrap()
        }
    })
    .await;
    let url = format!("http://{}{}", server.addr, parsed.path());
    (server, url)
}

/// A token request the local authorization server received.
#[derive(Debug, Clone)]
struct Grant {
    form: Map<String, Value>,
}

/// A minimal external authorization server: verifies Warden's
/// `private_key_jwt` assertion (ES256, `aud` = its issuer, `iss` = `sub` =
/// the client id) and answers `token-exchange` and `jwt-bearer` grants with
/// a fresh opaque token. Anything else: `invalid_client` / `unsupported_grant_type`.
struct LocalAs {
    server: HttpServer,
    grants: Arc<Mutex<Vec<Grant>>>,
}

impl LocalAs {
    async fn start(client_public_pem: String) -> LocalAs {
        let grants = Arc::new(Mutex::new(Vec::new()));
        let g = grants.clone();
        let issued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let server = http_server(move |req: Request<Incoming>| {
            let (g, pem, issued) = (g.clone(), client_public_pem.clone(), issued.clone());
            async move {
                let host = req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
                let bytes = req.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
                let form: Map<String, Value> = url::form_urlencoded::parse(&bytes)
                    .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                    .collect();
                let issuer = format!("http://{host}");
                let mut v = Validation::new(Algorithm::ES256);
                v.set_audience(&[&issuer]);
                v.set_issuer(&["warden-client"]);
                let assertion = form.get("client_assertion").and_then(Value::as_str).unwrap_or("");
                let ok = form.get("client_assertion_type").and_then(Value::as_str)
                    == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                    && jsonwebtoken::decode::<Map<String, Value>>(
                        assertion,
                        &DecodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
                        &v,
                    )
                    .is_ok_and(|d| d.claims["sub"] == "warden-client" && d.claims["jti"].is_string());
                g.lock().push(Grant { form: form.clone() });
                if !ok {
                    return json_resp(401, &json!({"error": "invalid_client"}));
                }
                match form.get("grant_type").and_then(Value::as_str) {
                    Some("urn:ietf:params:oauth:grant-type:token-exchange" | "urn:ietf:params:oauth:grant-type:jwt-bearer") => {
                        let n = issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        json_resp(
                            200,
                            &json!({"access_token": format!("external-token-{n}"), "token_type": "Bearer",
                                    "expires_in": 600, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}),
                        )
                    }
                    _ => json_resp(400, &json!({"error": "unsupported_grant_type"})),
                }
            }
        })
        .await;
        LocalAs { server, grants }
    }

    fn issuer(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    fn grants(&self) -> Vec<Grant> {
        self.grants.lock().clone()
    }
}

struct Env {
    gw: RunningGateway,
    idp: EcKey,
    seen: Arc<Mutex<Vec<Seen>>>,
    external: LocalAs,
    _backend: CountingBackend,
    _proxy: HttpServer,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> Env {
        let backend = CountingBackend::start().await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (proxy, be) = recording_proxy(&backend.url, seen.clone()).await;
        let idp = EcKey::generate();
        let client_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let external = LocalAs::start(client_key.public_key_pem()).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("client.pem"), client_key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("api-key.txt"), format!("{API_KEY}\n")).unwrap();
        let jwks = json!({"keys": [idp.public_jwk("k1")]});
        let auth = format!(r#"{{jwt: [{{issuer: "https://idp.test", jwks: {jwks}}}]}}"#);
        let ext = external.issuer();
        let key_file = dir.path().join("client.pem").display().to_string();
        let client_auth = format!(r#"{{privateKeyJwt: {{keyFile: "{key_file}", algorithm: ES256}}}}"#);
        let yaml = format!(
            r#"
listeners: [{{name: main, address: "127.0.0.1:0"}}]
admin: {{address: "127.0.0.1:0"}}
accessLog: off
tokenService: {{issuer: "{WARDEN_ISSUER}"}}
virtualServers:
  - name: ex
    path: /ex
    auth: {auth}
    transactionTokens: {{audience: "trust.example"}}
    backends:
      - name: conf
        url: "{be}"
        credential: {{exchange: {{audience: "{CONF_AUDIENCE}", scopes: [mcp:tools, files.read]}}}}
  - name: none
    path: /none
    auth: {auth}
    backends: [{{name: conf, url: "{be}"}}]
  - name: header
    path: /sec-h
    auth: {auth}
    backends: [{{name: conf, url: "{be}", credential: {{secret: {{env: CARGO_PKG_NAME, header: X-Api-Key, prefix: "Key "}}}}}}]
  - name: query
    path: /sec-q
    auth: {auth}
    backends: [{{name: conf, url: "{be}", credential: {{secret: {{file: "{file}", query: api_key}}}}}}]
  - name: basic
    path: /sec-b
    auth: {auth}
    backends: [{{name: conf, url: "{be}", credential: {{secret: {{file: "{file}", basicUsername: svc}}}}}}]
  - name: ext
    path: /ext
    auth: {auth}
    backends:
      - name: conf
        url: "{be}"
        credential:
          externalExchange:
            tokenEndpoint: "{ext}/token"
            clientId: warden-client
            clientAuth: {client_auth}
            audience: "https://api.partner"
            scopes: [partner.read]
  - name: jag
    path: /jag
    auth: {auth}
    backends:
      - name: conf
        url: "{be}"
        credential:
          idJag:
            authorizationServer: "{ext}"
            tokenEndpoint: "{ext}/token"
            clientId: warden-client
            clientAuth: {client_auth}
            resource: "https://api.partner/mcp"
            scopes: [partner.read]
  - name: broken
    path: /broken
    auth: {auth}
    backends:
      - name: conf
        url: "{be}"
        credential:
          externalExchange:
            tokenEndpoint: "{ext}/token"
            clientId: somebody-else
            clientAuth: {client_auth}
"#,
            file = dir.path().join("api-key.txt").display(),
        );
        let gw = start_in_process(&yaml, &[]).await;
        Env { gw, idp, seen, external, _backend: backend, _proxy: proxy, _dir: dir }
    }

    fn client(&self, path: &str) -> McpClient {
        McpClient::new(&format!("{}{path}", self.gw.base_url()))
    }

    /// A user token for `path`, issued to the agent `client_id` with `scope`.
    fn user_token(&self, path: &str, sub: &str, client_id: &str, scope: &str) -> String {
        let mut c = claims(&format!("{}{path}", self.gw.base_url()), sub, scope);
        c["client_id"] = json!(client_id);
        token(&self.idp, "k1", &c)
    }

    /// Calls `tool` at `path` with `bearer`; returns the reply and what the backend saw.
    async fn call(&self, path: &str, bearer: &str, tool: &str, id: i64) -> (Reply, Option<Seen>) {
        let before = self.seen.lock().len();
        let auth = format!("Bearer {bearer}");
        let mut h = modern_headers("tools/call", Some(tool));
        h.push(("authorization", &auth));
        h.push(("cookie", "sid=client-own-cookie"));
        let args = if tool == "echo" { json!({"message": "hi"}) } else { json!({}) };
        let r = self
            .client(path)
            .post_raw(modern_body(id, "tools/call", json!({"name": tool, "arguments": args})), &h)
            .await;
        let seen = self.seen.lock().get(before).cloned();
        (r, seen)
    }

    async fn warden_jwks(&self) -> Value {
        let url = format!("{}/oauth/jwks", self.gw.base_url());
        reqwest::get(url).await.unwrap().json().await.unwrap()
    }

    /// Verifies a token Warden signed, with its published JWKS (as a backend would).
    async fn verify_warden(&self, t: &str, aud: &str, typ: &str) -> Map<String, Value> {
        let header = jsonwebtoken::decode_header(t).unwrap();
        assert_eq!(header.typ.as_deref(), Some(typ));
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(self.warden_jwks().await).unwrap();
        let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("signing key published");
        let mut v = Validation::new(header.alg);
        v.set_audience(&[aud]);
        v.set_issuer(&[WARDEN_ISSUER]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Map<String, Value>>(t, &DecodingKey::from_jwk(jwk).unwrap(), &v)
            .unwrap_or_else(|e| panic!("not a valid token for {aud}: {e}"))
            .claims
    }
}

fn bearer_of(seen: &Seen) -> String {
    seen.header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_else(|| panic!("{seen:?}"))
        .to_string()
}

fn assert_ok(r: &Reply) {
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.last().get("error").is_none(), "{r:?}");
}

#[tokio::test]
async fn exchange_gives_the_backend_a_delegated_token_for_its_audience_only() {
    let env = Env::start().await;
    let alice = env.user_token("/ex", "alice", "hr-agent", "mcp:tools files.read files.write");
    let (r, seen) = env.call("/ex", &alice, "debug_request_headers", 1).await;
    assert_ok(&r);
    let seen = seen.expect("the backend saw the call");
    let minted = bearer_of(&seen);
    assert_ne!(minted, alice, "the client's token is never forwarded");
    // What the backend reports receiving: no client credential at all.
    let echoed = r.result()["content"][0]["text"].as_str().unwrap().to_string();
    assert!(!echoed.contains(&alice) && !echoed.contains("client-own-cookie"), "{echoed}");
    assert!(echoed.contains(&minted), "{echoed}");
    assert!(seen.header("x-api-key").is_none());

    let claims = env.verify_warden(&minted, CONF_AUDIENCE, "at+jwt").await;
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], CONF_AUDIENCE, "one audience: this backend");
    assert_eq!(claims["act"]["sub"], "hr-agent", "act names the agent: {claims:?}");
    assert_eq!(claims["scope"], "mcp:tools files.read", "scope narrowed to the configured ∩ held");
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert!(lifetime <= 300, "short-lived: {lifetime}");
    // Not usable at another audience.
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(env.warden_jwks().await).unwrap();
    let kid = jsonwebtoken::decode_header(&minted).unwrap().kid.unwrap();
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&["https://other.internal"]);
    let key = DecodingKey::from_jwk(jwks.find(&kid).unwrap()).unwrap();
    assert!(jsonwebtoken::decode::<Value>(&minted, &key, &v).is_err());

    // Cached: the same principal gets the same token on the next call.
    let (r, seen2) = env.call("/ex", &alice, "echo", 2).await;
    assert_ok(&r);
    assert_eq!(bearer_of(&seen2.unwrap()), minted, "cache hit");
    // Another user gets another token, with their own subject.
    let bob = env.user_token("/ex", "bob", "hr-agent", "mcp:tools");
    let (r, seen3) = env.call("/ex", &bob, "echo", 3).await;
    assert_ok(&r);
    let bobs = bearer_of(&seen3.unwrap());
    assert_ne!(bobs, minted);
    let c = env.verify_warden(&bobs, CONF_AUDIENCE, "at+jwt").await;
    assert_eq!((c["sub"].as_str(), c["scope"].as_str()), (Some("bob"), Some("mcp:tools")));
}

#[tokio::test]
async fn transaction_tokens_describe_each_call() {
    let env = Env::start().await;
    let alice = env.user_token("/ex", "alice", "hr-agent", "mcp:tools");
    let (r, seen) = env.call("/ex", &alice, "echo", 7).await;
    assert_ok(&r);
    let seen = seen.unwrap();
    let txn = seen.header("txn-token").expect("Txn-Token sent");
    let c = env.verify_warden(txn, "trust.example", "txntoken+jwt").await;
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["act"]["sub"], "hr-agent");
    assert_eq!(c["scope"], "mcp:tools");
    assert_eq!(c["tctx"]["method"], "tools/call");
    assert_eq!(c["tctx"]["target"], "echo");
    assert_eq!(c["tctx"]["virtualServer"], "ex");
    assert_eq!(c["req_wl"], WARDEN_ISSUER);
    assert!(c["txn"].as_str().is_some_and(|t| t.len() == 32), "txn is a fresh random id: {c:?}");
    assert!(c["rctx"]["request_id"].as_str().is_some_and(|t| !t.is_empty()), "the request id is context: {c:?}");
    assert!(c["rctx"]["req_ip"].as_str().is_some_and(|ip| ip == "127.0.0.1"), "{c:?}");
    assert!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap() <= 60);
    // A second call is a second transaction.
    let (_, again) = env.call("/ex", &alice, "echo", 8).await;
    let txn2 = again.unwrap().header("txn-token").unwrap().to_string();
    let c2 = env.verify_warden(&txn2, "trust.example", "txntoken+jwt").await;
    assert_ne!(c2["txn"], c["txn"]);
    // Virtual servers without the option send none.
    let (r, seen) = env.call("/none", &env.user_token("/none", "alice", "a", "mcp:tools"), "echo", 9).await;
    assert_ok(&r);
    let seen = seen.unwrap();
    assert!(seen.header("txn-token").is_none());
}

#[tokio::test]
async fn without_a_credential_the_backend_gets_none() {
    let env = Env::start().await;
    let t = env.user_token("/none", "alice", "agent", "mcp:tools");
    let (r, seen) = env.call("/none", &t, "debug_request_headers", 1).await;
    assert_ok(&r);
    let seen = seen.unwrap();
    for h in ["authorization", "x-api-key", "dpop", "cookie", "txn-token"] {
        assert!(seen.header(h).is_none(), "{h} reached the backend: {seen:?}");
    }
    let echoed = r.result()["content"][0]["text"].as_str().unwrap();
    assert!(!echoed.contains(&t));
}

#[tokio::test]
async fn secrets_reach_the_backend_as_header_query_or_basic_and_never_the_client() {
    let env = Env::start().await;
    use base64::Engine;
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("svc:{API_KEY}")));
    for (path, check) in [("/sec-h", "header"), ("/sec-q", "query"), ("/sec-b", "basic")] {
        let t = env.user_token(path, "alice", "agent", "mcp:tools");
        let (r, seen) = env.call(path, &t, "echo", 1).await;
        assert_ok(&r);
        let seen = seen.unwrap();
        match check {
            // From the environment: cargo sets CARGO_PKG_NAME for test processes.
            "header" => assert_eq!(seen.header("x-api-key"), Some("Key warden"), "{seen:?}"),
            "query" => {
                assert!(seen.uri.ends_with(&format!("?api_key={API_KEY}")), "{seen:?}");
                assert!(seen.header("authorization").is_none());
            }
            _ => assert_eq!(seen.header("authorization"), Some(basic.as_str()), "{seen:?}"),
        }
        assert!(
            !seen.headers.iter().any(|(_, v)| v.contains(&t) || v.contains("client-own-cookie")),
            "{path}: client creds"
        );
        let body = serde_json::to_string(r.last()).unwrap();
        assert!(!body.contains(API_KEY) && !body.contains("Key warden"), "{path}: the client never sees it: {body}");
    }
}

#[tokio::test]
async fn external_exchange_and_id_jag_obtain_the_external_token_with_private_key_jwt() {
    let env = Env::start().await;
    let ext = env.external.issuer();
    // externalExchange: RFC 8693 with a subject token Warden minted for the AS.
    let alice = env.user_token("/ext", "alice", "hr-agent", "mcp:tools");
    let (r, seen) = env.call("/ext", &alice, "echo", 1).await;
    assert_ok(&r);
    let got = bearer_of(&seen.unwrap());
    assert!(got.starts_with("external-token-"), "{got}");
    let g = env.external.grants().pop().unwrap().form;
    assert_eq!(g["grant_type"], "urn:ietf:params:oauth:grant-type:token-exchange");
    assert_eq!(g["subject_token_type"], "urn:ietf:params:oauth:token-type:access_token");
    assert_eq!(g["audience"], "https://api.partner");
    assert_eq!(g["scope"], "partner.read");
    let subject = env.verify_warden(g["subject_token"].as_str().unwrap(), &ext, "at+jwt").await;
    assert_eq!((subject["sub"].as_str(), subject["act"]["sub"].as_str()), (Some("alice"), Some("hr-agent")));
    // Cached per principal: no second grant.
    let n = env.external.grants().len();
    let (r, seen) = env.call("/ext", &alice, "echo", 2).await;
    assert_ok(&r);
    assert_eq!(bearer_of(&seen.unwrap()), got);
    assert_eq!(env.external.grants().len(), n, "cache hit: the AS was not asked again");

    // idJag: Warden signs the ID-JAG and redeems it with the JWT-bearer grant.
    let (r, seen) = env.call("/jag", &env.user_token("/jag", "alice", "hr-agent", "mcp:tools"), "echo", 3).await;
    assert_ok(&r);
    assert!(bearer_of(&seen.unwrap()).starts_with("external-token-"));
    let g = env.external.grants().pop().unwrap().form;
    assert_eq!(g["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
    let jag = env.verify_warden(g["assertion"].as_str().unwrap(), &ext, "oauth-id-jag+jwt").await;
    assert_eq!(jag["sub"], "alice");
    assert_eq!(jag["aud"], ext.as_str(), "single audience: the external AS");
    assert_eq!(jag["client_id"], "warden-client");
    assert_eq!(jag["resource"], "https://api.partner/mcp");
    assert_eq!(jag["scope"], "partner.read");
    assert!(jag["jti"].is_string() && jag["exp"].as_u64().unwrap() - jag["iat"].as_u64().unwrap() <= 60);
}

#[tokio::test]
async fn a_credential_that_cannot_be_obtained_fails_the_call_with_a_fixed_error() {
    let env = Env::start().await;
    // The AS refuses this client id (its assertion's iss/sub do not match).
    let (r, seen) = env.call("/broken", &env.user_token("/broken", "alice", "a", "mcp:tools"), "echo", 1).await;
    assert!(seen.is_none(), "nothing reached the backend");
    let err = &r.last()["error"];
    assert_eq!(err["message"], "Backend \"conf\" is unavailable", "{r:?}");
    assert_eq!(err["data"], json!({"backend": "conf", "reason": "credential_unavailable"}));
    assert!(!serde_json::to_string(&r.last()).unwrap().contains("invalid_client"), "no internal text");
}

#[tokio::test]
async fn missing_secrets_and_credentials_on_channel_backends_are_load_errors() {
    let lookup = |_: &str| None;
    let yaml = r#"
virtualServers:
  - name: a
    path: /a
    backends:
      - {name: b, url: "http://127.0.0.1:9/mcp", credential: {secret: {env: NOPE_NOT_SET, header: X-Key}}}
      - {name: c, builtin: clock, credential: {secret: {env: NOPE_NOT_SET, header: X-Key}}}
"#;
    let err = format!("{:?}", warden::config::load_str(yaml, "t", &lookup).unwrap_err());
    assert!(err.contains("virtualServers[0].backends[0].credential.secret.env"), "{err}");
    assert!(err.contains("NOPE_NOT_SET"), "{err}");
    assert!(err.contains("virtualServers[0].backends[1].credential"), "{err}");
    assert!(err.contains("only Streamable HTTP"), "{err}");
}
