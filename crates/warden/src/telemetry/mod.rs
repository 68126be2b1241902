//! Access log, metrics (names in one place) and logging setup.

mod access;
mod metrics;

pub use access::{AccessRecord, flush_access_log};
pub use metrics::{
    BackendLabels, CredentialLabels, Metrics, PinLabels, PolicyLabels, ReloadLabels, TokenServiceLabels, VsLabels,
    metric_method, names,
};
