//! Errors of the audit trail.

use std::path::PathBuf;

/// Why the audit log could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Reading or writing the file failed.
    #[error("audit log {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file's last record is incomplete or damaged, so the chain cannot
    /// be continued. The file is left untouched; run `warden audit verify`
    /// on it and move it aside (or repair it) before starting again.
    #[error("audit log {path}: refusing to continue a damaged chain: {detail}")]
    CorruptTail {
        /// The file.
        path: PathBuf,
        /// What is wrong with the tail.
        detail: String,
    },
    /// A record could not be serialized.
    #[error("audit record could not be serialized: {0}")]
    Serialize(#[from] serde_json::Error),
    /// An earlier write to the file failed; the on-disk chain may end in a
    /// partial line, so no further record is accepted.
    #[error("audit log {path} is unusable after an earlier write failure: {detail}")]
    Poisoned {
        /// The file.
        path: PathBuf,
        /// The first failure.
        detail: String,
    },
}

impl AuditError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> AuditError {
        AuditError::Io { path: path.to_path_buf(), source }
    }
}
