//! What the connection itself says about the caller: its address and, on
//! mTLS listeners, the verified client certificate. The listener attaches a
//! [`ConnInfo`] to every request it reads from the connection.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;

/// Facts about the connection a request arrived on.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: Option<SocketAddr>,
    /// The client certificate, verified during the handshake.
    pub client_cert: Option<Arc<ClientCert>>,
}

/// A verified client certificate.
#[derive(Debug)]
pub struct ClientCert {
    /// base64url SHA-256 of the leaf DER (RFC 8705 `x5t#S256`).
    pub x5t_s256: String,
    /// The SPIFFE ID, when the leaf is a valid X.509-SVID; `Err` says why a
    /// certificate that looks like an SVID (a `spiffe://` URI SAN) is not one.
    pub spiffe: Option<Result<String, String>>,
}

impl ClientCert {
    /// Reads the leaf of a verified chain.
    pub fn from_chain(chain: &[CertificateDer<'_>]) -> Option<ClientCert> {
        let leaf = chain.first()?;
        let x5t_s256 = crate::auth::dpop::sha256_b64(leaf.as_ref());
        let looks_spiffe = uri_sans(leaf.as_ref()).iter().any(|u| u.starts_with("spiffe://"));
        let spiffe = looks_spiffe.then(|| {
            crate::auth::spiffe::x509::svid_id(leaf.as_ref()).map(|id| id.to_string()).map_err(|e| e.to_string())
        });
        Some(ClientCert { x5t_s256, spiffe })
    }
}

/// The [`ConnInfo`] for a TLS connection after the handshake.
pub fn from_tls(peer: SocketAddr, conn: &rustls::ServerConnection) -> ConnInfo {
    let client_cert = conn.peer_certificates().and_then(ClientCert::from_chain).map(Arc::new);
    ConnInfo { peer: Some(peer), client_cert }
}

/// The URI SANs of a certificate (empty when it cannot be parsed).
pub fn uri_sans(der: &[u8]) -> Vec<String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let Ok((_, cert)) = X509Certificate::from_der(der) else { return Vec::new() };
    let Ok(Some(san)) = cert.subject_alternative_name() else { return Vec::new() };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(u) => Some(u.to_string()),
            _ => None,
        })
        .collect()
}
