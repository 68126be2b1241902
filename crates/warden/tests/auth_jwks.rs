//! Signing keys fetched over HTTP: a JWKS URL served by an in-test server
//! (loaded at start, refetched for an unknown `kid` at most once per
//! `minRefetchInterval`, rotation picked up that way, outages answered with
//! 503 and never with acceptance, cached keys kept through an outage), and
//! OpenID discovery from the issuer (an `issuer` mismatch refuses tokens).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "auth/support.rs"]
mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::{McpClient, Reply, start_in_process};

use support::{EcKey, HttpServer, Want, assert_refused, call_echo, claims, http_server, json_resp, token};

/// An identity provider: discovery document and JWKS, switchable to 500.
struct Idp {
    base: String,
    state: Arc<IdpState>,
    _server: HttpServer,
}

#[derive(Default)]
struct IdpState {
    base: OnceLock<String>,
    jwks: parking_lot::Mutex<Value>,
    /// `issuer` the discovery document claims (default: the real one).
    claimed_issuer: parking_lot::Mutex<Option<String>>,
    failing: AtomicBool,
    jwks_fetches: AtomicUsize,
    discovery_fetches: AtomicUsize,
}

impl Idp {
    async fn start(jwks: Value) -> Idp {
        let state = Arc::new(IdpState { jwks: parking_lot::Mutex::new(jwks), ..Default::default() });
        let s = state.clone();
        let server = http_server(move |req: hyper::Request<hyper::body::Incoming>| {
            let s = s.clone();
            async move {
                let base = s.base.get().cloned().unwrap_or_default();
                let counter = match req.uri().path() {
                    "/jwks" => &s.jwks_fetches,
                    "/.well-known/openid-configuration" => &s.discovery_fetches,
                    _ => return json_resp(404, &json!({})),
                };
                counter.fetch_add(1, Ordering::SeqCst);
                if s.failing.load(Ordering::SeqCst) {
                    return json_resp(500, &json!({"error": "down"}));
                }
                if req.uri().path() == "/jwks" {
                    return json_resp(200, &s.jwks.lock().clone());
                }
                let issuer = s.claimed_issuer.lock().clone().unwrap_or_else(|| base.clone());
                json_resp(200, &json!({"issuer": issuer, "jwks_uri": format!("{base}/jwks"), "response_types_supported": ["code"]}))
            }
        })
        .await;
        let base = format!("http://{}", server.addr);
        state.base.set(base.clone()).unwrap();
        Idp { base, state, _server: server }
    }

    fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    fn discovery_fetches(&self) -> usize {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }

    fn fail(&self, on: bool) {
        self.state.failing.store(on, Ordering::SeqCst);
    }
}

/// Warden with one virtual server `/mcp` (built-in clock backend) whose one
/// JWT provider is `provider` (a YAML flow mapping).
async fn warden(provider: &str) -> (warden::server::RunningGateway, McpClient, String) {
    warden_with(provider, "").await
}

/// The same, with `extra` lines appended to the `auth` block.
async fn warden_with(provider: &str, extra: &str) -> (warden::server::RunningGateway, McpClient, String) {
    let yaml = format!(
        r#"
listeners: [{{name: main, address: "127.0.0.1:0"}}]
admin: {{address: "127.0.0.1:0"}}
accessLog: off
virtualServers:
  - name: main
    path: /mcp
    backends: [{{name: clock, builtin: clock}}]
    auth:
      jwt: [{provider}]
{extra}"#
    );
    let gw = start_in_process(&yaml, &[]).await;
    let resource = format!("{}/mcp", gw.base_url());
    let c = McpClient::new(&resource);
    (gw, c, resource)
}

/// Polls `cond` every 20 ms for at most `within`.
async fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `echo` with `tok` until the answer is not 503 (keys still loading),
/// for at most `within`; returns the last answer and how many were sent.
async fn call_until_not_503(c: &McpClient, tok: &str, within: Duration) -> (Reply, usize) {
    let deadline = Instant::now() + within;
    let auth = format!("Bearer {tok}");
    let mut n = 0;
    loop {
        n += 1;
        let r = call_echo(c, n as i64, "hi", &[("authorization", &auth)]).await;
        if r.status != 503 || Instant::now() >= deadline {
            return (r, n);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn token_for(key: &EcKey, kid: &str, iss: &str, aud: &str) -> String {
    let mut c = claims(aud, "alice", "");
    c["iss"] = json!(iss);
    token(key, kid, &c)
}

/// A 503 refusal: no challenge, `Retry-After`, JSON-RPC internal error with the id.
fn assert_unavailable(case: &str, r: &Reply, id: i64) {
    assert_eq!(r.status, 503, "{case}: {r:?}");
    assert_eq!(r.headers.get("retry-after").map(|v| v.to_str().unwrap()), Some("5"), "{case}: {r:?}");
    assert!(r.headers.get("www-authenticate").is_none(), "{case}: {r:?}");
    assert_eq!(r.last()["id"], id, "{case}: {r:?}");
    assert_eq!(r.last()["error"]["code"], -32603, "{case}: {r:?}");
    assert!(r.last().get("result").is_none(), "{case}: {r:?}");
}

const MIN_REFETCH: Duration = Duration::from_secs(3);

#[tokio::test]
async fn jwks_url_loaded_at_start_refetched_for_unknown_kids_at_most_once_per_interval() {
    let (k1, k2, k9) = (EcKey::generate(), EcKey::generate(), EcKey::generate());
    let idp = Idp::start(json!({"keys": [k1.public_jwk("k1")]})).await;
    let iss = "https://idp.test";
    // Warden's start-up fetch (and so its refetch clock) starts after this.
    let before_start = Instant::now();
    let (_gw, c, aud) =
        warden(&format!(r#"{{issuer: "{iss}", jwksUrl: "{}/jwks", minRefetchInterval: 3s}}"#, idp.base)).await;
    let prm = format!("{}/.well-known/oauth-protected-resource/mcp", aud.trim_end_matches("/mcp"));
    let invalid = Want::unauthorized(Some("invalid_token"), &prm, None).no_dpop();

    // Keys are fetched at start, without any request asking for them.
    wait_until("the start-up JWKS fetch", Duration::from_secs(10), || idp.jwks_fetches() >= 1).await;
    let (r, _) = call_until_not_503(&c, &token_for(&k1, "k1", iss, &aud), Duration::from_secs(10)).await;
    support::assert_echoed("k1 token after start", &r, "hi");
    assert_eq!(idp.jwks_fetches(), 1, "one fetch at start");

    // Unknown kids within the interval: refused, no refetch.
    for id in 100..105 {
        let r =
            call_echo(&c, id, "x", &[("authorization", &format!("Bearer {}", token_for(&k9, "k9", iss, &aud)))]).await;
        assert_refused("unknown kid inside the interval", &r, id, &invalid);
    }
    assert!(before_start.elapsed() < MIN_REFETCH, "premise: the unknown-kid requests ran inside the interval");
    assert_eq!(idp.jwks_fetches(), 1, "no refetch inside minRefetchInterval");

    // Rotation: the issuer now publishes k2 only. A k2 token is refused until
    // the interval has passed, then the unknown kid triggers one refetch that
    // picks k2 up. Every attempt in between is an unknown-kid request too.
    *idp.state.jwks.lock() = json!({"keys": [k2.public_jwk("k2")]});
    let k2_token = format!("Bearer {}", token_for(&k2, "k2", iss, &aud));
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut attempts = 0;
    // The refetch clock restarts after `refetched_after` (the successful request was sent).
    let (refetched_after, accepted_at) = loop {
        attempts += 1;
        let sent = Instant::now();
        let r = call_echo(&c, 200 + attempts, "rotated", &[("authorization", &k2_token)]).await;
        if r.status == 200 {
            support::assert_echoed("k2 token after rotation", &r, "rotated");
            break (sent, Instant::now());
        }
        assert_refused("k2 before the refetch interval", &r, 200 + attempts, &invalid);
        assert!(Instant::now() < deadline, "rotation never picked up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(attempts > 3, "premise: several unknown-kid requests inside the interval ({attempts})");
    assert!(accepted_at.duration_since(before_start) >= MIN_REFETCH, "refetched before minRefetchInterval");
    assert_eq!(idp.jwks_fetches(), 2, "exactly one refetch for {attempts} unknown-kid requests");

    // k1 is gone from the new set; unknown kids inside the new interval do not refetch.
    let k1_token = format!("Bearer {}", token_for(&k1, "k1", iss, &aud));
    let r = call_echo(&c, 300, "x", &[("authorization", &k1_token)]).await;
    assert_refused("k1 after rotation", &r, 300, &invalid);
    let r = call_echo(&c, 301, "x", &[("authorization", &format!("Bearer {}", token_for(&k9, "k9", iss, &aud)))]).await;
    assert_refused("unknown kid after rotation", &r, 301, &invalid);
    assert!(refetched_after.elapsed() < MIN_REFETCH, "premise: inside the new interval");
    assert_eq!(idp.jwks_fetches(), 2);
}

#[tokio::test]
async fn jwks_outage_from_the_start_is_503_never_acceptance() {
    let k1 = EcKey::generate();
    let idp = Idp::start(json!({"keys": [k1.public_jwk("k1")]})).await;
    idp.fail(true);
    let iss = "https://idp.test";
    let (_gw, c, aud) =
        warden(&format!(r#"{{issuer: "{iss}", jwksUrl: "{}/jwks", minRefetchInterval: 1s}}"#, idp.base)).await;
    let good = format!("Bearer {}", token_for(&k1, "k1", iss, &aud));
    let forged = format!("Bearer {}", token_for(&EcKey::generate(), "k1", iss, &aud));
    // Refused while Warden keeps retrying (the retries are observed, so
    // several fetch failures happen during the loop).
    let mut id = 0;
    while idp.jwks_fetches() < 3 {
        id += 1;
        assert!(id < 400, "Warden stopped retrying the JWKS ({} fetches)", idp.jwks_fetches());
        for tok in [&good, &forged] {
            let r = call_echo(&c, id, "x", &[("authorization", tok)]).await;
            assert_unavailable("JWKS down since start", &r, id);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Garbage is still a plain 401, not a 503.
    let r = call_echo(&c, 999, "x", &[("authorization", "Bearer junk")]).await;
    assert_eq!(r.status, 401, "{r:?}");

    // Once the JWKS is back, the genuine token works and the forged one does not.
    idp.fail(false);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = call_echo(&c, 1000, "back", &[("authorization", &good)]).await;
        if r.status == 200 {
            support::assert_echoed("after recovery", &r, "back");
            break;
        }
        assert_unavailable("before recovery", &r, 1000);
        assert!(Instant::now() < deadline, "keys never loaded after the outage ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = call_echo(&c, 1001, "x", &[("authorization", &forged)]).await;
    assert_eq!(r.status, 401, "{r:?}");
}

#[tokio::test]
async fn cached_keys_keep_working_when_the_jwks_goes_down() {
    let k1 = EcKey::generate();
    let idp = Idp::start(json!({"keys": [k1.public_jwk("k1")]})).await;
    let iss = "https://idp.test";
    let (_gw, c, aud) = warden(&format!(
        r#"{{issuer: "{iss}", jwksUrl: "{}/jwks", refreshInterval: 1s, minRefetchInterval: 1s}}"#,
        idp.base
    ))
    .await;
    let good = token_for(&k1, "k1", iss, &aud);
    let (r, _) = call_until_not_503(&c, &good, Duration::from_secs(10)).await;
    support::assert_echoed("before the outage", &r, "hi");

    idp.fail(true);
    let before = idp.jwks_fetches();
    // Background refreshes fail (observed), and an unknown kid forces one more failed refetch.
    wait_until("a failed background refresh", Duration::from_secs(10), || idp.jwks_fetches() >= before + 2).await;
    let r =
        call_echo(&c, 2, "x", &[("authorization", &format!("Bearer {}", token_for(&k1, "k-new", iss, &aud)))]).await;
    assert_eq!(r.status, 401, "unknown kid with the JWKS down but keys cached: {r:?}");
    for id in 3..6 {
        let r = call_echo(&c, id, "cached", &[("authorization", &format!("Bearer {good}"))]).await;
        support::assert_echoed("cached key during the outage", &r, "cached");
    }
    // The server gone entirely: still the cached key.
    drop(idp);
    let r = call_echo(&c, 7, "gone", &[("authorization", &format!("Bearer {good}"))]).await;
    support::assert_echoed("cached key with the JWKS server gone", &r, "gone");
}

#[tokio::test]
async fn discovery_from_the_issuer() {
    let k1 = EcKey::generate();
    let idp = Idp::start(json!({"keys": [k1.public_jwk("k1")]})).await;
    let (_gw, c, aud) = warden(&format!(r#"{{issuer: "{}"}}"#, idp.base)).await;
    let (r, _) = call_until_not_503(&c, &token_for(&k1, "k1", &idp.base, &aud), Duration::from_secs(10)).await;
    support::assert_echoed("token of a discovered issuer", &r, "hi");
    assert!(idp.discovery_fetches() >= 1 && idp.jwks_fetches() >= 1);
    // The PRM names the issuer as the authorization server.
    let prm: Value = c
        .http
        .get(aud.replace("/mcp", "/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["authorization_servers"], json!([idp.base]));
}

#[tokio::test]
async fn discovery_with_an_issuer_mismatch_refuses_tokens() {
    let k1 = EcKey::generate();
    let idp = Idp::start(json!({"keys": [k1.public_jwk("k1")]})).await;
    *idp.state.claimed_issuer.lock() = Some("https://evil.test".into());
    let (_gw, c, aud) = warden(&format!(r#"{{issuer: "{}", minRefetchInterval: 1s}}"#, idp.base)).await;
    let tok = format!("Bearer {}", token_for(&k1, "k1", &idp.base, &aud));
    let mut id = 0;
    while idp.discovery_fetches() < 3 {
        id += 1;
        assert!(id < 400, "Warden stopped retrying discovery");
        let r = call_echo(&c, id, "x", &[("authorization", &tok)]).await;
        assert_unavailable("discovery document names another issuer", &r, id);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(idp.jwks_fetches(), 0, "the jwks_uri of a mismatched document must never be used");
}

/// `serveAuthorizationServerMetadata`: for an issuer that publishes only
/// OpenID discovery, Warden names itself in the PRM and serves RFC 8414
/// metadata built from the issuer's document (its endpoints, Warden's
/// identifier as `issuer`, S256 added).
#[tokio::test]
async fn authorization_server_metadata_is_served_for_openid_only_issuers() {
    let k1 = EcKey::generate();
    let idp = Idp::start(json!({"keys": [k1.public_jwk("k1")]})).await;
    let (gw, c, resource) =
        warden_with(&format!(r#"{{issuer: "{}"}}"#, idp.base), "      serveAuthorizationServerMetadata: true\n").await;
    let base = gw.base_url();
    // Tokens of the real issuer are what Warden accepts.
    let (r, _) = call_until_not_503(&c, &token_for(&k1, "k1", &idp.base, &resource), Duration::from_secs(10)).await;
    support::assert_echoed("token of the issuer", &r, "hi");
    let get = |path: String| {
        let http = c.http.clone();
        let base = base.clone();
        async move {
            let r = http.get(format!("{base}{path}")).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let id = format!("{}/mcp/authorization-server/0", gw.base_url());
    let (status, prm) = get("/.well-known/oauth-protected-resource/mcp".into()).await;
    assert_eq!(status, 200);
    assert_eq!(prm["authorization_servers"], json!([id]), "{prm}");
    for path in [
        "/.well-known/oauth-authorization-server/mcp/authorization-server/0",
        "/.well-known/openid-configuration/mcp/authorization-server/0",
        "/mcp/authorization-server/0/.well-known/openid-configuration",
    ] {
        let (status, doc) = get(path.into()).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(doc["issuer"], json!(id), "{path}: {doc}");
        assert_eq!(doc["jwks_uri"], json!(format!("{}/jwks", idp.base)), "{path}: the issuer's endpoints stay");
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]), "{path}");
    }
    assert_eq!(get("/.well-known/oauth-authorization-server/mcp/authorization-server/1".into()).await.0, 404);
}
