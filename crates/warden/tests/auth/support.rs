//! Fixtures for the front-door authentication tests: signing keys and
//! hand-built JWTs, DPoP proofs, a SPIFFE PKI, tiny in-test HTTP servers, a
//! counting pass-through in front of the conformance backend, and strict
//! checks of refusals (status, parsed challenges, JSON-RPC body).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use futures::TryStreamExt;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use test_support::{McpClient, Proc, Reply, spawn_conformance_server};

/// Issuer of the test tokens.
pub const ISSUER: &str = "https://idp.test";
/// DPoP algorithms Warden advertises by default.
pub const DPOP_ALGS: &str = "ES256 ES384 RS256 PS256 EdDSA";

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type RespBody = UnsyncBoxBody<Bytes, BoxError>;

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// base64url(SHA-256(data)).
pub fn sha256_b64(data: &[u8]) -> String {
    B64.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data))
}

/// A random identifier.
pub fn random_id() -> String {
    B64.encode(rand::random::<[u8; 16]>())
}

pub fn full(b: impl Into<Bytes>) -> RespBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed_unsync()
}

pub fn json_resp(status: u16, v: &Value) -> Response<RespBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(serde_json::to_vec(v).unwrap()))
        .unwrap()
}

// ---------------------------------------------------------------- keys, JWTs

/// A P-256 signing key and its public JWK.
pub struct EcKey {
    pub enc: EncodingKey,
    /// Public JWK (x, y only).
    pub jwk: Jwk,
    /// SPKI PEM of the public key.
    pub public_pem: String,
}

impl EcKey {
    pub fn generate() -> EcKey {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let enc = EncodingKey::from_ec_der(&kp.serialize_der());
        let jwk = Jwk::from_encoding_key(&enc, Algorithm::ES256).unwrap();
        let v = serde_json::to_value(&jwk).unwrap();
        assert!(v.get("d").is_none(), "the published JWK must not carry the private key: {v}");
        assert!(v["x"].is_string() && v["y"].is_string(), "EC public JWK: {v}");
        EcKey { enc, jwk, public_pem: kp.public_key_pem() }
    }

    /// The public JWK as JSON, with `kid` and `use: sig`.
    pub fn public_jwk(&self, kid: &str) -> Value {
        let mut v = serde_json::to_value(&self.jwk).unwrap();
        v["kid"] = json!(kid);
        v["use"] = json!("sig");
        v
    }

    /// RFC 7638 thumbprint, computed here (not with the library Warden uses).
    pub fn thumbprint(&self) -> String {
        let v = serde_json::to_value(&self.jwk).unwrap();
        let canon = format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            v["crv"].as_str().unwrap(),
            v["x"].as_str().unwrap(),
            v["y"].as_str().unwrap()
        );
        sha256_b64(canon.as_bytes())
    }
}

/// A compact JWS over raw JSON header and claims, signed with `key` as `alg`.
pub fn jws(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(serde_json::to_vec(header).unwrap()),
        B64.encode(serde_json::to_vec(claims).unwrap())
    );
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).unwrap();
    format!("{input}.{sig}")
}

/// ES256 access token with `kid`.
pub fn token(key: &EcKey, kid: &str, claims: &Value) -> String {
    jws(&json!({"alg": "ES256", "typ": "at+jwt", "kid": kid}), claims, &key.enc, Algorithm::ES256)
}

/// Access-token claims for `aud`, valid now, with `scope`.
pub fn claims(aud: &str, sub: &str, scope: &str) -> Value {
    let t = now();
    json!({
        "iss": ISSUER, "sub": sub, "aud": aud, "iat": t, "nbf": t, "exp": t + 600,
        "scope": scope, "client_id": "test-client", "jti": random_id(),
    })
}

/// Claims of a DPoP proof for `htm htu` carrying `ath` of `token`.
pub fn proof_claims(htm: &str, htu: &str, token: &str) -> Value {
    json!({"jti": random_id(), "htm": htm, "htu": htu, "iat": now(), "ath": sha256_b64(token.as_bytes())})
}

/// A DPoP proof signed by `key` with its public JWK in the header.
pub fn proof(key: &EcKey, claims: &Value) -> String {
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": serde_json::to_value(&key.jwk).unwrap()});
    jws(&header, claims, &key.enc, Algorithm::ES256)
}

/// Splits a compact JWS into its decoded header/claims and the signature.
pub fn split_jws(t: &str) -> (Value, Value, String) {
    let parts: Vec<&str> = t.split('.').collect();
    assert_eq!(parts.len(), 3);
    let dec = |s: &str| serde_json::from_slice::<Value>(&B64.decode(s).unwrap()).unwrap();
    (dec(parts[0]), dec(parts[1]), parts[2].to_string())
}

// ---------------------------------------------------------------- SPIFFE PKI

/// A CA (the X.509 authority of one trust domain).
pub struct Ca {
    pub issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

/// A client certificate and its key.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        p.distinguished_name.push(rcgen::DnType::CommonName, format!("{name} test CA"));
        let key = rcgen::KeyPair::generate().unwrap();
        Ca { issuer: rcgen::CertifiedIssuer::self_signed(p, key).unwrap() }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A client certificate with these URI SANs (an X.509-SVID when there is
    /// exactly one `spiffe://` URI).
    pub fn leaf(&self, uris: &[&str]) -> Leaf {
        self.leaf_with(uris, vec![rcgen::KeyUsagePurpose::DigitalSignature])
    }

    /// A client certificate with these URI SANs and key usages.
    pub fn leaf_with(&self, uris: &[&str], key_usages: Vec<rcgen::KeyUsagePurpose>) -> Leaf {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.subject_alt_names = uris
            .iter()
            .map(|u| rcgen::SanType::URI(rcgen::string::Ia5String::try_from(u.to_string()).unwrap()))
            .collect();
        p.is_ca = rcgen::IsCa::ExplicitNoCa;
        p.key_usages = key_usages;
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        p.distinguished_name.push(rcgen::DnType::CommonName, "test workload");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().to_vec() }
    }
}

impl Leaf {
    /// RFC 8705 `x5t#S256`.
    pub fn x5t(&self) -> String {
        sha256_b64(&self.der)
    }

    pub fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(format!("{}{}", self.cert_pem, self.key_pem).as_bytes()).unwrap()
    }
}

// ---------------------------------------------------------------- HTTP servers

/// An in-test HTTP server on loopback; stops accepting when dropped.
pub struct HttpServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves HTTP/1.1 and h2c with `handler` on 127.0.0.1:0.
pub async fn http_server<F, Fut>(handler: F) -> HttpServer
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<RespBody>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let h = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let h = h.clone();
                    async move { Ok::<_, Infallible>(h(req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    HttpServer { addr, task }
}

/// The conformance backend behind a pass-through that counts the
/// `tools/call` POSTs it forwards and notes any credential header it sees.
pub struct CountingBackend {
    /// URL Warden uses for the backend (the pass-through).
    pub url: String,
    tool_calls: Arc<AtomicUsize>,
    credentials: Arc<parking_lot::Mutex<Vec<String>>>,
    _server: HttpServer,
    _proc: Proc,
}

const CREDENTIAL_HEADERS: [&str; 4] = ["authorization", "dpop", "cookie", "x-api-key"];

impl CountingBackend {
    pub async fn start() -> CountingBackend {
        let (proc, backend_url) = spawn_conformance_server();
        let parsed = url::Url::parse(&backend_url).unwrap();
        let origin = format!("http://{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap());
        let tool_calls = Arc::new(AtomicUsize::new(0));
        let credentials = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let (calls, creds) = (tool_calls.clone(), credentials.clone());
        let server = http_server(move |req: Request<Incoming>| {
            let (client, origin, calls, creds) = (client.clone(), origin.clone(), calls.clone(), creds.clone());
            async move {
                let (parts, body) = req.into_parts();
                let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
                if parts.method == http::Method::POST && bytes.windows(12).any(|w| w == b"\"tools/call\"") {
                    calls.fetch_add(1, Ordering::SeqCst);
                }
                for h in CREDENTIAL_HEADERS {
                    if parts.headers.contains_key(h) {
                        creds.lock().push(format!("{h} on {} {}", parts.method, parts.uri));
                    }
                }
                let pq = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let mut rb = client.request(parts.method.clone(), format!("{origin}{pq}"));
                for (k, v) in &parts.headers {
                    if !matches!(k.as_str(), "host" | "content-length" | "connection" | "transfer-encoding") {
                        rb = rb.header(k, v);
                    }
                }
                let resp = match rb.body(bytes).send().await {
                    Ok(r) => r,
                    Err(e) => return json_resp(502, &json!({"proxy_error": e.to_string()})),
                };
                let mut out = Response::builder().status(resp.status());
                for (k, v) in resp.headers() {
                    if !matches!(k.as_str(), "content-length" | "connection" | "transfer-encoding") {
                        out = out.header(k, v);
                    }
                }
                let stream = resp.bytes_stream().map_ok(Frame::data).map_err(|e| Box::new(e) as BoxError);
                out.body(BodyExt::boxed_unsync(StreamBody::new(stream))).unwrap()
            }
        })
        .await;
        let url = format!("http://{}{}", server.addr, parsed.path());
        CountingBackend { url, tool_calls, credentials, _server: server, _proc: proc }
    }

    /// `tools/call` requests the backend has received.
    pub fn tool_calls(&self) -> usize {
        self.tool_calls.load(Ordering::SeqCst)
    }

    /// Credential headers that reached the backend (should be none).
    pub fn credential_headers(&self) -> Vec<String> {
        self.credentials.lock().clone()
    }
}

// ---------------------------------------------------------------- requests

/// Headers of a modern (2026-07-28) request for `method` (and tool `name`).
pub fn modern_headers<'a>(method: &'a str, name: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", method)];
    if let Some(n) = name {
        h.push(("mcp-name", n));
    }
    h
}

/// A modern JSON-RPC request body.
pub fn modern_body(id: i64, method: &str, mut params: Value) -> Vec<u8> {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).unwrap()
}

/// A modern `tools/call` of `echo` with `message`, plus `extra` headers.
pub async fn call_echo(c: &McpClient, id: i64, message: &str, extra: &[(&str, &str)]) -> Reply {
    let mut h = modern_headers("tools/call", Some("echo"));
    h.extend_from_slice(extra);
    c.post_raw(modern_body(id, "tools/call", json!({"name": "echo", "arguments": {"message": message}})), &h).await
}

/// Asserts a successful echo.
pub fn assert_echoed(case: &str, r: &Reply, message: &str) {
    assert_eq!(r.status, 200, "{case}: {r:?}");
    assert_eq!(r.result()["content"][0]["text"], message, "{case}: {r:?}");
}

// ---------------------------------------------------------------- refusals

/// One parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

/// Parses one challenge (`Scheme k="v", k2="v2"`) strictly.
pub fn parse_challenge(v: &str) -> Challenge {
    let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
    assert!(!scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric()), "scheme in {v:?}");
    let mut params = BTreeMap::new();
    let mut s = rest.trim_start();
    for _ in 0..32 {
        if s.is_empty() {
            return Challenge { scheme: scheme.to_string(), params };
        }
        let (name, after) = s.split_once('=').unwrap_or_else(|| panic!("auth-param without '=' in {v:?}"));
        let name = name.trim();
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "param name {name:?} in {v:?}");
        let after = after.trim_start();
        let (value, rest) = if let Some(q) = after.strip_prefix('"') {
            let mut val = String::new();
            let mut end = None;
            let mut chars = q.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => val.push(chars.next().map(|(_, n)| n).unwrap_or('\\')),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => val.push(c),
                }
            }
            (val, &q[end.unwrap_or_else(|| panic!("unterminated quoted-string in {v:?}"))..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        assert!(params.insert(name.to_ascii_lowercase(), value).is_none(), "duplicate param {name} in {v:?}");
        s = rest.trim_start();
        if let Some(r) = s.strip_prefix(',') {
            s = r.trim_start();
        } else {
            assert!(s.is_empty(), "junk after a param in {v:?}");
        }
    }
    panic!("too many params in {v:?}")
}

/// Every `WWW-Authenticate` challenge of a reply, by scheme.
pub fn challenges(r: &Reply) -> BTreeMap<String, Challenge> {
    let mut out = BTreeMap::new();
    for v in r.headers.get_all("www-authenticate") {
        let c = parse_challenge(v.to_str().unwrap());
        assert!(out.insert(c.scheme.clone(), c.clone()).is_none(), "two {} challenges: {r:?}", c.scheme);
    }
    out
}

/// What a refusal must look like exactly.
#[derive(Debug, Clone)]
pub struct Want {
    pub status: u16,
    pub rpc_code: i64,
    /// `error` in the body's `data` (and in the challenges that carry it).
    pub data_error: Option<&'static str>,
    /// Bearer challenge: absent (None), or present with this `error` (Some(None) = no error).
    pub bearer: Option<Option<&'static str>>,
    /// DPoP challenge, likewise.
    pub dpop: Option<Option<&'static str>>,
    /// `scope` in the challenges.
    pub scope: Option<String>,
    /// `resource_metadata` in the challenges.
    pub resource_metadata: String,
}

impl Want {
    /// 401 on a virtual server with DPoP accepted: both challenges name `error`.
    pub fn unauthorized(error: Option<&'static str>, prm: &str, scope: Option<&str>) -> Want {
        Want {
            status: 401,
            rpc_code: -32001,
            data_error: error,
            bearer: Some(error),
            dpop: Some(error),
            scope: scope.map(str::to_string),
            resource_metadata: prm.to_string(),
        }
    }

    /// 401 for a bad DPoP proof: the error is in the DPoP challenge only.
    pub fn bad_proof(prm: &str, scope: Option<&str>) -> Want {
        Want {
            status: 401,
            rpc_code: -32001,
            data_error: Some("invalid_dpop_proof"),
            bearer: Some(None),
            dpop: Some(Some("invalid_dpop_proof")),
            scope: scope.map(str::to_string),
            resource_metadata: prm.to_string(),
        }
    }

    /// 403 `insufficient_scope` naming `scope`.
    pub fn insufficient_scope(prm: &str, scope: &str, dpop: bool) -> Want {
        Want {
            status: 403,
            rpc_code: -32003,
            data_error: Some("insufficient_scope"),
            bearer: Some(Some("insufficient_scope")),
            dpop: dpop.then_some(Some("insufficient_scope")),
            scope: Some(scope.to_string()),
            resource_metadata: prm.to_string(),
        }
    }

    /// 400 `invalid_request` (one Bearer challenge).
    pub fn bad_request(prm: &str, scope: Option<&str>) -> Want {
        Want {
            status: 400,
            rpc_code: -32600,
            data_error: Some("invalid_request"),
            bearer: Some(Some("invalid_request")),
            dpop: None,
            scope: scope.map(str::to_string),
            resource_metadata: prm.to_string(),
        }
    }

    /// 403 without a challenge (identity not allowed here).
    pub fn forbidden() -> Want {
        Want {
            status: 403,
            rpc_code: -32003,
            data_error: None,
            bearer: None,
            dpop: None,
            scope: None,
            resource_metadata: String::new(),
        }
    }

    /// Without the DPoP challenge (virtual server without DPoP).
    pub fn no_dpop(mut self) -> Want {
        self.dpop = None;
        self
    }
}

/// Asserts that `r` (the answer to JSON-RPC request `id`) is exactly `want`.
pub fn assert_refused(case: &str, r: &Reply, id: i64, want: &Want) {
    assert_eq!(r.status, want.status, "{case}: status; reply {r:?}");
    let body = r.last();
    assert_eq!(body["jsonrpc"], "2.0", "{case}: body {body}");
    assert_eq!(body["id"], json!(id), "{case}: body id; body {body}");
    assert!(body.get("result").is_none(), "{case}: body {body}");
    assert_eq!(body["error"]["code"], json!(want.rpc_code), "{case}: body {body}");
    match want.data_error {
        Some(e) => assert_eq!(body["error"]["data"]["error"], e, "{case}: body {body}"),
        None => assert!(body["error"]["data"].get("error").is_none(), "{case}: body {body}"),
    }
    assert_eq!(r.headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"), "{case}: {r:?}");
    assert!(r.headers.get("dpop-nonce").is_none(), "{case}: nonces are off: {r:?}");
    let ch = challenges(r);
    let expected: Vec<&str> =
        [want.bearer.map(|_| "Bearer"), want.dpop.map(|_| "DPoP")].into_iter().flatten().collect();
    assert_eq!(ch.keys().map(String::as_str).collect::<Vec<_>>(), expected, "{case}: challenge schemes; {r:?}");
    for (scheme, error) in [("Bearer", want.bearer), ("DPoP", want.dpop)] {
        let Some(error) = error else { continue };
        let c = &ch[scheme];
        let mut keys = vec!["resource_metadata"];
        assert_eq!(c.params["resource_metadata"], want.resource_metadata, "{case}: {scheme} resource_metadata");
        match error {
            Some(e) => {
                keys.push("error");
                assert_eq!(c.params.get("error").map(String::as_str), Some(e), "{case}: {scheme} error; {c:?}");
            }
            None => assert!(!c.params.contains_key("error"), "{case}: {scheme} must carry no error; {c:?}"),
        }
        if let Some(s) = &want.scope {
            keys.push("scope");
            assert_eq!(c.params.get("scope"), Some(s), "{case}: {scheme} scope; {c:?}");
        }
        if scheme == "DPoP" {
            keys.push("algs");
            assert_eq!(c.params.get("algs").map(String::as_str), Some(DPOP_ALGS), "{case}: DPoP algs; {c:?}");
        }
        keys.sort_unstable();
        let mut got: Vec<&str> = c.params.keys().map(String::as_str).collect();
        got.sort_unstable();
        assert_eq!(got, keys, "{case}: {scheme} params; {c:?}");
    }
}
