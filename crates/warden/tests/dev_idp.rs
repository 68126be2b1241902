//! The embedded development identity provider with the embedded default
//! configuration, driven over HTTP like a real MCP client would: discovery
//! (401 → Protected Resource Metadata → authorization server metadata),
//! dynamic registration and Client ID Metadata Documents, the login page,
//! the code exchange with PKCE, MCP calls with the token, refresh rotation,
//! client credentials — and each way a request can be wrong, refused with
//! the right error.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use test_support::{McpClient, Reply, start_in_process};
use warden::config::DEFAULT_CONFIG_YAML;
use warden::server::RunningGateway;

const REDIRECT: &str = "http://127.0.0.1:9/callback";

struct Idp {
    base: String,
    http: reqwest::Client,
    _running: RunningGateway,
}

/// The embedded default configuration on a free loopback port (the issuer
/// is `http://WARDEN_LISTEN`, so it must be the real port, not 0), ready
/// once the front door has loaded Warden's own keys.
async fn start() -> Idp {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let running =
        start_in_process(DEFAULT_CONFIG_YAML, &[("WARDEN_LISTEN", &listen), ("WARDEN_ADMIN", "127.0.0.1:0")]).await;
    let base = running.base_url();
    assert_eq!(base, format!("http://{listen}"));
    let mut loaded = false;
    for _ in 0..400 {
        let rt = running.gateway.runtime();
        if rt.authenticators[0].as_ref().unwrap().providers()[0].keys.is_loaded() {
            loaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(loaded, "the front door never loaded Warden's own JWKS");
    let http = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Idp { base, http, _running: running }
}

fn verifier() -> String {
    B64.encode(rand::random::<[u8; 32]>())
}

fn challenge(v: &str) -> String {
    B64.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, v.as_bytes()))
}

fn claims(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let h = serde_json::from_slice(&B64.decode(parts.next().unwrap()).unwrap()).unwrap();
    let c = serde_json::from_slice(&B64.decode(parts.next().unwrap()).unwrap()).unwrap();
    (h, c)
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(location).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The value of `name="NAME" value="…"` in a page.
fn field(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

impl Idp {
    fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    async fn register(&self, redirect_uris: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/oauth/register", self.base))
            .json(&json!({"client_name": "dev-idp test", "redirect_uris": redirect_uris, "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    fn authorize_url(&self, client_id: &str, redirect: &str, challenge: &str, extra: &[(&str, &str)]) -> String {
        let mut u = url::Url::parse(&format!("{}/oauth/authorize", self.base)).unwrap();
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", client_id)
                .append_pair("redirect_uri", redirect)
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256")
                .append_pair("state", "st-123")
                .append_pair("scope", "mcp:tools")
                .append_pair("resource", &self.mcp_url());
            for (k, v) in extra {
                q.append_pair(k, v);
            }
        }
        u.to_string()
    }

    /// GETs the login page; returns (status, body, csrf, cookie).
    async fn login_page(&self, url: &str) -> (u16, String, Option<(String, String)>) {
        let r = self.http.get(url).send().await.unwrap();
        let status = r.status().as_u16();
        let cookie = r.headers().get("set-cookie").map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
        let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string());
        let body = r.text().await.unwrap();
        if let Some(l) = location {
            return (status, l, None);
        }
        let csrf = body.contains("name=\"csrf\"").then(|| field(&body, "csrf"));
        (status, body, csrf.zip(cookie))
    }

    async fn post_login(&self, csrf: &str, cookie: &str, user: &str, password: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/oauth/authorize", self.base))
            .header("cookie", cookie)
            .form(&[("csrf", csrf), ("login", user), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    /// The whole browser leg: returns the redirect's query.
    async fn sign_in(
        &self,
        client_id: &str,
        redirect: &str,
        challenge: &str,
        user: &str,
        password: &str,
    ) -> std::collections::HashMap<String, String> {
        let (status, page, form) = self.login_page(&self.authorize_url(client_id, redirect, challenge, &[])).await;
        assert_eq!(status, 200, "{page}");
        let (csrf, cookie) = form.expect("login form and cookie");
        let r = self.post_login(&csrf, &cookie, user, password).await;
        assert_eq!(r.status().as_u16(), 303, "{:?}", r.text().await);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(redirect), "{location}");
        query_of(&location)
    }

    async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, Value, Option<String>) {
        let mut req = self.http.post(format!("{}/oauth/token", self.base)).form(form);
        if let Some((u, p)) = basic {
            req = req.basic_auth(u, Some(p));
        }
        let r = req.send().await.unwrap();
        let cc = r.headers().get("cache-control").map(|v| v.to_str().unwrap().to_string());
        (r.status().as_u16(), r.json().await.unwrap(), cc)
    }

    async fn code_token(&self, client_id: &str, code: &str, verifier: &str, redirect: &str) -> (u16, Value) {
        let (s, v, _) = self
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("code_verifier", verifier),
                    ("redirect_uri", redirect),
                    ("client_id", client_id),
                ],
                None,
            )
            .await;
        (s, v)
    }

    async fn mcp(&self, token: Option<&str>, method: &str, params: Value) -> Reply {
        let mut params = params;
        params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
        let name = params.get("name").and_then(Value::as_str).map(str::to_string);
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", method)];
        if let Some(a) = auth.as_deref() {
            headers.push(("authorization", a));
        }
        if let Some(n) = name.as_deref() {
            headers.push(("mcp-name", n));
        }
        McpClient::new(&self.mcp_url()).post_raw(serde_json::to_vec(&body).unwrap(), &headers).await
    }
}

#[tokio::test]
async fn discovery_registration_login_code_token_mcp_and_refresh() {
    let idp = start().await;
    // 401 at /mcp names the Protected Resource Metadata.
    let r = idp.mcp(None, "tools/list", json!({})).await;
    assert_eq!(r.status, 401);
    let www = r.headers["www-authenticate"].to_str().unwrap().to_string();
    let prm_url = www.split("resource_metadata=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let prm: Value = idp.http.get(&prm_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(prm["resource"], json!(idp.mcp_url()), "{prm}");
    assert_eq!(prm["authorization_servers"], json!([idp.base]), "Warden's own issuer: {prm}");
    assert!(prm["scopes_supported"].as_array().unwrap().contains(&json!("mcp:tools")));
    // RFC 8414 metadata of that issuer.
    let asm: Value = idp
        .http
        .get(format!("{}/.well-known/oauth-authorization-server", idp.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(asm["issuer"], json!(idp.base));
    assert_eq!(asm["authorization_endpoint"], json!(format!("{}/oauth/authorize", idp.base)));
    assert_eq!(asm["registration_endpoint"], json!(format!("{}/oauth/register", idp.base)));
    assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(asm["authorization_response_iss_parameter_supported"], json!(true));
    assert_eq!(asm["client_id_metadata_document_supported"], json!(true));

    // Dynamic registration of a public client.
    let (status, reg) = idp.register(json!([REDIRECT])).await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(reg["token_endpoint_auth_method"], "none");
    let client_id = reg["client_id"].as_str().unwrap().to_string();

    // The login page says who asks for what, escaped; then alice signs in.
    let v = verifier();
    let (status, page, _) = idp.login_page(&idp.authorize_url(&client_id, REDIRECT, &challenge(&v), &[])).await;
    assert_eq!(status, 200);
    assert!(page.contains("dev-idp test") && page.contains("mcp:tools") && page.contains(&idp.mcp_url()), "{page}");
    let q = idp.sign_in(&client_id, REDIRECT, &challenge(&v), "alice", "alice").await;
    assert_eq!(q["state"], "st-123");
    assert_eq!(q["iss"], idp.base, "RFC 9207 iss");
    let (status, tok, cc) = idp
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("code_verifier", &v),
                ("redirect_uri", REDIRECT),
                ("client_id", &client_id),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200, "{tok}");
    assert_eq!(cc.as_deref(), Some("no-store"));
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["scope"], "mcp:tools");
    let at = tok["access_token"].as_str().unwrap().to_string();
    let (h, c) = claims(&at);
    assert_eq!(h["typ"], "at+jwt");
    assert_eq!(c["iss"], json!(idp.base));
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["aud"], json!(idp.mcp_url()));
    assert_eq!(c["client_id"], json!(client_id));
    assert_eq!(c["email"], "alice@example.com");
    assert_eq!(c["groups"], json!(["engineering"]));
    assert!(c["jti"].is_string() && c["exp"].as_u64().unwrap() > c["iat"].as_u64().unwrap());

    // MCP with the token.
    let r = idp.mcp(Some(&at), "tools/list", json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.messages);
    let names = McpClient::names(&r, "tools", "name");
    assert!(names.contains(&"clock__add".to_string()), "{names:?}");
    let r = idp.mcp(Some(&at), "tools/call", json!({"name": "clock__add", "arguments": {"a": 2, "b": 40}})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.result()["content"][0]["text"], "42", "{:?}", r.messages);

    // The code is single use.
    let (status, e) = idp.code_token(&client_id, &q["code"], &v, REDIRECT).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");

    // Refresh: rotating, bound to the client.
    let rt1 = tok["refresh_token"].as_str().unwrap().to_string();
    let (status, t2, _) =
        idp.token(&[("grant_type", "refresh_token"), ("refresh_token", &rt1), ("client_id", &client_id)], None).await;
    assert_eq!(status, 200, "{t2}");
    let rt2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    assert_eq!(idp.mcp(Some(t2["access_token"].as_str().unwrap()), "tools/list", json!({})).await.status, 200);
    let (status, e, _) =
        idp.token(&[("grant_type", "refresh_token"), ("refresh_token", &rt1), ("client_id", &client_id)], None).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "old refresh token reused: {e}");
    let (_, other) = idp.register(json!([REDIRECT])).await;
    let (status, e, _) = idp
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt2),
                ("client_id", other["client_id"].as_str().unwrap()),
            ],
            None,
        )
        .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "another client's refresh token: {e}");
    let (status, e, _) = idp
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "nope"),
                ("client_id", &client_id),
                ("scope", "mcp:tools"),
            ],
            None,
        )
        .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
}

#[tokio::test]
async fn authorization_requests_and_code_exchanges_that_are_wrong_are_refused() {
    let idp = start().await;
    let (_, reg) = idp.register(json!([REDIRECT])).await;
    let client_id = reg["client_id"].as_str().unwrap().to_string();
    let v = verifier();

    // Wrong password: the form again with an error, no redirect.
    let (_, _, form) = idp.login_page(&idp.authorize_url(&client_id, REDIRECT, &challenge(&v), &[])).await;
    let (csrf, cookie) = form.unwrap();
    let r = idp.post_login(&csrf, &cookie, "alice", "wrong").await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().get("location").is_none());
    let body = r.text().await.unwrap();
    assert!(body.contains("Wrong username or password"), "{body}");
    // The CSRF token was single use; a form without the browser cookie is refused.
    let r = idp.post_login(&csrf, &cookie, "alice", "alice").await;
    assert_eq!(r.status().as_u16(), 400, "a used CSRF token");
    let fresh = field(&body, "csrf");
    let r = idp
        .post_login(&fresh, "warden_idp_browser=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "alice", "alice")
        .await;
    assert_eq!(r.status().as_u16(), 403, "another browser's cookie");

    // Unknown client and unregistered redirect URI: an error page, never a redirect.
    for url in [
        idp.authorize_url("no-such-client", REDIRECT, &challenge(&v), &[]),
        idp.authorize_url(&client_id, "http://127.0.0.1:9/elsewhere", &challenge(&v), &[]),
    ] {
        let r = idp.http.get(&url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{url}");
        assert!(r.headers().get("location").is_none());
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    }
    // Errors about a verified redirect URI go there, with state and iss.
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[("code_challenge_method", "plain")], "invalid_request"),
        (&[("resource", "https://elsewhere.example/mcp")], "invalid_target"),
        (&[("response_type", "token")], "unsupported_response_type"),
    ];
    for (extra, error) in cases {
        // Replace parameters given twice by building the URL without the defaults.
        let mut u = url::Url::parse(&idp.authorize_url(&client_id, REDIRECT, &challenge(&v), &[])).unwrap();
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
        let r = idp.http.get(u.as_str()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303, "{extra:?}");
        let q = query_of(r.headers()["location"].to_str().unwrap());
        assert_eq!(q["error"], error, "{extra:?}");
        assert_eq!(q["state"], "st-123");
        assert_eq!(q["iss"], idp.base);
    }

    // Wrong PKCE verifier; the code is gone afterwards even with the right one.
    let q = idp.sign_in(&client_id, REDIRECT, &challenge(&v), "bob", "bob").await;
    let (status, e) = idp.code_token(&client_id, &q["code"], &verifier(), REDIRECT).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    let (status, _) = idp.code_token(&client_id, &q["code"], &v, REDIRECT).await;
    assert_eq!(status, 400, "a code is consumed by a failed attempt");
    // Mismatched redirect URI at the token endpoint.
    let q = idp.sign_in(&client_id, REDIRECT, &challenge(&v), "bob", "bob").await;
    let (status, e) = idp.code_token(&client_id, &q["code"], &v, "http://127.0.0.1:9/other").await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    // Another client presenting the code.
    let (_, other) = idp.register(json!([REDIRECT])).await;
    let q = idp.sign_in(&client_id, REDIRECT, &challenge(&v), "bob", "bob").await;
    let (status, e) = idp.code_token(other["client_id"].as_str().unwrap(), &q["code"], &v, REDIRECT).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    // Unknown client at the token endpoint.
    let (status, e) = idp.code_token("no-such-client", "x", &v, REDIRECT).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")), "{e}");
    // Registration refuses non-loopback http redirect URIs and confidential clients.
    let (status, e) = idp.register(json!(["http://app.example/cb"])).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_redirect_uri")), "{e}");
    let r = idp
        .http
        .post(format!("{}/oauth/register", idp.base))
        .json(&json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client_metadata");
    // A good flow still works after all that (the refusals were not the gateway being down).
    let v2 = verifier();
    let q = idp.sign_in(&client_id, REDIRECT, &challenge(&v2), "bob", "bob").await;
    let (status, tok) = idp.code_token(&client_id, &q["code"], &v2, REDIRECT).await;
    assert_eq!(status, 200, "{tok}");
    assert_eq!(claims(tok["access_token"].as_str().unwrap()).1["sub"], "bob");
}

/// A loopback HTTP server answering every GET with `doc` (and counting them).
async fn doc_server(doc: Arc<parking_lot::Mutex<Value>>, hits: Arc<std::sync::atomic::AtomicUsize>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (doc, hits) = (doc.clone(), hits.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| {
                    hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let body = doc.lock().to_string();
                    async move {
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .header("cache-control", "max-age=120")
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn client_id_metadata_documents() {
    let idp = start().await;
    let doc = Arc::new(parking_lot::Mutex::new(Value::Null));
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let addr = doc_server(doc.clone(), hits.clone()).await;
    let good = format!("http://{addr}/client.json");
    *doc.lock() = json!({"client_id": good, "client_name": "CIMD app", "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]});
    let v = verifier();
    let q = idp.sign_in(&good, REDIRECT, &challenge(&v), "alice", "alice").await;
    let (status, tok) = idp.code_token(&good, &q["code"], &v, REDIRECT).await;
    assert_eq!(status, 200, "{tok}");
    assert_eq!(claims(tok["access_token"].as_str().unwrap()).1["client_id"], json!(good));
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1, "fetched once, then cached (max-age=120)");

    // A document whose client_id is not its URL is refused: error page, no redirect.
    let bad = format!("http://{addr}/other.json");
    let fetched = hits.load(std::sync::atomic::Ordering::SeqCst);
    let r = idp.http.get(idp.authorize_url(&bad, REDIRECT, &challenge(&v), &[])).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.headers().get("location").is_none());
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), fetched + 1, "the mismatching document was fetched");
    // Not loopback http, and private addresses over https: refused without a fetch.
    let before = hits.load(std::sync::atomic::Ordering::SeqCst);
    for id in ["http://app.example/client.json", "https://10.0.0.1/client.json", "https://127.0.0.1/client.json"] {
        let r = idp.http.get(idp.authorize_url(id, REDIRECT, &challenge(&v), &[])).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{id}");
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), before, "refused before any fetch");
}

#[tokio::test]
async fn client_credentials_for_agents() {
    let idp = start().await;
    let (status, tok, _) = idp
        .token(
            &[("grant_type", "client_credentials"), ("scope", "mcp:tools")],
            Some(("demo-agent", "demo-agent-secret")),
        )
        .await;
    assert_eq!(status, 200, "{tok}");
    assert!(tok.get("refresh_token").is_none());
    let (_, c) = claims(tok["access_token"].as_str().unwrap());
    assert_eq!(c["sub"], "demo-agent");
    assert_eq!(c["aud"], json!(idp.mcp_url()));
    assert_eq!(idp.mcp(tok["access_token"].as_str(), "tools/list", json!({})).await.status, 200);
    let (status, e, _) = idp
        .token(
            &[("grant_type", "client_credentials"), ("scope", "mcp:tools mcp:admin")],
            Some(("demo-agent", "demo-agent-secret")),
        )
        .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_scope")), "{e}");
    let (status, e, _) = idp.token(&[("grant_type", "client_credentials")], Some(("demo-agent", "wrong"))).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")), "{e}");
    let (status, e, _) = idp
        .token(
            &[("grant_type", "client_credentials"), ("resource", "https://elsewhere.example/mcp")],
            Some(("demo-agent", "demo-agent-secret")),
        )
        .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_target")), "{e}");
    // A public (registered) client cannot use client credentials.
    let (_, reg) = idp.register(json!([REDIRECT])).await;
    let (status, e, _) = idp
        .token(&[("grant_type", "client_credentials"), ("client_id", reg["client_id"].as_str().unwrap())], None)
        .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("unauthorized_client")), "{e}");
}
