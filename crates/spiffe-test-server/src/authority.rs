//! One trust domain's signing authorities: an rcgen CA for X.509-SVIDs and
//! a P-256 key for JWT-SVIDs (ES256). Rotating a domain means replacing its
//! [`DomainAuthority`] with a fresh one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};
use serde_json::{Map, Value, json};

use crate::error::TestServerError;

/// How an issued X.509-SVID is shaped: correct, or broken on purpose.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SvidShape {
    /// One URI SAN, `digitalSignature`, `cA=false`, signed by the ID's own
    /// trust domain CA.
    #[default]
    Valid,
    /// Two URI SANs: the ID and `<ID>-alias`.
    TwoUriSans,
    /// Correct in form, but signed by the CA of this other trust domain, so
    /// path validation against the ID's own bundle must fail.
    SignedByOtherDomain(String),
}

/// An issued X.509-SVID.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedX509Svid {
    /// The SPIFFE ID the SVID was issued for.
    pub spiffe_id: String,
    /// DER leaf certificate (the chain has no intermediates).
    pub cert_der: Vec<u8>,
    /// PKCS#8 DER private key of the leaf.
    pub key_pkcs8_der: Vec<u8>,
}

impl std::fmt::Debug for IssuedX509Svid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedX509Svid").field("spiffe_id", &self.spiffe_id).finish_non_exhaustive()
    }
}

/// A trust domain's CA and JWT signing key.
pub struct DomainAuthority {
    trust_domain: String,
    issuer: Issuer<'static, KeyPair>,
    ca_der: Vec<u8>,
    jwt_key: EncodingKey,
    jwt_x: String,
    jwt_y: String,
    jwt_kid: String,
}

impl DomainAuthority {
    /// Fresh keys for `trust_domain` (a bare name such as `example.org`).
    pub fn new(trust_domain: &str) -> Result<Self, TestServerError> {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, format!("{trust_domain} test CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.subject_alt_names = vec![uri_san(&format!("spiffe://{trust_domain}"))?];
        (params.not_before, params.not_after) = validity(Duration::from_secs(24 * 3600));
        let ca_key = KeyPair::generate()?;
        let ca_der = params.self_signed(&ca_key)?.der().to_vec();

        let jwt_pair = KeyPair::generate()?;
        let raw = jwt_pair.public_key_raw();
        // Uncompressed P-256 point: 0x04 || X (32 bytes) || Y (32 bytes).
        let (x, y) = match raw {
            [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
            _ => return Err(TestServerError::Certificate(rcgen::Error::KeyGenerationUnavailable)),
        };
        let kid = URL_SAFE_NO_PAD.encode(&digest::digest(&digest::SHA256, raw).as_ref()[..12]);
        Ok(Self {
            trust_domain: trust_domain.to_owned(),
            issuer: Issuer::new(params, ca_key),
            ca_der,
            jwt_key: EncodingKey::from_ec_der(&jwt_pair.serialize_der()),
            jwt_x: URL_SAFE_NO_PAD.encode(x),
            jwt_y: URL_SAFE_NO_PAD.encode(y),
            jwt_kid: kid,
        })
    }

    /// The trust domain name.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The CA certificate (DER): the domain's X.509 bundle.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The `kid` of the JWT signing key.
    pub fn jwt_kid(&self) -> &str {
        &self.jwt_kid
    }

    /// The public JWT key as a JWK, without `use`, as SPIRE's Workload API
    /// sends it.
    pub fn jwk(&self) -> Value {
        json!({"kty": "EC", "crv": "P-256", "kid": self.jwt_kid, "x": self.jwt_x, "y": self.jwt_y})
    }

    /// The domain's JWT bundle: a JWKS with one key.
    pub fn jwks(&self) -> String {
        json!({ "keys": [self.jwk()] }).to_string()
    }

    /// Signs a leaf for `uris` (normally one) with this CA.
    pub fn issue_x509(&self, spiffe_id: &str, uris: &[String]) -> Result<IssuedX509Svid, TestServerError> {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, "SPIFFE workload");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.subject_alt_names = uris.iter().map(|u| uri_san(u)).collect::<Result<_, _>>()?;
        params.use_authority_key_identifier_extension = true;
        (params.not_before, params.not_after) = validity(Duration::from_secs(3600));
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedX509Svid {
            spiffe_id: spiffe_id.to_owned(),
            cert_der: cert.der().to_vec(),
            key_pkcs8_der: key.serialize_der(),
        })
    }

    /// A JWT-SVID (ES256, `kid`, `typ: JWT`) for `sub` and `audience`,
    /// expiring after `ttl`, signed with this domain's key.
    pub fn sign_jwt(&self, sub: &str, audience: &[String], ttl: Duration) -> Result<String, TestServerError> {
        let now = unix_now();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.jwt_kid.clone());
        header.typ = Some("JWT".into());
        let claims = json!({"sub": sub, "aud": audience, "exp": now + ttl.as_secs(), "iat": now});
        Ok(jsonwebtoken::encode(&header, &claims, &self.jwt_key)?)
    }

    /// Verifies a token this domain signed, for `audience`; its claims.
    pub fn verify_jwt(&self, token: &str, audience: &str) -> Result<Map<String, Value>, TestServerError> {
        let header = jsonwebtoken::decode_header(token)?;
        if header.kid.as_deref() != Some(self.jwt_kid.as_str()) {
            return Err(jsonwebtoken::errors::Error::from(jsonwebtoken::errors::ErrorKind::InvalidSignature).into());
        }
        let key = DecodingKey::from_ec_components(&self.jwt_x, &self.jwt_y)?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        validation.set_audience(&[audience]);
        validation.leeway = 0;
        Ok(jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)?.claims)
    }
}

fn uri_san(uri: &str) -> Result<SanType, TestServerError> {
    let uri = Ia5String::try_from(uri).map_err(|_| TestServerError::InvalidSpiffeId(uri.to_owned()))?;
    Ok(SanType::URI(uri))
}

/// From a minute ago (clock skew) until `ttl` from now.
fn validity(ttl: Duration) -> (time::OffsetDateTime, time::OffsetDateTime) {
    let now = time::OffsetDateTime::now_utc();
    (now - time::Duration::minutes(1), now + ttl)
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
