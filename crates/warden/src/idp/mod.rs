//! The embedded development identity provider: a login page for the users in
//! config, authorization code + PKCE, Client ID Metadata Documents, dynamic
//! registration and client credentials. Tokens are signed by the token service.
//!
//! Its state (pending logins, codes, refresh tokens, registered clients,
//! fetched metadata documents) lives in bounded in-memory maps with expiry,
//! per process and per signing-key ring: it survives configuration reloads
//! that keep the keys, and ends at restart. Development only (see
//! `docs/dev-idp.md`).

mod authorize;
mod clients;
mod grants;
mod page;
mod pkce;
mod store;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Method, Response, StatusCode};

use crate::config::Listener;
use crate::error::{Body, status_only};
use crate::gateway::Runtime;
use crate::token::http::{Form, OAuthRequest, oauth_error};
use crate::token::{TokenService, paths};

pub use clients::{loopback_http, redirect_uri_allowed};
pub use pkce::s256_challenge;

/// Lifetime of an authorization code (single use).
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// How long a login page stays valid.
pub const LOGIN_LIFETIME: Duration = Duration::from_secs(600);

/// Everything the development IdP remembers; kept by the token service
/// across reloads that keep its keys.
#[derive(Debug)]
pub struct IdpState {
    pub(crate) logins: store::Store<authorize::PendingLogin>,
    pub(crate) codes: store::Store<grants::CodeGrant>,
    pub(crate) refresh: store::Store<grants::RefreshGrant>,
    pub(crate) registered: store::Store<Arc<clients::Client>>,
    pub(crate) documents: store::Store<Arc<clients::Client>>,
}

impl IdpState {
    fn new() -> IdpState {
        IdpState {
            logins: store::Store::new(10_000),
            codes: store::Store::new(10_000),
            refresh: store::Store::new(50_000),
            registered: store::Store::new(1_000),
            documents: store::Store::new(1_000),
        }
    }
}

fn state(ts: &TokenService) -> Arc<IdpState> {
    ts.idp_state.get_or_init(|| Arc::new(IdpState::new())).clone()
}

/// 32 random bytes, base64url: codes, refresh tokens, CSRF tokens, client ids.
pub(crate) fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// SHA-256 of a secret, base64url: the key under which it is stored.
pub(crate) fn hash(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes()))
}

/// Constant-time equality of two secrets.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(hash(a).as_bytes(), hash(b).as_bytes()).is_ok()
}

/// A protected resource Warden serves on `listener`: its URL (a token's
/// `aud`) and the scopes it advertises.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub(crate) url: String,
    pub(crate) scopes: Vec<String>,
}

/// The resources of every authenticated virtual server, as seen from `listener`.
pub(crate) fn resources(rt: &Runtime, listener: &Listener) -> Vec<Resource> {
    rt.authenticators
        .iter()
        .flatten()
        .map(|a| Resource { url: a.resource_url(listener), scopes: a.settings.scopes.supported.clone() })
        .collect()
}

/// The resource a request names (RFC 8707), or the only one when it names none.
pub(crate) fn pick_resource(all: &[Resource], asked: &[&str]) -> Option<Resource> {
    match asked {
        [] if all.len() == 1 => all.first().cloned(),
        [one] => all.iter().find(|r| r.url == *one).cloned(),
        _ => None,
    }
}

/// Serves the authorization and registration endpoints.
pub async fn serve(rt: &Runtime, ts: &Arc<TokenService>, req: &OAuthRequest<'_>) -> Response<Body> {
    let Some(settings) = rt.config.dev_idp.clone() else { return status_only(StatusCode::NOT_FOUND) };
    let st = state(ts);
    let ctx = Ctx { rt, ts, settings: &settings, state: &st };
    match (req.path.as_str(), &req.method) {
        (paths::AUTHORIZE, &Method::GET) => authorize::start(&ctx, req).await,
        (paths::AUTHORIZE, &Method::POST) => authorize::login(&ctx, req).await,
        (paths::AUTHORIZE, _) => status_only(StatusCode::METHOD_NOT_ALLOWED),
        (paths::REGISTER, &Method::POST) if settings.raw.dynamic_registration != Some(false) => {
            clients::register(&ctx, req)
        }
        (paths::REGISTER, &Method::POST) => status_only(StatusCode::NOT_FOUND),
        (paths::REGISTER, _) => status_only(StatusCode::METHOD_NOT_ALLOWED),
        _ => status_only(StatusCode::NOT_FOUND),
    }
}

/// The token endpoint's grants other than token exchange.
pub async fn token_grant(
    rt: &Runtime,
    ts: &Arc<TokenService>,
    req: &OAuthRequest<'_>,
    form: &Form,
    grant: &str,
) -> Response<Body> {
    let Some(settings) = rt.config.dev_idp.clone() else {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", None);
    };
    let st = state(ts);
    let ctx = Ctx { rt, ts, settings: &settings, state: &st };
    match grant {
        "authorization_code" => grants::authorization_code(&ctx, req, form).await,
        "refresh_token" => grants::refresh_token(&ctx, req, form).await,
        "client_credentials" => grants::client_credentials(&ctx, req, form).await,
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", None),
    }
}

/// What every handler needs.
pub(crate) struct Ctx<'a> {
    pub(crate) rt: &'a Runtime,
    pub(crate) ts: &'a Arc<TokenService>,
    pub(crate) settings: &'a crate::config::DevIdpSettings,
    pub(crate) state: &'a IdpState,
}
