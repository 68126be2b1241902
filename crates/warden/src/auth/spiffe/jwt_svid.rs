//! JWT-SVID validation (standards §6, JWT-SVID spec §3–§5).
//!
//! Order of checks, each failing closed:
//! 1. compact JWS with three parts; header `alg` in the allow-list
//!    (RS256/384/512, ES256/384, PS256/384/512), `kid` present, `typ` (if
//!    any) `JWT` or `JOSE`, no `crit`;
//! 2. the unverified `sub` is read **only** to pick a bundle: it must be a
//!    SPIFFE ID, its trust domain must be known and its bundle non-empty;
//! 3. the key with the header's `kid` is looked up in **that** bundle only, so
//!    a key of another trust domain can never vouch for this subject;
//! 4. signature, `exp` (required), `aud` (required, must contain one of the
//!    accepted audiences), `nbf` if present, and `sub` equal to step 2's.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde_json::{Map, Value};

use super::SpiffeError;
use super::bundle::BundleSet;
use super::id::{IdError, SpiffeId, TrustDomain, parse_id};

/// Largest clock-skew leeway honoured; larger values are clamped.
pub const MAX_LEEWAY: Duration = Duration::from_secs(3600);

/// Why a JWT-SVID was refused. No variant carries the token or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtSvidError {
    /// Not a compact JWS, or its header or claims are not base64url JSON objects.
    #[error("JWT-SVID is malformed: {0}")]
    Malformed(&'static str),
    /// The header `alg` is not RS/ES/PS 256–512 (e.g. `none` or `HS256`).
    #[error("JWT-SVID alg {0:?} is not allowed")]
    AlgNotAllowed(String),
    /// The header `alg` is allowed by the spec but not supported here (ES512).
    #[error("JWT-SVID alg {0} is not supported")]
    AlgUnsupported(&'static str),
    /// The header has no `kid`.
    #[error("JWT-SVID header has no kid")]
    MissingKid,
    /// The header `typ` is present and neither `JWT` nor `JOSE`.
    #[error("JWT-SVID header typ must be JWT or JOSE")]
    BadTyp,
    /// The header has `crit`, which no extension here understands.
    #[error("JWT-SVID header has crit parameters")]
    CriticalHeader,
    /// No `sub` claim (or not a string).
    #[error("JWT-SVID has no sub claim")]
    MissingSubject,
    /// `sub` is not a valid SPIFFE ID.
    #[error("JWT-SVID sub is not a SPIFFE ID: {0}")]
    BadSubject(IdError),
    /// No bundle is known for the subject's trust domain.
    #[error("no trust bundle for trust domain {0}")]
    UnknownTrustDomain(TrustDomain),
    /// The subject's trust domain bundle is empty: the domain is distrusted.
    #[error("trust bundle for {0} is empty; the domain is distrusted")]
    DistrustedTrustDomain(TrustDomain),
    /// The `kid` is not a JWT key of the subject's trust domain.
    #[error("no JWT-SVID key with this kid in the bundle of {0}")]
    UnknownKeyId(TrustDomain),
    /// The bundle key cannot be used with the header `alg`.
    #[error("bundle key does not match the JWT-SVID alg")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("JWT-SVID signature is invalid")]
    BadSignature,
    /// A required claim is missing: `exp`, `aud` or `sub`.
    #[error("JWT-SVID has no {0} claim")]
    MissingClaim(String),
    /// A claim has the wrong type.
    #[error("JWT-SVID claim {0} has the wrong type")]
    BadClaim(String),
    /// `exp` is in the past (beyond the leeway).
    #[error("JWT-SVID has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("JWT-SVID is not yet valid")]
    NotYetValid,
    /// `aud` contains none of the accepted audiences.
    #[error("JWT-SVID audience does not include this validator")]
    AudienceMismatch,
    /// The caller gave no audience to accept.
    #[error("no accepted audience configured for JWT-SVID validation")]
    NoAudienceConfigured,
}

/// A validated JWT-SVID.
#[derive(Debug, Clone, PartialEq)]
pub struct JwtSvid {
    /// The subject.
    pub id: SpiffeId,
    /// The `aud` claim, as a list.
    pub audience: Vec<String>,
    /// The `exp` claim, seconds since the Unix epoch.
    pub expiry: u64,
    /// All claims, as signed.
    pub claims: Map<String, Value>,
}

/// Validates `token` against `bundles`, accepting it if its `aud` contains
/// at least one of `audiences`. See the module documentation for the checks.
pub fn validate_jwt_svid(
    token: &str,
    bundles: &BundleSet,
    audiences: &[String],
    leeway: Duration,
) -> Result<JwtSvid, SpiffeError> {
    Ok(validate(token, bundles, audiences, leeway)?)
}

fn validate(token: &str, bundles: &BundleSet, audiences: &[String], leeway: Duration) -> Result<JwtSvid, JwtSvidError> {
    if audiences.is_empty() {
        return Err(JwtSvidError::NoAudienceConfigured);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtSvidError::Malformed("not a compact JWS with three parts"));
    };
    let header = json_part(header_b64, "header")?;
    let (alg, kid) = check_header(&header)?;

    // Unverified: used only to choose the trust domain's bundle.
    let unverified = json_part(claims_b64, "claims")?;
    let sub = unverified.get("sub").and_then(Value::as_str).ok_or(JwtSvidError::MissingSubject)?;
    let id = parse_id(sub).map_err(JwtSvidError::BadSubject)?;
    let td = id.trust_domain();
    let bundle = bundles.get(td).ok_or_else(|| JwtSvidError::UnknownTrustDomain(td.clone()))?;
    if bundle.is_empty() {
        return Err(JwtSvidError::DistrustedTrustDomain(td.clone()));
    }
    let jwk = bundle.jwt_key(kid).ok_or_else(|| JwtSvidError::UnknownKeyId(td.clone()))?;
    let key = decoding_key(jwk, alg)?;

    let mut validation = Validation::new(alg);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    validation.set_audience(audiences);
    validation.sub = Some(sub.to_owned());
    validation.leeway = leeway.min(MAX_LEEWAY).as_secs();
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|e| map_jwt_error(e.kind()))?
        .claims;

    let audience = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => return Err(JwtSvidError::BadClaim("aud".into())),
    };
    let expiry = claims.get("exp").and_then(Value::as_u64).ok_or_else(|| JwtSvidError::BadClaim("exp".into()))?;
    Ok(JwtSvid { id, audience, expiry, claims })
}

fn json_part(b64: &str, what: &'static str) -> Result<Map<String, Value>, JwtSvidError> {
    let bytes = URL_SAFE_NO_PAD.decode(b64).map_err(|_| JwtSvidError::Malformed(what))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtSvidError::Malformed(what)),
    }
}

/// The allowed algorithm and the `kid` of a header.
fn check_header(header: &Map<String, Value>) -> Result<(Algorithm, &str), JwtSvidError> {
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some(alg) => allowed_alg(alg)?,
        None => return Err(JwtSvidError::AlgNotAllowed(String::new())),
    };
    if header.contains_key("crit") {
        return Err(JwtSvidError::CriticalHeader);
    }
    match header.get("typ") {
        None => {}
        Some(Value::String(t)) if t == "JWT" || t == "JOSE" => {}
        Some(_) => return Err(JwtSvidError::BadTyp),
    }
    match header.get("kid").and_then(Value::as_str) {
        Some(kid) if !kid.is_empty() => Ok((alg, kid)),
        _ => Err(JwtSvidError::MissingKid),
    }
}

fn allowed_alg(alg: &str) -> Result<Algorithm, JwtSvidError> {
    Ok(match alg {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "ES512" => return Err(JwtSvidError::AlgUnsupported("ES512")),
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        other => return Err(JwtSvidError::AlgNotAllowed(other.chars().take(16).collect())),
    })
}

/// The verification key for `alg`, refusing a JWK whose own `alg` or key
/// family says otherwise.
fn decoding_key(jwk: &Jwk, alg: Algorithm) -> Result<DecodingKey, JwtSvidError> {
    if let Some(key_alg) = jwk.common.key_algorithm {
        match key_alg.to_string().parse::<Algorithm>() {
            Ok(a) if a == alg => {}
            _ => return Err(JwtSvidError::KeyMismatch),
        }
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| JwtSvidError::KeyMismatch)?;
    if key.family() != alg.family() {
        return Err(JwtSvidError::KeyMismatch);
    }
    Ok(key)
}

fn map_jwt_error(kind: &ErrorKind) -> JwtSvidError {
    match kind {
        ErrorKind::InvalidSignature => JwtSvidError::BadSignature,
        ErrorKind::ExpiredSignature => JwtSvidError::Expired,
        ErrorKind::ImmatureSignature => JwtSvidError::NotYetValid,
        ErrorKind::InvalidAudience => JwtSvidError::AudienceMismatch,
        ErrorKind::InvalidSubject => JwtSvidError::Malformed("sub changed after bundle selection"),
        ErrorKind::MissingRequiredClaim(c) => JwtSvidError::MissingClaim(c.clone()),
        ErrorKind::InvalidClaimFormat(c) => JwtSvidError::BadClaim(c.clone()),
        ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::InvalidAlgorithm
        | ErrorKind::UnsupportedAlgorithm => JwtSvidError::KeyMismatch,
        _ => JwtSvidError::Malformed("rejected by the JWS decoder"),
    }
}

#[cfg(test)]
mod tests;
