//! The embedded development identity provider: a login page for the users in
//! config, authorization code + PKCE, Client ID Metadata Documents, dynamic
//! registration and client credentials. Tokens are signed by the token service.

use std::sync::Arc;

use http::{Response, StatusCode};

use crate::error::{Body, status_only};
use crate::gateway::Runtime;
use crate::token::TokenService;
use crate::token::http::{Form, OAuthRequest, oauth_error};

/// Serves the authorization and registration endpoints.
pub async fn serve(_rt: &Runtime, _ts: &Arc<TokenService>, _req: &OAuthRequest<'_>) -> Response<Body> {
    status_only(StatusCode::NOT_FOUND)
}

/// The token endpoint's grants other than token exchange.
pub async fn token_grant(
    _rt: &Runtime,
    _ts: &Arc<TokenService>,
    _req: &OAuthRequest<'_>,
    _form: &Form,
    _grant: &str,
) -> Response<Body> {
    oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", None)
}
