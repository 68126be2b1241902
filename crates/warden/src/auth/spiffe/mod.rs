//! SPIFFE: identifiers, X.509-SVIDs, JWT-SVIDs and trust bundles.
//!
//! - [`id`]: [`SpiffeId`] and [`TrustDomain`], parsed strictly.
//! - [`x509`]: the SPIFFE ID of an X.509-SVID leaf, and its `x5t#S256`.
//! - [`bundle`]: [`TrustBundle`] per trust domain, [`BundleSet`] snapshots and
//!   a [`BundleSource`] that can be swapped at runtime when keys rotate.
//! - [`jwt_svid`]: JWT-SVID validation against the subject's trust domain.
//! - [`workload`]: the SPIFFE Workload API client side: a background task
//!   that keeps a [`BundleSource`] current, and Warden's own X.509-SVID.
//!
//! Everything but [`workload`] is pure and does no I/O.

pub mod bundle;
pub mod error;
pub mod id;
pub mod jwt_svid;
pub mod workload;
pub mod x509;

pub use bundle::{BundleError, BundleSet, BundleSource, TrustBundle};
pub use error::SpiffeError;
pub use id::{IdError, SpiffeId, TrustDomain};
pub use jwt_svid::{JwtSvid, JwtSvidError, validate_jwt_svid};
pub use workload::{
    BundleWatcher, WardenSvid, WatchOptions, WorkloadEndpoint, WorkloadError, fetch_x509_svid, spawn_domain_watcher,
};
pub use x509::{X509SvidError, cert_thumbprint_s256, svid_id};
