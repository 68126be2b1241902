//! Why an exchange was refused, and what the client is told: one RFC 8693
//! §2.2.2 / RFC 6749 §5.2 error code with a fixed description. The detail
//! (which check failed, the library's message) goes to the log only.

use http::{Response, StatusCode};

use super::super::http::oauth_error;
use crate::error::Body;

/// A refused exchange. `public` texts are fixed; `detail` is logged only.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The request is malformed: a parameter missing, repeated, or of an
    /// unsupported value.
    #[error("invalid request: {public}")]
    Request {
        /// Fixed description sent to the client.
        public: &'static str,
    },
    /// The subject or actor token is invalid, expired, of an unaccepted
    /// issuer, or unacceptable (e.g. `may_act` names someone else).
    #[error("{public}: {detail}")]
    Token {
        /// Fixed description sent to the client.
        public: &'static str,
        /// Why (logged).
        detail: String,
    },
    /// Client authentication failed (unknown client, wrong secret, bad assertion).
    #[error("client authentication failed: {0}")]
    Client(String),
    /// Several client authentication methods in one request (RFC 6749 §2.3).
    #[error("more than one client authentication method")]
    ClientMethods,
    /// The client may not use token exchange at all.
    #[error("client may not use token exchange: {0}")]
    Unauthorized(String),
    /// A scope asked for is not held by the subject or not permitted.
    #[error("scope refused: {0}")]
    Scope(String),
    /// The audience/resource is malformed, several, or not permitted.
    #[error("{public}: {detail}")]
    Target {
        /// Fixed description sent to the client.
        public: &'static str,
        /// Why (logged).
        detail: String,
    },
    /// The subject's credential expired while the exchange ran.
    #[error("the subject's credential has expired")]
    Grant,
    /// Keys of an issuer could not be loaded (the token was not judged).
    #[error("keys unavailable: {0}")]
    Unavailable(String),
    /// Signing failed.
    #[error("internal: {0}")]
    Internal(String),
}

impl ExchangeError {
    /// A malformed request.
    pub fn request(public: &'static str) -> ExchangeError {
        ExchangeError::Request { public }
    }

    /// The OAuth error code (for logs and metrics).
    pub fn code(&self) -> &'static str {
        match self {
            ExchangeError::Request { .. } | ExchangeError::Token { .. } | ExchangeError::ClientMethods => {
                "invalid_request"
            }
            ExchangeError::Client(_) => "invalid_client",
            ExchangeError::Unauthorized(_) => "unauthorized_client",
            ExchangeError::Scope(_) => "invalid_scope",
            ExchangeError::Target { .. } => "invalid_target",
            ExchangeError::Grant => "invalid_grant",
            ExchangeError::Unavailable(_) => "temporarily_unavailable",
            ExchangeError::Internal(_) => "server_error",
        }
    }

    /// The response the client gets: code and fixed description only.
    pub fn response(&self) -> Response<Body> {
        let (status, description) = match self {
            ExchangeError::Request { public } | ExchangeError::Token { public, .. } => {
                (StatusCode::BAD_REQUEST, *public)
            }
            ExchangeError::ClientMethods => (StatusCode::BAD_REQUEST, "use exactly one client authentication method"),
            ExchangeError::Client(_) => (StatusCode::UNAUTHORIZED, "client authentication failed"),
            ExchangeError::Unauthorized(_) => (StatusCode::BAD_REQUEST, "this client may not use token exchange"),
            ExchangeError::Scope(_) => (StatusCode::BAD_REQUEST, "the requested scope is not available"),
            ExchangeError::Target { public, .. } => (StatusCode::BAD_REQUEST, *public),
            ExchangeError::Grant => (StatusCode::BAD_REQUEST, "the subject token has expired"),
            ExchangeError::Unavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "token verification is temporarily unavailable")
            }
            ExchangeError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "the token could not be issued"),
        };
        oauth_error(status, self.code(), Some(description))
    }
}
