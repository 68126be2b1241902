//! RFC 8693 token exchange at Warden's token endpoint.

use std::sync::Arc;

use http::{Response, StatusCode};

use super::TokenService;
use super::http::{Form, OAuthRequest, oauth_error};
use crate::error::Body;
use crate::gateway::Runtime;

/// `grant_type` of RFC 8693.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Handles one exchange request.
pub async fn handle(_rt: &Runtime, _ts: &Arc<TokenService>, _req: &OAuthRequest<'_>, _form: &Form) -> Response<Body> {
    oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", None)
}
