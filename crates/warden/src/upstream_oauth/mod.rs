//! The `oauthClient` upstream credential: Warden is the OAuth client of an
//! upstream MCP server that has its own authorization server (MCP
//! authorization, client side). Per backend: discovery (RFC 9728 → RFC 8414 /
//! OpenID discovery), a client identity (configured, Client ID Metadata
//! Document, or RFC 7591 registration), the authorization code flow with
//! PKCE S256 and `resource` (RFC 8707) per user, and each user's tokens kept
//! encrypted in an embedded SQLite database and refreshed before expiry.
//!
//! See `docs/upstream-oauth.md`.

mod credential;
mod discovery;
mod elicitation;
mod error;
mod fetch;
mod flow;
mod registration;
mod registry;
mod routes;
mod store;
#[cfg(test)]
mod tests;

pub use credential::OAuthClientCredential;
pub use elicitation::{URL_ELICITATION_REQUIRED, url_elicitation_error};
pub use error::UpstreamOAuthError;
pub use registry::{Registry, registry};

/// Paths Warden serves for upstream OAuth (under the token service's `/oauth/`).
pub mod paths {
    /// Where the upstream authorization server redirects the user's browser.
    pub const CALLBACK: &str = "/oauth/upstream/callback";
    /// Warden's Client ID Metadata Document as an upstream OAuth client.
    pub const CLIENT_METADATA: &str = "/oauth/upstream/client-metadata.json";
}

pub use routes::{is_upstream_path, serve};
