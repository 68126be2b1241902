use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use rcgen::KeyPair;
use serde_json::json;

use super::*;
use crate::auth::spiffe::bundle::TrustBundle;

const AUD: &str = "spiffe://example.org/warden";

/// A signing key and the public JWK a bundle would carry for it.
struct Signer {
    key: EncodingKey,
    jwk: Jwk,
    alg: Algorithm,
}

fn es256() -> Signer {
    let pair = KeyPair::generate().unwrap();
    let key = EncodingKey::from_ec_der(&pair.serialize_der());
    let jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    Signer { key, jwk, alg: Algorithm::ES256 }
}

fn td(name: &str) -> TrustDomain {
    TrustDomain::parse(name).unwrap()
}

fn bundle(name: &str, keys: &[(&str, &Signer)]) -> TrustBundle {
    keys.iter().fold(TrustBundle::new(td(name)), |b, (kid, s)| b.with_jwt_key(kid, s.jwk.clone()).unwrap())
}

fn sign(s: &Signer, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(s.alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, &s.key).unwrap()
}

fn claims(sub: &str) -> Value {
    json!({"sub": sub, "aud": [AUD], "exp": get_current_timestamp() + 300, "iat": get_current_timestamp()})
}

fn check(token: &str, set: &BundleSet) -> Result<JwtSvid, JwtSvidError> {
    match validate_jwt_svid(token, set, &[AUD.to_owned()], Duration::from_secs(30)) {
        Ok(svid) => Ok(svid),
        Err(SpiffeError::JwtSvid(e)) => Err(e),
        Err(other) => panic!("unexpected error kind {other:?}"),
    }
}

/// A token with any header, claims and a dummy signature, for checks that
/// happen before the signature is looked at.
fn unsigned(header: &Value, claims: &Value) -> String {
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{}", enc(header), enc(claims), URL_SAFE_NO_PAD.encode(b"sig"))
}

struct Fixture {
    a: Signer,
    set: BundleSet,
}

fn fixture() -> Fixture {
    let a = es256();
    let set = BundleSet::from_bundles([bundle("example.org", &[("k1", &a)])]);
    Fixture { a, set }
}

#[test]
fn valid_token_yields_subject_audience_expiry_and_claims() {
    let f = fixture();
    let mut c = claims("spiffe://example.org/agent");
    c["aud"] = json!(["other", AUD]);
    c["team"] = json!("blue");
    let svid = check(&sign(&f.a, Some("k1"), &c), &f.set).unwrap();
    assert_eq!(svid.id.to_string(), "spiffe://example.org/agent");
    assert_eq!(svid.audience, ["other", AUD]);
    assert_eq!(svid.expiry, c["exp"].as_u64().unwrap());
    assert_eq!(svid.claims["team"], "blue");
}

#[test]
fn single_string_audience_is_accepted() {
    let f = fixture();
    let mut c = claims("spiffe://example.org/agent");
    c["aud"] = json!(AUD);
    assert_eq!(check(&sign(&f.a, Some("k1"), &c), &f.set).unwrap().audience, [AUD]);
}

#[test]
fn wrong_audience_is_refused() {
    let f = fixture();
    let mut c = claims("spiffe://example.org/agent");
    c["aud"] = json!(["spiffe://example.org/someone-else"]);
    assert_eq!(check(&sign(&f.a, Some("k1"), &c), &f.set), Err(JwtSvidError::AudienceMismatch));
    c["aud"] = json!([]);
    assert_eq!(check(&sign(&f.a, Some("k1"), &c), &f.set), Err(JwtSvidError::AudienceMismatch));
}

#[test]
fn missing_audience_is_refused() {
    let f = fixture();
    let mut c = claims("spiffe://example.org/agent");
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(check(&sign(&f.a, Some("k1"), &c), &f.set), Err(JwtSvidError::MissingClaim("aud".into())));
}

#[test]
fn expired_token_is_refused_beyond_the_leeway() {
    let f = fixture();
    let mut c = claims("spiffe://example.org/agent");
    c["exp"] = json!(get_current_timestamp() - 3600);
    assert_eq!(check(&sign(&f.a, Some("k1"), &c), &f.set), Err(JwtSvidError::Expired));
    c["exp"] = json!(get_current_timestamp() - 10);
    assert!(check(&sign(&f.a, Some("k1"), &c), &f.set).is_ok(), "10 s late is within the 30 s leeway");
}

#[test]
fn missing_expiry_is_refused() {
    let f = fixture();
    let mut c = claims("spiffe://example.org/agent");
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(check(&sign(&f.a, Some("k1"), &c), &f.set), Err(JwtSvidError::MissingClaim("exp".into())));
}

#[test]
fn future_not_before_is_refused() {
    let f = fixture();
    let mut c = claims("spiffe://example.org/agent");
    c["nbf"] = json!(get_current_timestamp() + 3600);
    assert_eq!(check(&sign(&f.a, Some("k1"), &c), &f.set), Err(JwtSvidError::NotYetValid));
}

#[test]
fn only_the_subjects_trust_domain_bundle_is_used() {
    let a = es256();
    let b = es256();
    // Both domains publish a key under the same kid.
    let set = BundleSet::from_bundles([bundle("a.org", &[("k1", &a)]), bundle("b.org", &[("k1", &b)])]);
    let by_b_for_a = sign(&b, Some("k1"), &claims("spiffe://a.org/agent"));
    assert_eq!(check(&by_b_for_a, &set), Err(JwtSvidError::BadSignature));
    let by_b_for_b = sign(&b, Some("k1"), &claims("spiffe://b.org/agent"));
    assert_eq!(check(&by_b_for_b, &set).unwrap().id.to_string(), "spiffe://b.org/agent");
    let by_a_for_a = sign(&a, Some("k1"), &claims("spiffe://a.org/agent"));
    assert!(check(&by_a_for_a, &set).is_ok());
    // A token of domain B is never checked against A's keys.
    let only_a = BundleSet::from_bundles([bundle("a.org", &[("k1", &a)])]);
    let by_a_for_b = sign(&a, Some("k1"), &claims("spiffe://b.org/agent"));
    assert_eq!(check(&by_a_for_b, &only_a), Err(JwtSvidError::UnknownTrustDomain(td("b.org"))));
}

#[test]
fn unknown_kid_is_refused() {
    let f = fixture();
    let token = sign(&f.a, Some("k2"), &claims("spiffe://example.org/agent"));
    assert_eq!(check(&token, &f.set), Err(JwtSvidError::UnknownKeyId(td("example.org"))));
}

#[test]
fn missing_kid_is_refused() {
    let f = fixture();
    let token = sign(&f.a, None, &claims("spiffe://example.org/agent"));
    assert_eq!(check(&token, &f.set), Err(JwtSvidError::MissingKid));
}

#[test]
fn empty_bundle_distrusts_the_domain() {
    let f = fixture();
    let set = BundleSet::from_bundles([TrustBundle::new(td("example.org"))]);
    let token = sign(&f.a, Some("k1"), &claims("spiffe://example.org/agent"));
    assert_eq!(check(&token, &set), Err(JwtSvidError::DistrustedTrustDomain(td("example.org"))));
}

#[test]
fn hs256_is_refused() {
    let f = fixture();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let token = encode(&header, &claims("spiffe://example.org/agent"), &EncodingKey::from_secret(b"secret")).unwrap();
    assert_eq!(check(&token, &f.set), Err(JwtSvidError::AlgNotAllowed("HS256".into())));
}

#[test]
fn alg_none_is_refused() {
    let f = fixture();
    let c = claims("spiffe://example.org/agent");
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!("{}.{}.", enc(&json!({"alg": "none", "kid": "k1"})), enc(&c));
    assert_eq!(check(&token, &f.set), Err(JwtSvidError::AlgNotAllowed("none".into())));
    let no_alg = unsigned(&json!({"kid": "k1"}), &c);
    assert_eq!(check(&no_alg, &f.set), Err(JwtSvidError::AlgNotAllowed(String::new())));
}

#[test]
fn es512_and_eddsa_are_refused() {
    let f = fixture();
    let c = claims("spiffe://example.org/agent");
    let es512 = unsigned(&json!({"alg": "ES512", "kid": "k1"}), &c);
    assert_eq!(check(&es512, &f.set), Err(JwtSvidError::AlgUnsupported("ES512")));
    let eddsa = unsigned(&json!({"alg": "EdDSA", "kid": "k1"}), &c);
    assert_eq!(check(&eddsa, &f.set), Err(JwtSvidError::AlgNotAllowed("EdDSA".into())));
}

#[test]
fn header_typ_and_crit_are_checked() {
    let f = fixture();
    let c = claims("spiffe://example.org/agent");
    let bad_typ = unsigned(&json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"}), &c);
    assert_eq!(check(&bad_typ, &f.set), Err(JwtSvidError::BadTyp));
    let crit = unsigned(&json!({"alg": "ES256", "kid": "k1", "crit": ["exp"]}), &c);
    assert_eq!(check(&crit, &f.set), Err(JwtSvidError::CriticalHeader));
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("k1".into());
    header.typ = Some("JOSE".into());
    assert!(check(&encode(&header, &c, &f.a.key).unwrap(), &f.set).is_ok());
}

#[test]
fn subject_must_be_a_spiffe_id() {
    let f = fixture();
    let token = sign(&f.a, Some("k1"), &claims("agent@example.org"));
    assert_eq!(check(&token, &f.set), Err(JwtSvidError::BadSubject(IdError::WrongScheme)));
    let mut c = claims("x");
    c.as_object_mut().unwrap().remove("sub");
    assert_eq!(check(&sign(&f.a, Some("k1"), &c), &f.set), Err(JwtSvidError::MissingSubject));
    c["sub"] = json!(42);
    assert_eq!(check(&sign(&f.a, Some("k1"), &c), &f.set), Err(JwtSvidError::MissingSubject));
}

#[test]
fn tampered_token_is_refused() {
    let f = fixture();
    let token = sign(&f.a, Some("k1"), &claims("spiffe://example.org/agent"));
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(claims("spiffe://example.org/admin").to_string());
    parts[1] = &forged;
    assert_eq!(check(&parts.join("."), &f.set), Err(JwtSvidError::BadSignature));
    let other = es256();
    let wrong_key = sign(&other, Some("k1"), &claims("spiffe://example.org/agent"));
    assert_eq!(check(&wrong_key, &f.set), Err(JwtSvidError::BadSignature));
}

#[test]
fn malformed_tokens_are_refused() {
    let f = fixture();
    for token in ["", "a.b", "a.b.c.d", "a.b.c.d.e", "!!.!!.!!", "e30.e30"] {
        assert!(matches!(check(token, &f.set), Err(JwtSvidError::Malformed(_))), "{token:?}");
    }
    let array_header = format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode("[]"));
    assert!(matches!(check(&array_header, &f.set), Err(JwtSvidError::Malformed(_))));
}

#[test]
fn key_that_does_not_fit_the_alg_is_refused() {
    let a = es256();
    let mut declared_384 = a.jwk.clone();
    declared_384.common.key_algorithm = Some(jsonwebtoken::jwk::KeyAlgorithm::ES384);
    let set = BundleSet::from_bundles([TrustBundle::new(td("example.org")).with_jwt_key("k1", declared_384).unwrap()]);
    let token = sign(&a, Some("k1"), &claims("spiffe://example.org/agent"));
    assert_eq!(check(&token, &set), Err(JwtSvidError::KeyMismatch));
    // An EC key cannot verify an RSA-family alg.
    let f = fixture();
    let rs = unsigned(&json!({"alg": "RS256", "kid": "k1"}), &claims("spiffe://example.org/agent"));
    assert_eq!(check(&rs, &f.set), Err(JwtSvidError::KeyMismatch));
}

#[test]
fn an_audience_must_be_configured() {
    let f = fixture();
    let token = sign(&f.a, Some("k1"), &claims("spiffe://example.org/agent"));
    assert_eq!(validate_jwt_svid(&token, &f.set, &[], Duration::ZERO), Err(JwtSvidError::NoAudienceConfigured.into()));
}

#[test]
fn rsa_pss_tokens_verify() {
    let pair = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
    let key = EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).unwrap();
    let jwk = Jwk::from_encoding_key(&key, Algorithm::PS256).unwrap();
    let s = Signer { key, jwk, alg: Algorithm::PS256 };
    let set = BundleSet::from_bundles([bundle("example.org", &[("rsa", &s)])]);
    let token = sign(&s, Some("rsa"), &claims("spiffe://example.org/agent"));
    assert!(check(&token, &set).is_ok());
}
