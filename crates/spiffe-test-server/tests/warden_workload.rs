//! Warden with SPIFFE identities end to end, every trust bundle streamed
//! from the test Workload API: a TLS listener whose client-certificate trust
//! for `example.org` comes from `FetchX509Bundles`, and a virtual server that
//! checks JWT-SVIDs against `FetchJWTBundles`. The workload's SVIDs are
//! fetched with the real `spiffe` crate and presented over real TLS (reqwest,
//! rustls) in front of the MCP conformance backend.
//!
//! The Workload API also serves `other.org` (as a federated domain would be),
//! which Warden is not configured to trust. Every wait is a bounded poll.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use spiffe::WorkloadApiClient;
use spiffe_test_server::{SvidShape, TestWorkloadApi};
use test_support::{McpClient, Proc, Reply, spawn_conformance_server, start_in_process};
use warden::server::RunningGateway;

const TD: &str = "example.org";
const ID: &str = "spiffe://example.org/agent";
/// On the Workload API, not in Warden's configuration.
const OTHER_TD: &str = "other.org";
/// The limit of every wait.
const LIMIT: Duration = Duration::from_secs(15);
/// Pause between the attempts of a poll.
const POLL_EVERY: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------- fixture

/// A certificate chain (DER, leaf first) and its PKCS#8 key.
#[derive(Clone)]
struct Identity {
    chain: Vec<Vec<u8>>,
    key: Vec<u8>,
}

impl Identity {
    fn from_spiffe(svid: &spiffe::X509Svid) -> Identity {
        Identity {
            chain: svid.cert_chain().iter().map(|c| c.as_bytes().to_vec()).collect(),
            key: svid.private_key().as_bytes().to_vec(),
        }
    }

    fn from_issued(svid: &spiffe_test_server::IssuedX509Svid) -> Identity {
        Identity { chain: vec![svid.cert_der.clone()], key: svid.key_pkcs8_der.clone() }
    }

    /// Key and chain as one PEM document, as `reqwest::Identity::from_pem` takes it.
    fn pem(&self) -> String {
        let mut out = pem("PRIVATE KEY", &self.key);
        for cert in &self.chain {
            out.push_str(&pem("CERTIFICATE", cert));
        }
        out
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Warden's debug logs in the test output (shown for failing tests); the
/// filter comes from `WARDEN_LOG` when set.
fn init_logs() {
    let filter =
        std::env::var("WARDEN_LOG").unwrap_or_else(|_| "info,warden::auth=debug,warden::listener=debug".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(false)
        .with_test_writer()
        .try_init();
}

struct Env {
    api: TestWorkloadApi,
    /// The `spiffe` crate's client of `api`.
    workload: WorkloadApiClient,
    _gw: RunningGateway,
    /// `https://127.0.0.1:PORT/mcp`: the URL clients use and the resource URL.
    url: String,
    server_root: reqwest::Certificate,
    _backend: Proc,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> Env {
        init_logs();
        let dir = tempfile::tempdir().unwrap();
        let api = TestWorkloadApi::start_with_identity(dir.path(), TD, ID).await.unwrap();
        api.add_trust_domain(OTHER_TD).unwrap();
        let workload =
            tokio::time::timeout(LIMIT, WorkloadApiClient::connect_to(api.endpoint())).await.unwrap().unwrap();
        let (backend, backend_url) = spawn_conformance_server();

        let path = |n: &str| dir.path().join(n).display().to_string();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server_cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap()
            .self_signed(&server_key)
            .unwrap();
        std::fs::write(path("server.crt"), server_cert.pem()).unwrap();
        std::fs::write(path("server.key"), server_key.serialize_pem()).unwrap();
        let yaml = format!(
            r#"
listeners:
  - name: tls
    address: "127.0.0.1:0"
    tls:
      certFile: "{crt}"
      keyFile: "{key}"
      clientAuth:
        mode: optional
        trustDomains: [{{name: {TD}, workloadApi: "{socket}"}}]
admin: {{address: "127.0.0.1:0"}}
accessLog: off
virtualServers:
  - name: main
    path: /mcp
    backends: [{{name: conf, url: "{backend_url}"}}]
    auth:
      spiffe:
        x509: true
        allowedTrustDomains: [{TD}]
        trustDomains: [{{name: {TD}, workloadApi: "{socket}"}}, {{name: {OTHER_TD}, workloadApi: "{socket}"}}]
"#,
            crt = path("server.crt"),
            key = path("server.key"),
            socket = api.endpoint(),
        );
        let gw = start_in_process(&yaml, &[]).await;
        let (_, addr) = gw.listeners.iter().find(|(n, _)| n == "tls").unwrap();
        let url = format!("https://{addr}/mcp");
        let server_root = reqwest::Certificate::from_pem(server_cert.pem().as_bytes()).unwrap();
        Env { api, workload, _gw: gw, url, server_root, _backend: backend, _dir: dir }
    }

    /// A fresh HTTPS client (no pooled connection) trusting Warden's
    /// certificate and presenting `identity`, if any.
    fn client(&self, identity: Option<&Identity>) -> reqwest::Client {
        let mut b = reqwest::Client::builder().no_proxy().add_root_certificate(self.server_root.clone());
        if let Some(id) = identity {
            b = b.identity(reqwest::Identity::from_pem(id.pem().as_bytes()).unwrap());
        }
        b.build().unwrap()
    }

    async fn x509_svid(&self) -> spiffe::X509Svid {
        tokio::time::timeout(LIMIT, self.workload.fetch_x509_svid()).await.unwrap().unwrap()
    }

    async fn jwt_svid(&self, audience: &str) -> String {
        let svid = tokio::time::timeout(LIMIT, self.workload.fetch_jwt_svid([audience], None)).await.unwrap().unwrap();
        assert_eq!(svid.spiffe_id().to_string(), ID);
        assert_eq!(svid.audience(), [audience]);
        svid.token().to_owned()
    }

    /// A modern-era `tools/call` (headers and `_meta` as `McpClient::modern`
    /// sends them); `Err` when no HTTP exchange happened (e.g. the TLS
    /// handshake was refused).
    async fn call(
        &self,
        http: &reqwest::Client,
        tool: &str,
        arguments: Value,
        bearer: Option<&str>,
    ) -> Result<Reply, reqwest::Error> {
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": tool, "arguments": arguments,
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }}});
        let mut req = http
            .post(&self.url)
            .timeout(LIMIT)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", tool);
        if let Some(token) = bearer {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let resp = req.body(serde_json::to_vec(&body).unwrap()).send().await?;
        Ok(McpClient::read(resp).await)
    }

    async fn echo(&self, http: &reqwest::Client, message: &str, bearer: Option<&str>) -> Result<Reply, reqwest::Error> {
        self.call(http, "echo", json!({"message": message}), bearer).await
    }

    /// Polls (bounded) until an `echo` with a fresh client presenting
    /// `identity` and `bearer` succeeds; the successful reply.
    async fn eventually_echoed(&self, what: &str, identity: Option<&Identity>, bearer: Option<&str>) -> Reply {
        let message = format!("hello from {what}");
        eventually(what, async || match self.echo(&self.client(identity), &message, bearer).await {
            Ok(r) if r.status == 200 && r.result()["content"][0]["text"] == message.as_str() => Ok(r),
            Ok(r) => Err(format!("{r:?}")),
            Err(e) => Err(format!("request failed: {e:?}")),
        })
        .await
    }

    /// Polls (bounded) until `bearer` over a TLS connection without a client
    /// certificate is refused with 401 `invalid_token`; the refusal.
    async fn eventually_refused(&self, what: &str, bearer: &str) -> Reply {
        eventually(what, async || match self.echo(&self.client(None), "refused?", Some(bearer)).await {
            Ok(r) if r.status == 401 => Ok(r),
            Ok(r) => Err(format!("{r:?}")),
            Err(e) => Err(format!("request failed: {e:?}")),
        })
        .await
    }
}

/// Runs `attempt` until it returns `Ok`, at most [`LIMIT`] long; the panic
/// names the last failure.
async fn eventually<T>(what: &str, mut attempt: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + LIMIT;
    loop {
        let last = match tokio::time::timeout_at(deadline.into(), attempt()).await {
            Ok(Ok(v)) => return v,
            Ok(Err(e)) => e,
            Err(_) => "the attempt itself did not finish".into(),
        };
        if Instant::now() + POLL_EVERY >= deadline {
            panic!("{what}: not within {LIMIT:?}; last attempt: {last}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Asserts a 401 with `error="invalid_token"` and the JSON-RPC error body.
fn assert_invalid_token(case: &str, r: &Reply) {
    assert_eq!(r.status, 401, "{case}: {r:?}");
    let challenge = r.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(challenge.starts_with("Bearer "), "{case}: challenge {challenge:?}");
    assert!(challenge.contains(r#"error="invalid_token""#), "{case}: challenge {challenge:?}");
    assert_eq!(r.last()["error"]["code"], -32001, "{case}: {r:?}");
    assert_eq!(r.last()["id"], 7, "{case}: {r:?}");
}

fn assert_echoed(case: &str, r: &Reply, message: &str) {
    assert_eq!(r.status, 200, "{case}: {r:?}");
    assert_eq!(r.result()["content"][0]["text"], message, "{case}: {r:?}");
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn x509_svid_from_the_workload_api_is_accepted_over_mtls() {
    let env = Env::start().await;
    let svid = env.x509_svid().await;
    assert_eq!(svid.spiffe_id().to_string(), ID);
    let identity = Identity::from_spiffe(&svid);

    // The listener's trust for example.org arrives over the bundle stream.
    env.eventually_echoed("X.509-SVID accepted", Some(&identity), None).await;

    // The same connection pool keeps working, and the SVID is the whole
    // credential: no token needed.
    let http = env.client(Some(&identity));
    let r = env.echo(&http, "again", None).await.unwrap();
    assert_echoed("X.509-SVID, second call", &r, "again");
    let r = env.echo(&http, "and again", None).await.unwrap();
    assert_echoed("X.509-SVID, same connection", &r, "and again");

    // Control: the same listener without a certificate or token is a 401
    // without `error` (no credential was sent).
    let r = env.echo(&env.client(None), "anonymous", None).await.unwrap();
    assert_eq!(r.status, 401, "no credential: {r:?}");
    let challenge = r.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(challenge.starts_with("Bearer ") && !challenge.contains("error="), "{challenge:?}");
}

#[tokio::test]
async fn jwt_svid_is_checked_against_streamed_bundles_and_its_audience() {
    let env = Env::start().await;
    let token = env.jwt_svid(&env.url).await;

    // No client certificate: the JWT-SVID is the credential. The virtual
    // server's JWT keys arrive over the bundle stream.
    env.eventually_echoed("JWT-SVID for the resource URL", None, Some(&token)).await;
    let http = env.client(None);
    let r = env.echo(&http, "jwt", Some(&token)).await.unwrap();
    assert_echoed("JWT-SVID, second call", &r, "jwt");

    // The same workload's JWT-SVID for another audience.
    for audience in ["spiffe://example.org/other-service", &env.url.replace("/mcp", "/other")] {
        let other = env.jwt_svid(audience).await;
        let r = env.echo(&http, "wrong audience", Some(&other)).await.unwrap();
        assert_invalid_token(&format!("JWT-SVID for audience {audience}"), &r);
    }

    // Signed with a key outside example.org's bundle: other.org's, whose JWT
    // bundle the virtual server does hold (for other.org's subjects) — an
    // example.org subject is verified against example.org's bundle only ...
    let forged = env.api.issue_jwt_svid(ID, &[&env.url], Duration::from_secs(60), OTHER_TD).unwrap();
    let r = env.echo(&http, "forged", Some(&forged)).await.unwrap();
    assert_invalid_token("example.org JWT-SVID signed with other.org's key", &r);
    // ... and a valid workload of other.org is verified, then refused: its
    // trust domain is not in `allowedTrustDomains` (403, no challenge).
    let foreign =
        env.api.issue_jwt_svid("spiffe://other.org/agent", &[&env.url], Duration::from_secs(60), OTHER_TD).unwrap();
    // (other.org's bundle arrives on its own stream: wait for it, bounded.)
    eventually("other.org's JWT bundle reached Warden", async || {
        match env.echo(&http, "foreign", Some(&foreign)).await {
            Ok(r) if r.status == 403 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let r = env.echo(&http, "foreign", Some(&foreign)).await.unwrap();
    assert_eq!(r.status, 403, "JWT-SVID of a trust domain not allowed: {r:?}");
    assert_eq!(r.last()["error"]["code"], -32003, "{r:?}");
    assert!(r.headers.get("www-authenticate").is_none(), "{r:?}");

    // The valid one still works after the refusals.
    let r = env.echo(&http, "still", Some(&token)).await.unwrap();
    assert_echoed("JWT-SVID after refusals", &r, "still");
}

#[tokio::test]
async fn backend_never_receives_the_jwt_svid() {
    let env = Env::start().await;
    let token = env.jwt_svid(&env.url).await;
    env.eventually_echoed("JWT-SVID accepted", None, Some(&token)).await;

    let r = env.call(&env.client(None), "debug_request_headers", json!({}), Some(&token)).await.unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let headers = r.result()["content"][0]["text"].as_str().unwrap_or_else(|| panic!("no header list: {r:?}"));
    let names: Vec<&str> = headers.lines().filter_map(|l| l.split(':').next()).collect();
    assert!(names.contains(&"content-type") || names.contains(&"accept"), "a real header list: {headers}");
    assert!(
        !names.iter().any(|n| n.eq_ignore_ascii_case("authorization")),
        "authorization reached the backend: {headers}"
    );
    assert!(!names.iter().any(|n| n.eq_ignore_ascii_case("dpop")), "{headers}");
    assert!(!headers.contains(&token), "the JWT-SVID reached the backend: {headers}");
    let payload = token.split('.').nth(1).unwrap();
    assert!(!headers.contains(payload), "the JWT-SVID's claims reached the backend: {headers}");
}

#[tokio::test]
async fn rotation_moves_warden_to_the_new_keys() {
    let env = Env::start().await;
    let old_svid = Identity::from_spiffe(&env.x509_svid().await);
    let used_token = env.jwt_svid(&env.url).await;
    env.eventually_echoed("X.509-SVID before rotation", Some(&old_svid), None).await;
    env.eventually_echoed("JWT-SVID before rotation", None, Some(&used_token)).await;
    // Signed with the current key but never shown to Warden.
    let old_token = env.jwt_svid(&env.url).await;
    assert_ne!(old_token, used_token);
    let old_kid = env.api.jwt_kid(TD).unwrap();
    assert_eq!(jws_kid(&old_token), old_kid);
    let old_ca = env.api.ca_der(TD).unwrap();

    env.api.rotate().unwrap();
    assert_ne!(env.api.jwt_kid(TD).unwrap(), old_kid, "rotation gives a new JWT key");
    assert_ne!(env.api.ca_der(TD).unwrap(), old_ca, "rotation gives a new CA");

    // New SVIDs, fetched after the rotation, work once Warden has the new bundle.
    let new_svid = Identity::from_spiffe(&env.x509_svid().await);
    assert_ne!(new_svid.chain[0], old_svid.chain[0], "the Workload API issued a new X.509-SVID");
    env.eventually_echoed("X.509-SVID signed by the new CA", Some(&new_svid), None).await;
    let new_token = env.jwt_svid(&env.url).await;
    assert_eq!(jws_kid(&new_token), env.api.jwt_kid(TD).unwrap(), "the new JWT-SVID is signed with the new key");
    env.eventually_echoed("JWT-SVID signed by the new key", None, Some(&new_token)).await;

    // The old key left the bundle: a JWT-SVID it signed is refused, also one
    // Warden had already verified and cached (the cache entry is bound to
    // the bundle generation that verified it) ...
    let r = env.eventually_refused("JWT-SVID signed with the old key", &old_token).await;
    assert_invalid_token("JWT-SVID signed with the old key", &r);
    let r = env.echo(&env.client(None), "cached old token", Some(&used_token)).await.unwrap();
    assert_invalid_token("JWT-SVID with the old key, accepted (and cached) before the rotation", &r);
    // ... and the old CA left the listener's trust: new connections with the
    // old X.509-SVID fail the handshake.
    eventually("X.509-SVID of the old CA refused at the handshake", async || {
        match env.echo(&env.client(Some(&old_svid)), "old ca", None).await {
            Err(_) => Ok(()),
            Ok(r) => Err(format!("got an HTTP reply: {r:?}")),
        }
    })
    .await;

    // The new credentials keep working afterwards.
    let r = env.echo(&env.client(Some(&new_svid)), "new x509", None).await.unwrap();
    assert_echoed("new X.509-SVID after the rotation", &r, "new x509");
    let r = env.echo(&env.client(None), "new jwt", Some(&new_token)).await.unwrap();
    assert_echoed("new JWT-SVID after the rotation", &r, "new jwt");
}

/// The `kid` of a compact JWS header.
fn jws_kid(token: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap();
    let header: Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn bad_client_certificates_are_refused() {
    let env = Env::start().await;
    // First make sure the listener has example.org's bundle, so the
    // refusals below are about the certificates, not a missing bundle.
    let valid = Identity::from_spiffe(&env.x509_svid().await);
    env.eventually_echoed("valid X.509-SVID", Some(&valid), None).await;

    // Two URI SANs, signed by example.org's CA: the chain verifies, the SVID
    // rules do not hold. A 401, on the HTTP level.
    let two = Identity::from_issued(&env.api.issue_x509_svid(ID, &SvidShape::TwoUriSans).unwrap());
    let r = env.echo(&env.client(Some(&two)), "two sans", None).await.unwrap();
    assert_invalid_token("X.509-SVID with two URI SANs", &r);
    // ... also when a valid JWT-SVID comes along: the broken certificate wins.
    let token = env.jwt_svid(&env.url).await;
    env.eventually_echoed("JWT-SVID accepted", None, Some(&token)).await;
    let r = env.echo(&env.client(Some(&two)), "two sans + token", Some(&token)).await.unwrap();
    assert_invalid_token("X.509-SVID with two URI SANs and a JWT-SVID", &r);

    // Trust domains Warden does not trust: no HTTP exchange at all.
    let other_ca_for_our_id = env.api.issue_x509_svid(ID, &SvidShape::SignedByOtherDomain(OTHER_TD.into())).unwrap();
    let other_domain_workload = env.api.issue_x509_svid("spiffe://other.org/agent", &SvidShape::Valid).unwrap();
    for (case, svid) in [
        ("example.org SPIFFE ID signed by other.org's CA", &other_ca_for_our_id),
        ("a workload of other.org (served by the Workload API, not trusted by Warden)", &other_domain_workload),
    ] {
        let result = env.echo(&env.client(Some(&Identity::from_issued(svid))), "untrusted", None).await;
        assert!(result.is_err(), "{case}: the TLS handshake must be refused, got {result:?}");
    }

    // The valid SVID is still accepted afterwards.
    let r = env.echo(&env.client(Some(&valid)), "valid", None).await.unwrap();
    assert_echoed("valid X.509-SVID after the refusals", &r, "valid");
}
