//! Upstream credentials: what each backend receives instead of the client's
//! own token (which is never forwarded).
//!
//! Each backend has at most one [`BackendCredential`], built once from
//! `backends[].credential` when the runtime is built:
//! - `exchange`: a token minted by Warden's token service for this backend
//!   alone (delegation: `act` names the agent), cached per principal;
//! - `externalExchange`: RFC 8693 at an external authorization server, with
//!   a subject token Warden mints for that server;
//! - `idJag`: an ID-JAG Warden signs as the user's identity provider,
//!   redeemed at the external server with the JWT-bearer grant;
//! - `secret`: a static key read once at build, sent as a header, a query
//!   parameter or HTTP Basic;
//! - `oauthClient`: plugged in by `crate::upstream_oauth` (see [`Kind::OAuthClient`]).
//!
//! [`txn`] mints transaction tokens (`Txn-Token`) per call.

mod cache;
mod client_auth;
mod external;
mod secret;
pub mod txn;

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

pub use cache::TokenCache;
pub use client_auth::ClientAuth;
pub use external::{ExternalExchange, IdJag};

use crate::auth::Principal;
use crate::config::CredentialSettings;
use crate::token::{MintRequest, TokenService, TokenServiceError};

/// Why a credential could not be built or obtained. Logged with the cause;
/// the client only ever sees a fixed message (see `RouteError::Credential`).
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The credential needs Warden's token service and none is configured.
    #[error("no token service is configured")]
    NoTokenService,
    /// The caller holds nothing a token can be minted from.
    #[error("the caller has no credential to delegate (anonymous or without scopes)")]
    NoSubject,
    /// Minting failed (expired subject, signing).
    #[error("minting failed: {0}")]
    Mint(#[from] TokenServiceError),
    /// The secret could not be read.
    #[error("secret {0}: cannot be read")]
    Secret(String),
    /// Warden's own client credential (key file, SVID) is unusable.
    #[error("client authentication: {0}")]
    ClientAuth(String),
    /// The external authorization server refused or could not be reached.
    #[error("external authorization server: {0}")]
    External(String),
    /// `oauthClient`: no upstream token for this user yet, or it failed.
    #[error(transparent)]
    UpstreamOAuth(#[from] crate::upstream_oauth::UpstreamOAuthError),
}

/// Headers (and query parameters) one call sends to its backend. Header
/// values are marked sensitive; `Debug` shows no value.
#[derive(Clone, Default)]
pub struct Injected {
    /// Headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Query parameters appended to the backend URL.
    pub query: Vec<(String, secrecy::SecretString)>,
}

impl std::fmt::Debug for Injected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        let params: Vec<&str> = self.query.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Injected").field("headers", &names).field("query", &params).finish()
    }
}

impl Injected {
    /// `Authorization: Bearer <token>`.
    pub fn bearer(token: &str) -> Result<Injected, CredentialError> {
        Ok(Injected {
            headers: vec![(http::header::AUTHORIZATION, sensitive(&format!("Bearer {token}"))?)],
            query: vec![],
        })
    }
}

/// A header value marked sensitive (kept out of HTTP/2 tables and debug output).
pub(crate) fn sensitive(v: &str) -> Result<HeaderValue, CredentialError> {
    let mut h =
        HeaderValue::from_str(v).map_err(|_| CredentialError::External("value is not a valid header".into()))?;
    h.set_sensitive(true);
    Ok(h)
}

/// One backend's credential.
#[derive(Debug)]
pub struct BackendCredential {
    kind: Kind,
}

/// The configured kinds.
#[derive(Debug)]
enum Kind {
    Exchange {
        service: Arc<TokenService>,
        audience: String,
        scopes: Option<Vec<String>>,
        lifetime: Option<Duration>,
        impersonate: bool,
        cache: TokenCache,
    },
    External(ExternalExchange),
    IdJag(IdJag),
    Secret(Arc<Injected>),
    /// Per-user tokens from the upstream's own authorization server
    /// (`crate::upstream_oauth`).
    OAuthClient(Arc<crate::upstream_oauth::OAuthClientCredential>),
}

/// What a backend's credential is built from besides its settings.
#[derive(Debug, Clone, Copy)]
pub struct BackendFacts<'a> {
    /// Backend name.
    pub name: &'a str,
    /// Its URL, for HTTP backends.
    pub url: Option<&'a url::Url>,
    /// Warden's public base URL (redirects back from upstream servers).
    pub gateway_base: &'a str,
}

impl BackendCredential {
    /// Builds the credential of one backend; `None` for no credential.
    /// Secrets are read here, once.
    pub fn build(
        settings: &CredentialSettings,
        service: Option<&Arc<TokenService>>,
        http: &reqwest::Client,
        backend: BackendFacts<'_>,
    ) -> Result<Option<Arc<BackendCredential>>, CredentialError> {
        let need_service = || service.cloned().ok_or(CredentialError::NoTokenService);
        let kind = match settings {
            CredentialSettings::None => return Ok(None),
            CredentialSettings::Exchange { audience, scopes, lifetime, impersonate } => Kind::Exchange {
                service: need_service()?,
                audience: audience.clone(),
                scopes: scopes.clone(),
                lifetime: *lifetime,
                impersonate: *impersonate && impersonation_allowed(service),
                cache: TokenCache::new(cache::DEFAULT_CAPACITY),
            },
            CredentialSettings::ExternalExchange(e) => Kind::External(ExternalExchange::new(e, need_service()?, http)?),
            CredentialSettings::IdJag(e) => Kind::IdJag(IdJag::new(e, need_service()?, http)?),
            CredentialSettings::Secret(s) => Kind::Secret(Arc::new(secret::load(s)?)),
            CredentialSettings::OAuthClient(o) => {
                let url = backend.url.ok_or(CredentialError::ClientAuth("oauthClient needs an HTTP backend".into()))?;
                Kind::OAuthClient(crate::upstream_oauth::OAuthClientCredential::new(
                    o,
                    url,
                    backend.name,
                    service.map_or(backend.gateway_base, |s| s.issuer()),
                    http.clone(),
                )?)
            }
        };
        Ok(Some(Arc::new(BackendCredential { kind })))
    }

    /// Whether it holds per-user state worth keeping across a reload that
    /// leaves the backend unchanged (pending consents, the open token store).
    pub fn is_stateful(&self) -> bool {
        matches!(self.kind, Kind::OAuthClient(_))
    }

    /// The kind's configuration name (logs, metrics).
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Exchange { .. } => "exchange",
            Kind::External(_) => "externalExchange",
            Kind::IdJag(_) => "idJag",
            Kind::Secret(_) => "secret",
            Kind::OAuthClient(_) => "oauthClient",
        }
    }

    /// Principal-independent headers (a `secret`), applied to every request
    /// including probes and session opening.
    pub fn static_part(&self) -> Option<Arc<Injected>> {
        match &self.kind {
            Kind::Secret(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// What one call of `principal` sends. Cache hits neither sign nor
    /// allocate beyond the key.
    pub async fn for_call(&self, principal: &Principal) -> Result<Arc<Injected>, CredentialError> {
        match &self.kind {
            Kind::Secret(s) => Ok(s.clone()),
            Kind::Exchange { service, audience, scopes, lifetime, impersonate, cache } => {
                let key = cache::principal_key(principal);
                if let Some(hit) = cache.get(&key, principal.expires_at) {
                    return Ok(hit);
                }
                let minted = mint_delegated(service, principal, audience, scopes.as_deref(), *lifetime, *impersonate)?;
                let injected = Arc::new(Injected::bearer(secrecy::ExposeSecret::expose_secret(&minted.token))?);
                cache.put(key, injected.clone(), minted.expires_at);
                Ok(injected)
            }
            Kind::External(e) => e.for_call(principal).await,
            Kind::IdJag(e) => e.for_call(principal).await,
            Kind::OAuthClient(o) => {
                let mut h = o.authorization(principal).await?;
                h.set_sensitive(true);
                Ok(Arc::new(Injected { headers: vec![(http::header::AUTHORIZATION, h)], query: vec![] }))
            }
        }
    }
}

/// Mints a token for `principal` (refusing principals with nothing to delegate).
pub(crate) fn mint_delegated(
    service: &TokenService,
    principal: &Principal,
    audience: &str,
    scopes: Option<&[String]>,
    lifetime: Option<Duration>,
    impersonate: bool,
) -> Result<crate::token::Minted, CredentialError> {
    if principal.kind == crate::auth::PrincipalKind::Anonymous || principal.subject.is_empty() {
        return Err(CredentialError::NoSubject);
    }
    Ok(service.mint_for(principal, &MintRequest { audience, scopes, lifetime, impersonate })?)
}

/// Impersonation for `exchange` needs a token-service client that may
/// impersonate (`tokenService.clients[].mayImpersonate`) — the gateway acts
/// as that client — until the exchange policy API decides it. Without one,
/// the backend gets a delegated token (with `act`) instead.
fn impersonation_allowed(service: Option<&Arc<TokenService>>) -> bool {
    let allowed = service.is_some_and(|s| s.settings.clients.iter().any(|c| c.may_impersonate));
    if !allowed {
        tracing::warn!(
            "credential.exchange.impersonate is set but no tokenService client may impersonate: \
             delegated tokens (with act) are minted instead"
        );
    }
    allowed
}
