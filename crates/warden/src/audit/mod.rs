//! The audit trail: one record per authorization decision, appended to a
//! JSON-lines file whose records are hash-chained, so that deleting, editing,
//! reordering or forging a record in the middle of the file is detectable
//! (`warden audit verify FILE`). See `docs/audit.md` for the format.
//!
//! - [`record`]: what one record holds ([`AuditRecord`]) and argument
//!   redaction ([`redact`]).
//! - [`chain`]: canonical bytes and the hash chain.
//! - [`writer`]: [`AuditLog`], the buffered, fsync'd, concurrent appender.
//! - [`verify`](mod@verify): checking a file ([`verify()`]).

pub mod chain;
mod error;
pub mod record;
#[cfg(test)]
mod tests;
pub mod verify;
pub mod writer;

pub use chain::GENESIS_PREV;
pub use error::AuditError;
pub use record::{AuditRecord, Decision, Outcome, REDACTED, Resource, ResourceKind, principal_json, redact};
pub use verify::{VerifyReport, verify};
pub use writer::{AuditLog, AuditOptions};
