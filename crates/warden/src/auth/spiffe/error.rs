//! The one error type of the SPIFFE library code: each area (IDs, X.509-SVIDs,
//! bundles, JWT-SVIDs) has its own precise enum, and [`SpiffeError`] says
//! which area refused the input.

use super::bundle::BundleError;
use super::id::IdError;
use super::jwt_svid::JwtSvidError;
use super::x509::X509SvidError;

/// Why SPIFFE input was refused. Every message is safe to log: none carries a
/// token, a key or a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpiffeError {
    /// A SPIFFE ID or trust domain name broke a rule.
    #[error(transparent)]
    Id(#[from] IdError),
    /// A certificate is not a valid X.509-SVID leaf.
    #[error(transparent)]
    X509Svid(#[from] X509SvidError),
    /// A trust bundle could not be read.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A JWT-SVID was refused.
    #[error(transparent)]
    JwtSvid(#[from] JwtSvidError),
}
