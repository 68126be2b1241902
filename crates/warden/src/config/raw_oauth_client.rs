//! `credential: {oauthClient: …}` as users write it: Warden is the OAuth
//! client of an upstream MCP server that has its own authorization server.
//! See `docs/upstream-oauth.md` and [`crate::upstream_oauth`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `oauthClient`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawOAuthClientCredential {
    /// Scopes to ask the upstream authorization server for; default the
    /// `scope` of the upstream's 401 challenge, else its Protected Resource
    /// Metadata `scopes_supported`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A client id registered there; absent: a Client ID Metadata Document
    /// (when the server supports them) or dynamic registration (RFC 7591).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Environment variable holding the secret of `clientId` (confidential
    /// client, `client_secret_basic`); absent: a public client.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// SQLite file holding users' upstream tokens (encrypted) and dynamic
    /// registrations; relative paths are resolved against the working
    /// directory. Absent: an in-memory database (tokens end at restart).
    #[serde(default)]
    pub store: Option<String>,
    /// Environment variable holding the 32-byte store key, base64. Required
    /// with `store`; absent without it: a random key for this process.
    #[serde(default)]
    pub store_key: Option<String>,
    /// Warden's public base URL for the redirect URI
    /// (`{redirectBase}/oauth/upstream/callback`); default the token
    /// service issuer.
    #[serde(default)]
    pub redirect_base: Option<String>,
    /// Where Warden's Client ID Metadata Document is published, when not at
    /// `{redirectBase}/oauth/upstream/client-metadata.json` (e.g. behind a
    /// proxy); it is the `client_id` at servers that accept such documents.
    #[serde(default)]
    pub client_metadata_url: Option<String>,
    /// The upstream authorization server's issuer, skipping Protected
    /// Resource Metadata discovery; default: discovered from the backend.
    #[serde(default)]
    pub authorization_server: Option<String>,
}
