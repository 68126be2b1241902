//! TLS for listeners, with rustls (aws-lc-rs provider) from PEM files.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsFiles;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Unreadable or invalid certificate file.
    #[error("certificate file {0}: {1}")]
    Cert(String, String),
    /// Unreadable or invalid key file.
    #[error("key file {0}: {1}")]
    Key(String, String),
    /// rustls refused the pair.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// A rustls server config for `files`, offering the given ALPN protocols.
pub fn server_config(
    files: &TlsFiles,
    http1: bool,
    http2: bool,
    http: &reqwest::Client,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_path = files.cert_file.display().to_string();
    let key_path = files.key_file.display().to_string();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert_file)
        .map_err(|e| TlsError::Cert(cert_path.clone(), e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Cert(cert_path.clone(), e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Cert(cert_path, "no certificate found".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key_file).map_err(|e| TlsError::Key(key_path, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match &files.client_auth {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = Vec::new();
            for f in &ca.ca_files {
                let p = f.display().to_string();
                for c in CertificateDer::pem_file_iter(f).map_err(|e| TlsError::Cert(p.clone(), e.to_string()))? {
                    roots.push(c.map_err(|e| TlsError::Cert(p.clone(), e.to_string()))?);
                }
            }
            let trust = crate::auth::svid_trust::SvidTrust::start(&ca.trust_domains, http);
            let mandatory = ca.mode == crate::config::auth::ClientAuthMode::Required;
            let v = super::mtls::ClientVerifier::new(&roots, trust, mandatory, provider)
                .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(Arc::new(v))
        }
    };
    let mut cfg = builder.with_single_cert(certs, key).map_err(|e| TlsError::Config(e.to_string()))?;
    let mut alpn = Vec::new();
    if http2 {
        alpn.push(b"h2".to_vec());
    }
    if http1 {
        alpn.push(b"http/1.1".to_vec());
    }
    cfg.alpn_protocols = alpn;
    Ok(Arc::new(cfg))
}
