use rcgen::string::Ia5String;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};

use super::*;

struct Ca {
    issuer: Issuer<'static, KeyPair>,
}

fn ca() -> Ca {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.subject_alt_names = vec![uri("spiffe://example.org")];
    Ca { issuer: Issuer::new(params, KeyPair::generate().unwrap()) }
}

fn uri(s: &str) -> SanType {
    SanType::URI(Ia5String::try_from(s).unwrap())
}

/// A valid SVID's parameters; each test breaks one thing.
fn svid_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.subject_alt_names = vec![uri("spiffe://example.org/agent")];
    params
}

fn issue(ca: &Ca, params: &CertificateParams) -> Vec<u8> {
    let key = KeyPair::generate().unwrap();
    params.signed_by(&key, &ca.issuer).unwrap().der().to_vec()
}

fn x509_err(der: &[u8]) -> X509SvidError {
    match svid_id(der) {
        Err(SpiffeError::X509Svid(e)) => e,
        other => panic!("expected an X.509-SVID error, got {other:?}"),
    }
}

#[test]
fn valid_svid_yields_its_id() {
    let der = issue(&ca(), &svid_params());
    assert_eq!(svid_id(&der).unwrap().to_string(), "spiffe://example.org/agent");
}

#[test]
fn absent_basic_constraints_and_extra_dns_sans_are_fine() {
    let mut params = svid_params();
    params.is_ca = IsCa::NoCa;
    params.subject_alt_names.push(SanType::DnsName(Ia5String::try_from("agent.example.org").unwrap()));
    params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    let der = issue(&ca(), &params);
    assert_eq!(svid_id(&der).unwrap().to_string(), "spiffe://example.org/agent");
}

#[test]
fn two_uri_sans_are_refused_with_the_count() {
    let mut params = svid_params();
    params.subject_alt_names.push(uri("spiffe://example.org/other"));
    let e = x509_err(&issue(&ca(), &params));
    assert_eq!(e, X509SvidError::UriSanCount(2));
    assert!(e.to_string().contains("it has 2"), "{e}");
}

#[test]
fn no_uri_san_is_refused() {
    let mut params = svid_params();
    params.subject_alt_names = vec![SanType::DnsName(Ia5String::try_from("agent.example.org").unwrap())];
    assert_eq!(x509_err(&issue(&ca(), &params)), X509SvidError::UriSanCount(0));
    let mut params = svid_params();
    params.subject_alt_names.clear();
    assert_eq!(x509_err(&issue(&ca(), &params)), X509SvidError::UriSanCount(0));
}

#[test]
fn non_spiffe_uri_is_refused() {
    let mut params = svid_params();
    params.subject_alt_names = vec![uri("https://example.org/agent")];
    assert_eq!(x509_err(&issue(&ca(), &params)), X509SvidError::NotSpiffeId(IdError::WrongScheme));
    params.subject_alt_names = vec![uri("spiffe://example.org/agent/")];
    assert_eq!(x509_err(&issue(&ca(), &params)), X509SvidError::NotSpiffeId(IdError::TrailingSlash));
}

#[test]
fn ca_leaf_is_refused() {
    let mut params = svid_params();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    assert_eq!(x509_err(&issue(&ca(), &params)), X509SvidError::LeafIsCa);
}

#[test]
fn key_usage_is_required() {
    let mut params = svid_params();
    params.key_usages.clear();
    assert_eq!(x509_err(&issue(&ca(), &params)), X509SvidError::MissingKeyUsage);
}

#[test]
fn key_usage_needs_digital_signature() {
    let mut params = svid_params();
    params.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    assert_eq!(x509_err(&issue(&ca(), &params)), X509SvidError::NoDigitalSignature);
}

#[test]
fn key_cert_sign_usage_is_refused() {
    let mut params = svid_params();
    params.key_usages.push(KeyUsagePurpose::KeyCertSign);
    assert_eq!(x509_err(&issue(&ca(), &params)), X509SvidError::KeyCertSign);
}

#[test]
fn crl_sign_usage_is_refused() {
    let mut params = svid_params();
    params.key_usages.push(KeyUsagePurpose::CrlSign);
    assert_eq!(x509_err(&issue(&ca(), &params)), X509SvidError::CrlSign);
}

#[test]
fn garbage_and_trailing_bytes_are_refused() {
    assert_eq!(x509_err(b"not a certificate"), X509SvidError::Malformed);
    assert_eq!(x509_err(&[]), X509SvidError::Malformed);
    let mut der = issue(&ca(), &svid_params());
    der.push(0);
    assert_eq!(x509_err(&der), X509SvidError::Malformed);
}

#[test]
fn thumbprint_is_base64url_sha256_of_der() {
    // SHA-256("abc"), RFC 6234 test vector, base64url without padding.
    assert_eq!(cert_thumbprint_s256(b"abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    let der = issue(&ca(), &svid_params());
    let t = cert_thumbprint_s256(&der);
    assert_eq!(t.len(), 43);
    assert!(!t.contains(['=', '+', '/']));
}
