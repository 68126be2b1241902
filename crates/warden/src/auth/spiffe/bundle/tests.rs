use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};
use serde_json::json;

use super::*;

fn td(name: &str) -> TrustDomain {
    TrustDomain::parse(name).unwrap()
}

fn ca_cert() -> (String, Vec<u8>) {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let cert = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
    (cert.pem(), cert.der().to_vec())
}

fn ec_jwk(kid: &str) -> Value {
    let key = KeyPair::generate().unwrap();
    let raw = key.public_key_raw();
    json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "use": "jwt-svid",
        "x": URL_SAFE_NO_PAD.encode(&raw[1..33]), "y": URL_SAFE_NO_PAD.encode(&raw[33..65]),
    })
}

fn x509_key(der: &[u8]) -> Value {
    json!({"kty": "EC", "use": "x509-svid", "x5c": [STANDARD.encode(der)]})
}

fn parse(doc: Value) -> Result<TrustBundle, SpiffeError> {
    TrustBundle::parse_json(td("example.org"), doc.to_string().as_bytes())
}

fn bundle_err(doc: Value) -> BundleError {
    match parse(doc) {
        Err(SpiffeError::Bundle(e)) => e,
        other => panic!("expected a bundle error, got {other:?}"),
    }
}

#[test]
fn parses_the_spiffe_bundle_format() {
    let (_, der) = ca_cert();
    let b = parse(json!({
        "spiffe_sequence": 7, "spiffe_refresh_hint": 300,
        "keys": [x509_key(&der), ec_jwk("k1"), ec_jwk("k2")],
    }))
    .unwrap();
    assert_eq!(b.trust_domain().as_str(), "example.org");
    assert_eq!(b.sequence(), Some(7));
    assert_eq!(b.refresh_hint(), Some(Duration::from_secs(300)));
    assert_eq!(b.x509_authorities(), &[CertificateDer::from(der)]);
    assert_eq!(b.jwt_keys().len(), 2);
    assert!(b.jwt_key("k1").is_some() && b.jwt_key("nope").is_none());
    assert!(!b.is_empty());
}

#[test]
fn sequence_and_refresh_hint_are_optional_but_typed() {
    let b = parse(json!({"keys": []})).unwrap();
    assert_eq!((b.sequence(), b.refresh_hint()), (None, None));
    assert_eq!(bundle_err(json!({"keys": [], "spiffe_sequence": -1})), BundleError::BadSequence);
    assert_eq!(bundle_err(json!({"keys": [], "spiffe_sequence": "1"})), BundleError::BadSequence);
    assert_eq!(bundle_err(json!({"keys": [], "spiffe_refresh_hint": 1.5})), BundleError::BadRefreshHint);
}

#[test]
fn empty_key_set_distrusts_the_domain() {
    let b = parse(json!({"keys": [], "spiffe_sequence": 2})).unwrap();
    assert!(b.is_empty());
}

#[test]
fn keys_array_is_required() {
    assert_eq!(bundle_err(json!({"spiffe_sequence": 1})), BundleError::MissingKeys);
    assert_eq!(bundle_err(json!({"keys": {}})), BundleError::MissingKeys);
    assert!(matches!(bundle_err(json!([1])), BundleError::Json(_)));
    assert!(matches!(
        TrustBundle::parse_json(td("example.org"), b"{not json"),
        Err(SpiffeError::Bundle(BundleError::Json(_)))
    ));
}

#[test]
fn unknown_or_missing_use_and_unknown_kty_are_ignored() {
    let mut unknown_kty = ec_jwk("k3");
    unknown_kty["kty"] = json!("FUTURE");
    let mut no_use = ec_jwk("k4");
    no_use.as_object_mut().unwrap().remove("use");
    let b = parse(json!({"keys": [
        {"kty": "EC", "use": "enc", "x5c": []},
        {"kty": "EC", "use": "X509-SVID", "x5c": []},
        no_use,
        unknown_kty,
    ]}))
    .unwrap();
    assert!(b.is_empty());
}

#[test]
fn x509_svid_key_needs_exactly_one_x5c() {
    let (_, der) = ca_cert();
    let e = STANDARD.encode(&der);
    assert_eq!(
        bundle_err(json!({"keys": [{"kty": "EC", "use": "x509-svid", "x5c": [e, e]}]})),
        BundleError::X5cCount { index: 0, count: 2 }
    );
    assert_eq!(
        bundle_err(json!({"keys": [ec_jwk("a"), {"kty": "EC", "use": "x509-svid", "x5c": []}]})),
        BundleError::X5cCount { index: 1, count: 0 }
    );
    assert_eq!(
        bundle_err(json!({"keys": [{"kty": "EC", "use": "x509-svid"}]})),
        BundleError::X5cCount { index: 0, count: 0 }
    );
}

#[test]
fn x5c_must_be_standard_base64_of_a_certificate() {
    let (_, der) = ca_cert();
    let url_safe = URL_SAFE_NO_PAD.encode(&der);
    for entry in [json!("!!!"), json!(STANDARD.encode(b"junk")), json!(42)] {
        assert_eq!(
            bundle_err(json!({"keys": [{"kty": "EC", "use": "x509-svid", "x5c": [entry]}]})),
            BundleError::BadCertificate(0)
        );
    }
    // Only if the URL-safe alphabet differs for this certificate can it be refused.
    if url_safe.contains(['-', '_']) {
        assert_eq!(
            bundle_err(json!({"keys": [{"kty": "EC", "use": "x509-svid", "x5c": [url_safe]}]})),
            BundleError::BadCertificate(0)
        );
    }
}

#[test]
fn jwt_svid_key_needs_a_unique_kid() {
    let mut no_kid = ec_jwk("x");
    no_kid.as_object_mut().unwrap().remove("kid");
    assert_eq!(bundle_err(json!({"keys": [no_kid]})), BundleError::MissingKid(0));
    let mut empty_kid = ec_jwk("x");
    empty_kid["kid"] = json!("");
    assert_eq!(bundle_err(json!({"keys": [empty_kid]})), BundleError::MissingKid(0));
    assert_eq!(bundle_err(json!({"keys": [ec_jwk("same"), ec_jwk("same")]})), BundleError::DuplicateKid(1));
}

#[test]
fn symmetric_and_broken_jwt_keys_are_refused() {
    let oct = json!({"kty": "oct", "use": "jwt-svid", "kid": "h", "k": "c2VjcmV0"});
    assert_eq!(bundle_err(json!({"keys": [oct]})), BundleError::SymmetricKey(0));
    let mut broken = ec_jwk("b");
    broken["x"] = json!("%%%");
    assert_eq!(bundle_err(json!({"keys": [broken]})), BundleError::BadJwk(0));
    let mut no_kty = ec_jwk("n");
    no_kty.as_object_mut().unwrap().remove("kty");
    assert_eq!(bundle_err(json!({"keys": [no_kty]})), BundleError::NotAJwk(0));
}

#[test]
fn from_pem_reads_every_certificate() {
    let (pem1, der1) = ca_cert();
    let (pem2, der2) = ca_cert();
    let b = TrustBundle::from_pem(td("example.org"), format!("{pem1}\n{pem2}").as_bytes()).unwrap();
    assert_eq!(b.x509_authorities(), &[CertificateDer::from(der1), CertificateDer::from(der2)]);
    assert!(b.jwt_keys().is_empty());
    assert!(matches!(
        TrustBundle::from_pem(td("example.org"), b"no pem here"),
        Err(SpiffeError::Bundle(BundleError::Pem(_)))
    ));
    let junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        TrustBundle::from_pem(td("example.org"), junk.as_bytes()),
        Err(SpiffeError::Bundle(BundleError::Pem(_)))
    ));
}

#[test]
fn workload_parts_accept_jwks_without_use() {
    let (_, der) = ca_cert();
    let mut plain = ec_jwk("plain");
    plain.as_object_mut().unwrap().remove("use");
    let jwks = json!({"keys": [plain, ec_jwk("tagged"), {"kty": "EC", "use": "x509-svid", "x5c": []}]});
    let b = TrustBundle::from_workload_parts(
        td("example.org"),
        vec![CertificateDer::from(der)],
        Some(jwks.to_string().as_bytes()),
    )
    .unwrap();
    assert_eq!(b.x509_authorities().len(), 1);
    let mut kids: Vec<_> = b.jwt_keys().keys().cloned().collect();
    kids.sort();
    assert_eq!(kids, ["plain", "tagged"]);
    assert!(TrustBundle::from_workload_parts(td("example.org"), vec![], None).unwrap().is_empty());
}

#[test]
fn builder_methods_refuse_symmetric_and_duplicate_keys() {
    let jwk: Jwk = serde_json::from_value(ec_jwk("a")).unwrap();
    let b = TrustBundle::new(td("example.org")).with_jwt_key("a", jwk.clone()).unwrap();
    assert!(b.clone().with_jwt_key("a", jwk).is_err());
    let oct: Jwk = serde_json::from_value(json!({"kty": "oct", "k": "c2VjcmV0"})).unwrap();
    assert!(b.with_jwt_key("h", oct).is_err());
}

#[test]
fn bundle_set_is_a_cheap_immutable_snapshot() {
    let a = TrustBundle::new(td("a.org"));
    let (_, der) = ca_cert();
    let b = TrustBundle::new(td("b.org")).with_x509_authority(CertificateDer::from(der));
    let set = BundleSet::from_bundles([a, b]);
    let copy = set.clone();
    assert!(Arc::ptr_eq(&set.bundles, &copy.bundles));
    let grown = set.with_bundle(TrustBundle::new(td("c.org")));
    assert_eq!((set.len(), grown.len()), (2, 3));
    assert!(set.get(&td("b.org")).is_some_and(|b| !b.is_empty()));
    assert!(set.get(&td("c.org")).is_none());
    assert!(BundleSet::new().is_empty());
}

#[tokio::test]
async fn bundle_source_swaps_whole_sets_and_notifies() {
    let source = BundleSource::default();
    let mut changes = source.subscribe();
    let before = source.snapshot();
    assert!(before.is_empty());
    source.replace(BundleSet::from_bundles([TrustBundle::new(td("a.org"))]));
    tokio::time::timeout(Duration::from_secs(5), changes.changed()).await.unwrap().unwrap();
    assert_eq!(*changes.borrow_and_update(), 1);
    assert_eq!(source.version(), 1);
    assert!(before.is_empty(), "an old snapshot does not change");
    let clone = source.clone();
    clone.replace(BundleSet::new());
    assert_eq!(source.version(), 2);
    assert!(source.snapshot().is_empty());
}
