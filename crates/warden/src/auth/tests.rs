//! Unit tests of the authentication pieces that need no server: DPoP proof
//! checks, claim mapping, scope rules, challenges, Authorization parsing.

use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::challenge::{ChallengeInfo, Failure, response};
use super::dpop::{DpopError, DpopVerifier, normalize_url, sha256_b64};
use super::jwt::{act_chain, principal_from_claims};
use super::principal::PrincipalKind;
use crate::config::auth::{ClaimMapping, DEFAULT_DPOP_ALGS, DpopMode, DpopSettings};

fn es256() -> (EncodingKey, Jwk) {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
    let key = EncodingKey::from_ec_der(pkcs8.as_ref());
    let jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    (key, jwk)
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn settings(nonce: bool) -> DpopSettings {
    DpopSettings {
        mode: DpopMode::Accepted,
        algorithms: DEFAULT_DPOP_ALGS.to_vec(),
        max_age: Duration::from_secs(60),
        nonce,
    }
}

const URL: &str = "http://127.0.0.1:8080/mcp";
const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.e30.sig";

fn proof(key: &EncodingKey, jwk: &Jwk, claims: Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.typ = Some("dpop+jwt".into());
    h.jwk = Some(jwk.clone());
    jsonwebtoken::encode(&h, &claims, key).unwrap()
}

fn good_claims() -> Value {
    json!({"htm": "POST", "htu": URL, "iat": now(), "jti": uuid(), "ath": sha256_b64(TOKEN.as_bytes())})
}

fn uuid() -> String {
    format!("{:x}", rand::random::<u128>())
}

#[test]
fn a_correct_proof_is_accepted_once_and_gives_the_key_thumbprint() {
    let (key, jwk) = es256();
    let v = DpopVerifier::new(settings(false), b"k", Default::default());
    let p = proof(&key, &jwk, good_claims());
    let ok = v.verify(&p, "POST", &[URL.into()], TOKEN).unwrap();
    assert_eq!(ok.jkt, jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256).unwrap());
    assert_eq!(v.verify(&p, "POST", &[URL.into()], TOKEN).unwrap_err(), DpopError::Replay);
}

#[test]
fn each_proof_rule_refuses_its_violation() {
    let (key, jwk) = es256();
    let v = DpopVerifier::new(settings(false), b"k", Default::default());
    let check = |claims: Value, method: &str| v.verify(&proof(&key, &jwk, claims), method, &[URL.into()], TOKEN);
    let with = |k: &str, val: Value| {
        let mut c = good_claims();
        c[k] = val;
        c
    };
    assert_eq!(check(good_claims(), "GET").unwrap_err(), DpopError::Method);
    assert_eq!(check(with("htu", json!("http://127.0.0.1:8080/other")), "POST").unwrap_err(), DpopError::Url);
    assert_eq!(check(with("iat", json!(now() - 600)), "POST").unwrap_err(), DpopError::Stale);
    assert_eq!(check(with("iat", json!(now() + 600)), "POST").unwrap_err(), DpopError::Stale);
    assert_eq!(check(with("ath", json!(sha256_b64(b"another token"))), "POST").unwrap_err(), DpopError::Ath);
    // A query and a fragment in htu are ignored; host case and default port are normalized.
    assert!(check(with("htu", json!("HTTP://127.0.0.1:8080/mcp?x=1#f")), "POST").is_ok());
    assert_eq!(normalize_url("https://Example.COM:443/a").unwrap(), "https://example.com/a");

    // typ, a private key in the header, a symmetric alg.
    let mut h = Header::new(Algorithm::ES256);
    h.jwk = Some(jwk.clone());
    h.typ = Some("JWT".into());
    let p = jsonwebtoken::encode(&h, &good_claims(), &key).unwrap();
    assert_eq!(v.verify(&p, "POST", &[URL.into()], TOKEN).unwrap_err(), DpopError::Type);
    let mut h = Header::new(Algorithm::HS256);
    h.typ = Some("dpop+jwt".into());
    h.jwk = Some(jwk.clone());
    let p = jsonwebtoken::encode(&h, &good_claims(), &EncodingKey::from_secret(b"s")).unwrap();
    assert_eq!(v.verify(&p, "POST", &[URL.into()], TOKEN).unwrap_err(), DpopError::Algorithm);
    let mut h = Header::new(Algorithm::ES256);
    h.typ = Some("dpop+jwt".into());
    let mut private = serde_json::to_value(&jwk).unwrap();
    private["d"] = json!("c2VjcmV0");
    h.jwk = Some(jwk.clone());
    let p = jsonwebtoken::encode(&h, &good_claims(), &key).unwrap();
    // Splice the private member into the header as a client might.
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private});
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let rest = p.split_once('.').unwrap().1;
    let spliced = format!("{}.{rest}", b64.encode(header.to_string()));
    assert_eq!(
        v.verify(&spliced, "POST", &[URL.into()], TOKEN).unwrap_err(),
        DpopError::Key("contains a private part")
    );
    // Signed by another key than the embedded one.
    let (other, _) = es256();
    let mut h = Header::new(Algorithm::ES256);
    h.typ = Some("dpop+jwt".into());
    h.jwk = Some(jwk.clone());
    let p = jsonwebtoken::encode(&h, &good_claims(), &other).unwrap();
    assert_eq!(v.verify(&p, "POST", &[URL.into()], TOKEN).unwrap_err(), DpopError::Signature);
}

#[test]
fn nonces_are_required_when_on_and_the_current_one_passes() {
    let (key, jwk) = es256();
    let v = DpopVerifier::new(settings(true), b"secret", Default::default());
    assert_eq!(
        v.verify(&proof(&key, &jwk, good_claims()), "POST", &[URL.into()], TOKEN).unwrap_err(),
        DpopError::UseNonce
    );
    let mut c = good_claims();
    c["nonce"] = json!("made-up");
    assert_eq!(v.verify(&proof(&key, &jwk, c), "POST", &[URL.into()], TOKEN).unwrap_err(), DpopError::UseNonce);
    let mut c = good_claims();
    c["nonce"] = json!(v.current_nonce());
    assert!(v.verify(&proof(&key, &jwk, c), "POST", &[URL.into()], TOKEN).is_ok());
}

/// A config with one listener and a virtual server `a` at `/mcp` (built-in
/// clock), followed by `rest` (its `auth` block, more virtual servers).
fn with_auth(rest: &str) -> crate::config::RawConfig {
    let head = "listeners: [{address: \"127.0.0.1:0\"}]\nvirtualServers:\n  - name: a\n    path: /mcp\n    backends: [{name: a, builtin: clock}]\n";
    serde_norway::from_str(&format!("{head}{rest}")).unwrap()
}

fn mapping() -> ClaimMapping {
    ClaimMapping {
        subject: "sub".into(),
        tenant: vec!["tid".into(), "tenant".into()],
        groups: "groups".into(),
        roles: "realm_access.roles".into(),
        scopes: vec!["scope".into(), "scp".into()],
        client_id: vec!["client_id".into(), "azp".into()],
        agent_id: "agent_id".into(),
        attributes: vec![("employeeId".into(), "employee_id".into())],
    }
}

#[test]
fn claims_become_a_typed_principal_with_its_delegation_chain() {
    let claims = json!({
        "sub": "alice", "tid": "acme", "groups": ["hr"], "realm_access": {"roles": ["manager"]},
        "scope": "mcp:tools openid", "client_id": "agent-app", "employee_id": 42,
        "act": {"sub": "agent-7", "client_id": "planner", "act": {"sub": "orchestrator"}}
    });
    let p = principal_from_claims(claims.as_object().unwrap(), &mapping(), "corp", "https://idp");
    assert_eq!(p.kind, PrincipalKind::User);
    assert_eq!(p.subject, "alice");
    assert_eq!(p.tenant.as_deref(), Some("acme"));
    assert_eq!(p.groups, vec!["hr"]);
    assert_eq!(p.roles, vec!["manager"]);
    assert!(p.scopes.contains("mcp:tools") && p.scopes.contains("openid"));
    assert_eq!(p.act.len(), 2);
    assert_eq!(p.act[0].subject, "agent-7");
    assert_eq!(p.act[1].subject, "orchestrator");
    let agent = p.agent.clone().unwrap();
    assert_eq!((agent.id.as_str(), agent.source), ("planner", "act"));
    assert_eq!(p.attributes.get("employeeId"), Some(&json!(42)));

    // Client credentials: the subject is the client itself.
    let claims = json!({"sub": "ci-bot", "client_id": "ci-bot", "scp": ["mcp:tools"]});
    let p = principal_from_claims(claims.as_object().unwrap(), &mapping(), "corp", "https://idp");
    assert_eq!(p.kind, PrincipalKind::Agent);
    assert!(p.agent.is_none());
    assert!(p.scopes.contains("mcp:tools"));
    assert!(act_chain(claims.as_object().unwrap()).is_empty());
}

#[test]
fn binding_keys_differ_per_principal_and_are_stable() {
    let m = mapping();
    let a = principal_from_claims(json!({"sub": "alice"}).as_object().unwrap(), &m, "p", "https://idp");
    let a2 = principal_from_claims(json!({"sub": "alice", "scope": "x"}).as_object().unwrap(), &m, "p", "https://idp");
    let b = principal_from_claims(json!({"sub": "bob"}).as_object().unwrap(), &m, "p", "https://idp");
    let other_idp = principal_from_claims(json!({"sub": "alice"}).as_object().unwrap(), &m, "p", "https://evil");
    assert_eq!(a.binding_key(), a2.binding_key());
    assert_ne!(a.binding_key(), b.binding_key());
    assert_ne!(a.binding_key(), other_idp.binding_key());
}

fn info() -> ChallengeInfo {
    ChallengeInfo {
        resource_metadata: "http://h/.well-known/oauth-protected-resource/mcp".into(),
        scope: Some("mcp:tools".into()),
        bearer: true,
        dpop_algs: Some("ES256".into()),
        dpop_nonce: None,
    }
}

fn challenges(r: &http::Response<crate::error::Body>) -> Vec<String> {
    r.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap().to_string()).collect()
}

#[test]
fn challenges_follow_rfc_6750_and_9449() {
    let r = response(&Failure::Missing, &info(), None);
    assert_eq!(r.status(), 401);
    assert_eq!(
        challenges(&r),
        vec![
            "Bearer resource_metadata=\"http://h/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:tools\"",
            "DPoP algs=\"ES256\", resource_metadata=\"http://h/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:tools\"",
        ]
    );
    let r = response(&Failure::InsufficientScope(vec!["mcp:tools".into(), "mcp:admin".into()]), &info(), None);
    assert_eq!(r.status(), 403);
    assert!(challenges(&r)[0].starts_with("Bearer error=\"insufficient_scope\", resource_metadata="));
    assert!(challenges(&r)[0].ends_with("scope=\"mcp:tools mcp:admin\""));
    // A DPoP failure is named in the DPoP challenge only.
    let r = response(&Failure::InvalidDpop, &info(), None);
    let c = challenges(&r);
    assert!(!c[0].contains("error="));
    assert!(c[1].starts_with("DPoP error=\"invalid_dpop_proof\", algs=\"ES256\""));
    let mut i = info();
    i.dpop_nonce = Some("n0nce".into());
    let r = response(&Failure::UseDpopNonce, &i, None);
    assert_eq!(r.headers().get("dpop-nonce").unwrap(), "n0nce");
    assert_eq!(response(&Failure::BadRequest("x"), &info(), None).status(), 400);
    assert_eq!(response(&Failure::Unavailable, &info(), None).status(), 503);
}

#[test]
fn scope_rules_collect_every_needed_scope_once() {
    let raw = with_auth(
        r#"
    auth:
      apiKeys: [{name: k, owner: o, hash: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}]
      scopes:
        required: [mcp:tools]
        methods: {"tools/call": [mcp:call, mcp:tools]}
        tools: {"delete_*": [mcp:admin]}
"#,
    );
    let cfg = crate::config::Config::from_raw(raw).unwrap();
    let auth = cfg.virtual_servers[0].auth.clone().unwrap();
    assert_eq!(auth.scopes.needed("tools/list", None), vec!["mcp:tools"]);
    assert_eq!(auth.scopes.needed("tools/call", Some("add")), vec!["mcp:tools", "mcp:call"]);
    assert_eq!(auth.scopes.needed("tools/call", Some("delete_all")), vec!["mcp:tools", "mcp:call", "mcp:admin"]);
    assert_eq!(auth.scopes.supported, vec!["mcp:tools", "mcp:call", "mcp:admin"]);
}

#[test]
fn auth_config_problems_name_their_key_paths() {
    let raw = with_auth(
        r#"
    auth:
      jwt:
        - {issuer: "not a url", algorithms: [HS256, none]}
        - {issuer: "https://idp", jwks: {"nope": 1}}
      apiKeys: [{name: k, owner: o, hash: "md5:abc", expiresAt: "tomorrow"}]
      requireBoundTokens: true
  - name: b
    path: /b
    backends: [{name: a, builtin: clock}]
    auth: {}
"#,
    );
    let problems = crate::config::Config::from_raw(raw).unwrap_err().join("\n");
    for needle in [
        "virtualServers[0].auth.jwt[0].issuer: \"not a url\" is not an absolute http(s) URL",
        "virtualServers[0].auth.jwt[0].algorithms[0]: HS256 is symmetric",
        "virtualServers[0].auth.jwt[0].algorithms[1]: unknown algorithm \"none\"",
        "virtualServers[0].auth.jwt[1].jwks: not a JWKS",
        "virtualServers[0].auth.apiKeys[0].hash: must be `sha256:`",
        "virtualServers[0].auth.requireBoundTokens: needs `dpop` or mTLS",
        "virtualServers[1].auth: no way to authenticate",
    ] {
        assert!(problems.contains(needle), "missing {needle:?} in:\n{problems}");
    }
}

#[test]
fn only_confirmations_warden_enforces_are_accepted() {
    use super::dpop::cnf_is_enforceable;
    assert!(cnf_is_enforceable(&json!({"jkt": "abc"})));
    assert!(cnf_is_enforceable(&json!({"x5t#S256": "abc"})));
    assert!(!cnf_is_enforceable(&json!({"jwk": {"kty": "EC"}})));
    assert!(!cnf_is_enforceable(&json!({"jkt": 7})));
    assert!(!cnf_is_enforceable(&json!({"jkt": ""})));
    assert!(!cnf_is_enforceable(&json!({})));
    assert!(!cnf_is_enforceable(&json!("jkt")));
}

#[test]
fn key_urls_must_be_https_except_on_loopback() {
    use super::jwks::key_url_allowed;
    let ok = |u: &str| key_url_allowed(&url::Url::parse(u).unwrap());
    assert!(ok("https://idp.example.com/keys"));
    assert!(ok("http://127.0.0.1:8080/keys") && ok("http://localhost/keys") && ok("http://[::1]/keys"));
    assert!(!ok("http://idp.example.com/keys") && !ok("http://10.0.0.1/keys") && !ok("ftp://127.0.0.1/k"));
    let raw = with_auth(
        r#"
    auth:
      jwt: [{issuer: "http://idp.example.com"}, {issuer: "https://x", jwksUrl: "http://idp.example.com/k"}]
"#,
    );
    let problems = crate::config::Config::from_raw(raw).unwrap_err().join("\n");
    assert!(problems.contains("auth.jwt[0].issuer: \"http://idp.example.com\" must be https"), "{problems}");
    assert!(problems.contains("auth.jwt[1].jwksUrl: \"http://idp.example.com/k\" must be https"), "{problems}");
}

#[test]
fn a_proof_is_remembered_among_many_others_of_the_same_key() {
    let (key, jwk) = es256();
    let mut s = settings(false);
    s.max_age = Duration::from_secs(1);
    let v = DpopVerifier::new(s, b"k", Default::default());
    let p = proof(&key, &jwk, good_claims());
    assert!(v.verify(&p, "POST", &[URL.into()], TOKEN).is_ok());
    // Many other proofs of the same key in between.
    for _ in 0..200 {
        assert!(v.verify(&proof(&key, &jwk, good_claims()), "POST", &[URL.into()], TOKEN).is_ok());
    }
    assert_eq!(v.verify(&p, "POST", &[URL.into()], TOKEN).unwrap_err(), DpopError::Replay);
}
