//! Errors of the upstream OAuth client. None carries a token.

/// What went wrong getting an upstream credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamOAuthError {
    /// The user must authorize Warden at the upstream authorization server
    /// once: open `url` in a browser.
    #[error("the user must authorize access to the upstream server")]
    ConsentRequired {
        /// The upstream authorization URL (PKCE, `state`, `resource`).
        url: String,
        /// Id of this consent request (the MCP `elicitationId`).
        elicitation_id: String,
    },
    /// The caller is anonymous: upstream tokens are kept per user.
    #[error("upstream OAuth needs an authenticated caller")]
    Anonymous,
    /// The configuration cannot work.
    #[error("invalid oauthClient configuration: {0}")]
    Config(String),
    /// Discovery of the protected resource or its authorization server failed.
    #[error("discovery failed: {0}")]
    Discovery(String),
    /// No way to identify Warden at the authorization server.
    #[error("no client identity: {0}")]
    Registration(String),
    /// The authorization server answered a token request with an error.
    #[error("token endpoint error {error}")]
    TokenEndpoint {
        /// The OAuth `error` code.
        error: String,
    },
    /// The redirect back from the authorization server is invalid: unknown
    /// or expired `state`, wrong `iss`, an error from the server, no code.
    #[error("invalid authorization response: {0}")]
    Callback(String),
    /// An HTTP exchange with the upstream failed.
    #[error("upstream HTTP: {0}")]
    Http(String),
    /// The token store failed.
    #[error("token store: {0}")]
    Store(String),
}

impl UpstreamOAuthError {
    /// A fixed, safe text for the client (never the internal detail).
    pub fn public_message(&self) -> &'static str {
        match self {
            UpstreamOAuthError::ConsentRequired { .. } => "authorization at the upstream server is required",
            UpstreamOAuthError::Anonymous => "sign in to use this tool",
            UpstreamOAuthError::Callback(_) => "the authorization response was invalid or expired",
            _ => "the upstream credential is unavailable",
        }
    }
}

impl From<reqwest::Error> for UpstreamOAuthError {
    fn from(e: reqwest::Error) -> Self {
        // reqwest errors name the URL, never a body or header.
        UpstreamOAuthError::Http(e.without_url().to_string())
    }
}
