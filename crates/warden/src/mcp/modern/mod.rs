//! The modern (2026-07-28) era: request validation and result decoration.

pub mod headers;
pub mod validate;
