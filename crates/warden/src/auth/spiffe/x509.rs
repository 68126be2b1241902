//! X.509-SVID leaf checks (standards §6, X509-SVID §4 and §5): the SPIFFE ID
//! a leaf certificate carries, and the leaf's RFC 8705 `x5t#S256` thumbprint.
//!
//! This is the identity half of X.509-SVID validation. Path validation (the
//! chain up to an authority of the **ID's** trust domain bundle) is the TLS
//! verifier's job, with the bundle chosen by the ID returned here.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_X509_EXT_BASIC_CONSTRAINTS, OID_X509_EXT_KEY_USAGE, OID_X509_EXT_SUBJECT_ALT_NAME, Oid,
};
use x509_parser::prelude::FromDer as _;

use super::SpiffeError;
use super::id::{IdError, SpiffeId, parse_id};

/// Why a certificate is not a valid X.509-SVID leaf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum X509SvidError {
    /// The bytes are not one DER-encoded X.509 certificate.
    #[error("X.509-SVID is not a DER certificate")]
    Malformed,
    /// An extension the checks rely on is repeated or cannot be parsed.
    #[error("X.509-SVID has an unparseable or repeated {0} extension")]
    BadExtension(&'static str),
    /// The leaf does not have exactly one URI SAN.
    #[error("X.509-SVID must have exactly one URI SAN; it has {0}")]
    UriSanCount(usize),
    /// The URI SAN is not a valid SPIFFE ID.
    #[error("X.509-SVID URI SAN is not a SPIFFE ID: {0}")]
    NotSpiffeId(IdError),
    /// The leaf is a CA (`basicConstraints cA=true`).
    #[error("X.509-SVID leaf must not be a CA")]
    LeafIsCa,
    /// The leaf has no KeyUsage extension.
    #[error("X.509-SVID leaf must have a KeyUsage extension")]
    MissingKeyUsage,
    /// KeyUsage lacks `digitalSignature`.
    #[error("X.509-SVID leaf KeyUsage must include digitalSignature")]
    NoDigitalSignature,
    /// KeyUsage has `keyCertSign`.
    #[error("X.509-SVID leaf KeyUsage must not include keyCertSign")]
    KeyCertSign,
    /// KeyUsage has `cRLSign`.
    #[error("X.509-SVID leaf KeyUsage must not include cRLSign")]
    CrlSign,
}

/// The SPIFFE ID of an X.509-SVID leaf certificate (DER), after checking the
/// leaf rules: exactly one URI SAN holding a valid SPIFFE ID (other SAN types
/// are allowed), not a CA, and a KeyUsage with `digitalSignature` but
/// neither `keyCertSign` nor `cRLSign`.
pub fn svid_id(leaf_der: &[u8]) -> Result<SpiffeId, SpiffeError> {
    let cert = match X509Certificate::from_der(leaf_der) {
        Ok(([], cert)) => cert,
        _ => return Err(X509SvidError::Malformed.into()),
    };
    let id = single_uri_san(&cert)?;
    check_not_ca(&cert)?;
    check_key_usage(&cert)?;
    Ok(id)
}

/// The RFC 8705 `x5t#S256` confirmation value of a certificate: the
/// unpadded base64url SHA-256 of its DER encoding.
pub fn cert_thumbprint_s256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, der))
}

/// The parsed form of the extension with `oid`, refusing duplicates and
/// extensions x509-parser could not decode.
fn extension<'a>(
    cert: &'a X509Certificate<'_>,
    oid: &Oid<'static>,
    name: &'static str,
) -> Result<Option<&'a ParsedExtension<'a>>, X509SvidError> {
    match cert.get_extension_unique(oid) {
        Ok(None) => Ok(None),
        Ok(Some(ext)) => match ext.parsed_extension() {
            ParsedExtension::ParseError { .. } | ParsedExtension::UnsupportedExtension { .. } => {
                Err(X509SvidError::BadExtension(name))
            }
            parsed => Ok(Some(parsed)),
        },
        Err(_) => Err(X509SvidError::BadExtension(name)),
    }
}

fn single_uri_san(cert: &X509Certificate<'_>) -> Result<SpiffeId, X509SvidError> {
    let uris: Vec<&str> = match extension(cert, &OID_X509_EXT_SUBJECT_ALT_NAME, "subjectAltName")? {
        Some(ParsedExtension::SubjectAlternativeName(san)) => san
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::URI(uri) => Some(*uri),
                _ => None,
            })
            .collect(),
        Some(_) => return Err(X509SvidError::BadExtension("subjectAltName")),
        None => Vec::new(),
    };
    match uris.as_slice() {
        [uri] => parse_id(uri).map_err(X509SvidError::NotSpiffeId),
        other => Err(X509SvidError::UriSanCount(other.len())),
    }
}

fn check_not_ca(cert: &X509Certificate<'_>) -> Result<(), X509SvidError> {
    match extension(cert, &OID_X509_EXT_BASIC_CONSTRAINTS, "basicConstraints")? {
        Some(ParsedExtension::BasicConstraints(bc)) if bc.ca => Err(X509SvidError::LeafIsCa),
        Some(ParsedExtension::BasicConstraints(_)) | None => Ok(()),
        Some(_) => Err(X509SvidError::BadExtension("basicConstraints")),
    }
}

fn check_key_usage(cert: &X509Certificate<'_>) -> Result<(), X509SvidError> {
    let ku = match extension(cert, &OID_X509_EXT_KEY_USAGE, "keyUsage")? {
        Some(ParsedExtension::KeyUsage(ku)) => ku,
        Some(_) => return Err(X509SvidError::BadExtension("keyUsage")),
        None => return Err(X509SvidError::MissingKeyUsage),
    };
    if !ku.digital_signature() {
        return Err(X509SvidError::NoDigitalSignature);
    }
    if ku.key_cert_sign() {
        return Err(X509SvidError::KeyCertSign);
    }
    if ku.crl_sign() {
        return Err(X509SvidError::CrlSign);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
