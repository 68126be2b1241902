//! One Warden in-process in front of the counting conformance backend, with
//! every credential kind configured:
//!
//! - `/mcp` on the plain listener `main` and the mTLS listener `tls`: JWT
//!   (inline JWKS, issuer `https://idp.test`), `mcp:tools` required, DPoP
//!   accepted, three API keys (valid, revoked, expired), X.509-SVIDs of
//!   `example.org` only;
//! - `/other` (plain listener): the same issuer, `server/discover` exempt,
//!   `tools/call` needs `mcp:call` too and tools matching `ec*` `mcp:echo`;
//! - `/opt` (plain listener): `mode: optional`, no scopes, no DPoP.
//!
//! The `tls` listener trusts the trust domains `example.org` and `other.org`
//! (PEM bundle files); `third.org` is trusted nowhere.

use serde_json::{Value, json};
use test_support::{McpClient, start_in_process};
use warden::server::RunningGateway;

use super::support::{Ca, CountingBackend, EcKey, Leaf, claims, token};

/// base64url of the symmetric key the JWKS (wrongly) publishes as `hmac`.
pub const HMAC_KEY_B64: &str = "c2hhcmVkLXNlY3JldC1zaGFyZWQtc2VjcmV0LTMyYnl0ZXM";

/// Scopes a `tools/call` of `echo` needs at `/other`.
pub const OTHER_ECHO_SCOPES: &str = "mcp:tools mcp:call mcp:echo";

pub struct Fixture {
    pub gw: RunningGateway,
    pub backend: CountingBackend,
    /// The issuer's signing key, published as `k1`.
    pub key: EcKey,
    pub example: Ca,
    pub other: Ca,
    pub third: Ca,
    /// `https://127.0.0.1:PORT` root certificate of the TLS listener.
    pub server_root: reqwest::Certificate,
    pub api_key: String,
    pub revoked_key: String,
    pub expired_key: String,
    /// The configuration Warden runs (for reloads).
    pub yaml: String,
    _dir: tempfile::TempDir,
}

fn key_hash(key: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    format!("sha256:{}", d.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

impl Fixture {
    pub async fn start() -> Fixture {
        let backend = CountingBackend::start().await;
        let key = EcKey::generate();
        // The JWKS also publishes a symmetric key, which Warden must never use.
        let jwks = json!({"keys": [key.public_jwk("k1"), {"kty": "oct", "kid": "hmac", "k": HMAC_KEY_B64}]});
        let (example, other, third) = (Ca::new("example.org"), Ca::new("other.org"), Ca::new("third.org"));
        let dir = tempfile::tempdir().unwrap();
        let path = |n: &str| dir.path().join(n).display().to_string();
        std::fs::write(path("example.pem"), example.pem()).unwrap();
        std::fs::write(path("other.pem"), other.pem()).unwrap();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server_cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap()
            .self_signed(&server_key)
            .unwrap();
        std::fs::write(path("server.crt"), server_cert.pem()).unwrap();
        std::fs::write(path("server.key"), server_key.serialize_pem()).unwrap();
        let (api_key, revoked_key, expired_key) = (
            format!("wk_valid_{}", super::support::random_id()),
            "wk_revoked_1".to_string(),
            "wk_expired_1".to_string(),
        );
        let jwt = format!(r#"[{{issuer: "https://idp.test", jwks: {jwks}}}]"#);
        let yaml = format!(
            r#"
listeners:
  - {{name: main, address: "127.0.0.1:0"}}
  - name: tls
    address: "127.0.0.1:0"
    tls:
      certFile: "{crt}"
      keyFile: "{key}"
      clientAuth:
        mode: optional
        trustDomains:
          - {{name: example.org, bundleFile: "{ex}"}}
          - {{name: other.org, bundleFile: "{ot}"}}
admin: {{address: "127.0.0.1:0"}}
accessLog: off
virtualServers:
  - name: main
    path: /mcp
    backends: [{{name: conf, url: "{be}"}}]
    auth:
      scopes: {{required: [mcp:tools]}}
      jwt: {jwt}
      dpop: {{mode: accepted}}
      spiffe: {{x509: true, allowedTrustDomains: [example.org]}}
      apiKeys:
        - {{name: good, owner: svc-good, hash: "{h1}", scopes: [mcp:tools], expiresAt: "2099-01-01T00:00:00Z"}}
        - {{name: gone, owner: svc-gone, hash: "{h2}", scopes: [mcp:tools], revoked: true}}
        - {{name: old, owner: svc-old, hash: "{h3}", scopes: [mcp:tools], expiresAt: "2020-01-01T00:00:00Z"}}
  - name: other
    path: /other
    listeners: [main]
    backends: [{{name: conf, url: "{be}"}}]
    auth:
      scopes: {{required: [mcp:tools], methods: {{tools/call: [mcp:call]}}, tools: {{"ec*": [mcp:echo]}}}}
      jwt: {jwt}
      exemptMethods: [server/discover]
  - name: opt
    path: /opt
    listeners: [main]
    backends: [{{name: conf, url: "{be}"}}]
    auth:
      mode: optional
      jwt: {jwt}
"#,
            crt = path("server.crt"),
            key = path("server.key"),
            ex = path("example.pem"),
            ot = path("other.pem"),
            be = backend.url,
            h1 = key_hash(&api_key),
            h2 = key_hash(&revoked_key),
            h3 = key_hash(&expired_key),
        );
        let gw = start_in_process(&yaml, &[]).await;
        let server_root = reqwest::Certificate::from_pem(server_cert.pem().as_bytes()).unwrap();
        Fixture {
            gw,
            backend,
            key,
            example,
            other,
            third,
            server_root,
            api_key,
            revoked_key,
            expired_key,
            yaml,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT` of the plain listener.
    pub fn base(&self) -> String {
        self.gw.base_url()
    }

    /// `https://127.0.0.1:PORT` of the mTLS listener.
    pub fn tls_base(&self) -> String {
        let (_, addr) = self.gw.listeners.iter().find(|(n, _)| n == "tls").unwrap();
        format!("https://{addr}")
    }

    /// Resource URL of `path` on the plain listener.
    pub fn resource(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// Protected Resource Metadata URL of `path` on the plain listener.
    pub fn prm(&self, path: &str) -> String {
        format!("{}/.well-known/oauth-protected-resource{path}", self.base())
    }

    /// Protected Resource Metadata URL of `/mcp` on the TLS listener.
    pub fn tls_prm(&self) -> String {
        format!("{}/.well-known/oauth-protected-resource/mcp", self.tls_base())
    }

    /// A client for `path` on the plain listener.
    pub fn client(&self, path: &str) -> McpClient {
        McpClient::new(&self.resource(path))
    }

    /// A client for `/mcp` on the TLS listener, presenting `cert` if any.
    pub fn tls_client(&self, cert: Option<&Leaf>) -> McpClient {
        let mut b = reqwest::Client::builder().no_proxy().add_root_certificate(self.server_root.clone());
        if let Some(l) = cert {
            b = b.identity(l.identity());
        }
        let mut c = McpClient::new(&format!("{}/mcp", self.tls_base()));
        c.http = b.build().unwrap();
        c
    }

    /// A valid token for `aud` with `scope`, adjusted by `edit`.
    pub fn token_with(&self, aud: &str, edit: impl FnOnce(&mut Value)) -> String {
        let mut c = claims(aud, "alice", "mcp:tools");
        edit(&mut c);
        token(&self.key, "k1", &c)
    }

    /// A valid Bearer token for `/mcp` on the plain listener.
    pub fn good_token(&self) -> String {
        self.token_with(&self.resource("/mcp"), |_| {})
    }

    /// Backend `tools/call`s so far.
    pub fn backend_calls(&self) -> usize {
        self.backend.tool_calls()
    }

    /// Asserts the backend has seen no `tools/call` yet (after `case`).
    pub fn assert_backend_untouched(&self, case: &str) {
        assert_eq!(self.backend_calls(), 0, "{case}: the backend must see nothing");
    }
}

impl Fixture {
    /// Reloads the same configuration (as a SIGHUP or a file edit would).
    pub async fn reload(&self) {
        let cfg = warden::config::load_str(&self.yaml, "test-reload", &|_| None).unwrap();
        self.gw.gateway.reload(cfg).await.unwrap();
    }

    /// Sends an `echo` call with `headers` through `c` and asserts it is
    /// refused exactly as `want` says, without reaching the backend.
    pub async fn expect_refused(
        &self,
        c: &McpClient,
        case: &str,
        id: i64,
        headers: &[(&str, &str)],
        want: &super::support::Want,
    ) {
        let r = super::support::call_echo(c, id, case, headers).await;
        super::support::assert_refused(case, &r, id, want);
        self.assert_backend_untouched(case);
    }
}
