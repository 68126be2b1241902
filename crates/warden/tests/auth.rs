//! Front-door authentication, end to end: every way a credential can be
//! wrong is refused with the exact status, challenges and JSON-RPC error,
//! and never reaches the backend (a counting pass-through in front of the
//! real conformance server proves it); positive controls show the same
//! requests succeed with good credentials.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

#[path = "auth/support.rs"]
mod support;

#[path = "auth/fixture.rs"]
mod fixture;

#[path = "auth/bearer.rs"]
mod bearer;

#[path = "auth/dpop.rs"]
mod dpop;

#[path = "auth/shape.rs"]
mod shape;

#[path = "auth/mtls.rs"]
mod mtls;

#[path = "auth/positive.rs"]
mod positive;

#[path = "auth/review.rs"]
mod review;
