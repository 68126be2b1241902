//! The crate's one error type. The crate is small and test-only, so its
//! modules share it rather than each defining its own.

/// Why the test server could not do what it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestServerError {
    /// Binding or serving the Unix socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// rcgen could not build a key or certificate.
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// A JWT could not be signed.
    #[error("JWT: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
    /// The trust domain has not been added with `add_trust_domain`.
    #[error("unknown trust domain {0:?}")]
    UnknownTrustDomain(String),
    /// Not `spiffe://<trust domain>[/path]`.
    #[error("not a SPIFFE ID: {0:?}")]
    InvalidSpiffeId(String),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}
