//! `credential: {oauthClient: …}` as users write it: Warden is the OAuth
//! client of an upstream MCP server that has its own authorization server.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `oauthClient`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawOAuthClientCredential {
    /// Scopes to ask the upstream authorization server for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A client id registered there; absent: a Client ID Metadata Document
    /// or dynamic registration.
    #[serde(default)]
    pub client_id: Option<String>,
    /// SQLite file holding users' upstream tokens (encrypted).
    #[serde(default)]
    pub store: Option<String>,
}
