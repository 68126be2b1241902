//! Warden: an identity-aware gateway for AI agents.
//!
//! The request path, in order (see `docs/architecture.md`):
//! [`listener`] → TLS → authentication → rate limit → [`mcp::front`] (protocol
//! decode) → authorization → upstream credential → [`mcp::upstream`].

pub mod admin;
pub mod audit;
pub mod auth;
pub mod config;
pub mod credentials;
pub mod error;
pub mod gateway;
pub mod idp;
pub mod listener;
pub mod mcp;
pub mod pinning;
pub mod policy;
pub mod ratelimit;
pub mod server;
pub mod telemetry;
pub mod token;
pub mod upstream_oauth;
