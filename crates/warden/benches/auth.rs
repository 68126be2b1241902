//! Criterion benchmarks of front-door authentication.
//!
//! - `jwt/es256_cached_key`: one ES256 access token verified by a provider
//!   whose key is already cached (signature, time claims, issuer, audience,
//!   claim mapping into the principal).
//! - `dpop/es256_proof`: one fresh DPoP proof checked against its token
//!   (header, embedded JWK, signature, htm/htu/iat/ath, thumbprint, replay cache).
//! - `gateway/tools_call_echo/modern/{open,bearer_jwt,dpop_jwt}`: a whole
//!   modern `tools/call` through `Gateway::handle` against a built-in
//!   backend, without authentication, with a Bearer JWT, and with a
//!   DPoP-bound JWT and its proof — the ratio is the price of authentication.
//!
//! Run: `cargo bench -p warden --bench auth`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "benchmark set-up, not a request path")]

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::{BodyExt, Full};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use warden::auth::dpop::{DpopVerifier, sha256_b64};
use warden::auth::jwks::KeyStore;
use warden::auth::jwt::JwtProvider;
use warden::config::auth::{DEFAULT_DPOP_ALGS, DpopMode, DpopSettings, KeySource};
use warden::gateway::Gateway;

const ISSUER: &str = "https://idp.bench";
const RESOURCE: &str = "http://127.0.0.1:8080/mcp";

fn key() -> (EncodingKey, Jwk) {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
    let key = EncodingKey::from_ec_der(pkcs8.as_ref());
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some("k1".into());
    (key, jwk)
}

fn token(key: &EncodingKey, jkt: Option<&str>) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("k1".into());
    h.typ = Some("at+jwt".into());
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({"iss": ISSUER, "sub": "alice", "aud": RESOURCE, "exp": now + 3600, "iat": now,
        "scope": "mcp:tools openid", "client_id": "bench-client", "groups": ["eng"]});
    if let Some(j) = jkt {
        claims["cnf"] = json!({"jkt": j});
    }
    jsonwebtoken::encode(&h, &claims, key).unwrap()
}

fn proof(key: &EncodingKey, jwk: &Jwk, access_token: &str) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.typ = Some("dpop+jwt".into());
    h.jwk = Some(jwk.clone());
    let claims = json!({"htm": "POST", "htu": RESOURCE, "iat": jsonwebtoken::get_current_timestamp(),
        "jti": format!("{:x}", rand::random::<u128>()), "ath": sha256_b64(access_token.as_bytes())});
    jsonwebtoken::encode(&h, &claims, key).unwrap()
}

fn jwt(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (signing, jwk) = key();
    let cfg = warden::config::load_str(&auth_config(&jwk), "bench", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let settings = cfg.virtual_servers[1].auth.clone().unwrap().jwt[0].clone();
    let store = KeyStore::new(
        ISSUER,
        KeySource::Static(JwkSet { keys: vec![jwk] }),
        reqwest::Client::new(),
        Duration::from_secs(300),
        Duration::from_secs(30),
    );
    let provider = JwtProvider::new(settings, store);
    let t = token(&signing, None);
    let header = jsonwebtoken::decode_header(&t).unwrap();
    let audiences = vec![RESOURCE.to_string()];
    assert!(rt.block_on(provider.verify(&t, &header, &audiences)).is_ok());
    let mut g = c.benchmark_group("jwt");
    g.bench_function("es256_cached_key", |b| {
        b.iter(|| rt.block_on(provider.verify(black_box(&t), &header, &audiences)).is_ok())
    });
    g.finish();
}

fn dpop(c: &mut Criterion) {
    let (signing, jwk) = key();
    let verifier = DpopVerifier::new(
        DpopSettings {
            mode: DpopMode::Accepted,
            algorithms: DEFAULT_DPOP_ALGS.to_vec(),
            max_age: Duration::from_secs(60),
            nonce: false,
        },
        b"bench",
        Default::default(),
    );
    let t = token(&signing, None);
    let urls = vec![RESOURCE.to_string()];
    let mut g = c.benchmark_group("dpop");
    g.bench_function("es256_proof", |b| {
        b.iter_batched(
            || proof(&signing, &jwk, &t),
            |p| verifier.verify(black_box(&p), "POST", &urls, &t).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn auth_config(jwk: &Jwk) -> String {
    format!(
        r#"
listeners: [{{name: main, address: "127.0.0.1:8080"}}]
accessLog: off
virtualServers:
  - name: open
    path: /open
    backends: [{{name: clock, builtin: clock}}]
  - name: protected
    path: /mcp
    backends: [{{name: clock, builtin: clock}}]
    auth:
      scopes: {{required: [mcp:tools]}}
      jwt: [{{issuer: "{ISSUER}", jwks: {{keys: [{}]}}}}]
      dpop: {{mode: accepted}}
"#,
        serde_json::to_string(jwk).unwrap()
    )
}

const ECHO: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;

fn post(path: &str, auth: &[(&str, String)]) -> Request<Full<Bytes>> {
    let mut b = Request::post(format!("http://127.0.0.1:8080{path}"))
        .header("host", "127.0.0.1:8080")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo");
    for (k, v) in auth {
        b = b.header(*k, v);
    }
    b.body(Full::new(Bytes::from_static(ECHO.as_bytes()))).unwrap()
}

async fn round_trip(gw: &Arc<Gateway>, req: Request<Full<Bytes>>) -> u16 {
    let runtime = gw.runtime();
    let resp = gw.handle(&runtime.config.listeners[0], req).await;
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await.unwrap();
    status
}

fn gateway(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (signing, jwk) = key();
    let cfg = warden::config::load_str(&auth_config(&jwk), "bench", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let gw = rt.block_on(async {
        let gw = Gateway::new(cfg).unwrap();
        gw.probe_backends().await;
        gw
    });
    let bearer = token(&signing, None);
    let jkt = jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256).unwrap();
    let bound = token(&signing, Some(&jkt));
    let bearer_h = vec![("authorization", format!("Bearer {bearer}"))];
    assert_eq!(rt.block_on(round_trip(&gw, post("/open", &[]))), 200);
    assert_eq!(rt.block_on(round_trip(&gw, post("/mcp", &bearer_h))), 200);
    assert_eq!(rt.block_on(round_trip(&gw, post("/mcp", &[]))), 401);
    let dpop_h = |p: String| vec![("authorization", format!("DPoP {bound}")), ("dpop", p)];
    assert_eq!(rt.block_on(round_trip(&gw, post("/mcp", &dpop_h(proof(&signing, &jwk, &bound))))), 200);

    let mut g = c.benchmark_group("gateway");
    g.bench_function("tools_call_echo/modern/open", |b| b.iter(|| rt.block_on(round_trip(&gw, post("/open", &[])))));
    g.bench_function("tools_call_echo/modern/bearer_jwt", |b| {
        b.iter(|| rt.block_on(round_trip(&gw, post("/mcp", &bearer_h))))
    });
    g.bench_function("tools_call_echo/modern/dpop_jwt", |b| {
        b.iter_batched(
            || post("/mcp", &dpop_h(proof(&signing, &jwk, &bound))),
            |req| rt.block_on(round_trip(&gw, req)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
    gw.begin_shutdown();
}

criterion_group! {
    name = benches;
    config = common::short();
    targets = jwt, dpop, gateway
}
criterion_main!(benches);
