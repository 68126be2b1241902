//! One `oauthClient` backend: Warden's OAuth client for it, and each user's
//! upstream tokens. [`OAuthClientCredential::authorization`] is called on
//! every call to the backend; [`OAuthClientCredential::callback`] when the
//! user's browser comes back from the upstream authorization server.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use tracing::Instrument;
use url::Url;

use super::discovery::{self, Discovered};
use super::flow::{self, AuthorizeParams, Pending, PendingStates};
use super::registration::{self, ClientIdentity};
use super::store::{Store, StoredTokens, TokenKey, now_secs};
use super::{UpstreamOAuthError, paths, registry};
use crate::auth::{Principal, PrincipalKind};
use crate::config::RawOAuthClientCredential;

/// An access token this close to expiry is refreshed first.
const REFRESH_MARGIN_SECS: u64 = 30;

/// What discovery and registration settled for the backend.
#[derive(Debug)]
struct Upstream {
    discovered: Discovered,
    client: ClientIdentity,
    scopes: Vec<String>,
}

/// Warden as the OAuth client of one upstream MCP server.
#[derive(Debug)]
pub struct OAuthClientCredential {
    id: String,
    backend_name: String,
    backend_url: Url,
    authorization_server: Option<String>,
    configured_scopes: Vec<String>,
    configured_client: Option<(String, Option<SecretString>)>,
    redirect_uri: String,
    cimd_url: String,
    http: reqwest::Client,
    store: Store,
    upstream: tokio::sync::OnceCell<Upstream>,
    pending: PendingStates,
    refreshing: tokio::sync::Mutex<()>,
}

impl OAuthClientCredential {
    /// Builds the credential of `backend_name` (not yet contacting anyone)
    /// and registers it for callbacks. `gateway_base` is Warden's public base
    /// URL (the redirect URI is `{gateway_base}/oauth/upstream/callback`)
    /// unless `redirectBase` is set.
    pub fn new(
        settings: &RawOAuthClientCredential,
        backend_url: &Url,
        backend_name: &str,
        gateway_base: &str,
        http: reqwest::Client,
    ) -> Result<Arc<Self>, UpstreamOAuthError> {
        let base = settings.redirect_base.as_deref().unwrap_or(gateway_base).trim_end_matches('/').to_string();
        if Url::parse(&base).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
            return Err(UpstreamOAuthError::Config(format!("redirect base {base:?} is not an http(s) URL")));
        }
        let key = store_key(settings)?;
        let store = Store::open(settings.store.as_deref().map(PathBuf::from), key)?;
        let configured_client = match (&settings.client_id, &settings.client_secret_env) {
            (Some(id), Some(env)) => {
                let s = std::env::var(env).map_err(|_| {
                    UpstreamOAuthError::Config(format!("clientSecretEnv: environment variable {env} is not set"))
                })?;
                Some((id.clone(), Some(SecretString::from(s))))
            }
            (Some(id), None) => Some((id.clone(), None)),
            (None, Some(_)) => return Err(UpstreamOAuthError::Config("clientSecretEnv needs clientId".into())),
            (None, None) => None,
        };
        let me = Arc::new(OAuthClientCredential {
            id: stable_id(backend_name, backend_url),
            backend_name: backend_name.to_string(),
            backend_url: backend_url.clone(),
            authorization_server: settings.authorization_server.clone(),
            configured_scopes: settings.scopes.clone(),
            configured_client,
            redirect_uri: format!("{base}{}", paths::CALLBACK),
            cimd_url: settings
                .client_metadata_url
                .clone()
                .unwrap_or_else(|| format!("{base}{}", paths::CLIENT_METADATA)),
            http,
            store,
            upstream: tokio::sync::OnceCell::new(),
            pending: PendingStates::default(),
            refreshing: tokio::sync::Mutex::new(()),
        });
        registry().insert(&me);
        Ok(me)
    }

    /// The stable id of this backend (prefix of every `state` it makes).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The redirect URI registered at the upstream authorization server.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The URL of Warden's Client ID Metadata Document.
    pub fn client_metadata_url(&self) -> &str {
        &self.cimd_url
    }

    async fn upstream(&self) -> Result<&Upstream, UpstreamOAuthError> {
        self.upstream
            .get_or_try_init(|| async {
                let discovered =
                    discovery::discover(&self.http, &self.backend_url, self.authorization_server.as_deref()).await?;
                let scopes =
                    if self.configured_scopes.is_empty() { discovered.scopes.clone() } else { self.configured_scopes.clone() };
                let configured = self.configured_client.as_ref().map(|(id, s)| (id.as_str(), s.as_ref()));
                let client = registration::identity(
                    &self.http,
                    &self.store,
                    &discovered.server,
                    configured,
                    &self.cimd_url,
                    &self.redirect_uri,
                    &scopes,
                )
                .await?;
                tracing::info!(issuer = %discovered.server.issuer, resource = %discovered.resource, "upstream authorization server discovered");
                Ok(Upstream { discovered, client, scopes })
            })
            .await
    }

    fn key(&self, up: &Upstream, principal_key: String) -> TokenKey {
        TokenKey {
            issuer: up.discovered.server.issuer.clone(),
            resource: up.discovered.resource.clone(),
            principal: principal_key,
        }
    }

    /// The `Authorization` header value for this user, refreshing when the
    /// access token is within 30 s of expiry. `ConsentRequired` with a URL
    /// when the user must authorize Warden upstream first.
    pub async fn authorization(&self, principal: &Principal) -> Result<http::HeaderValue, UpstreamOAuthError> {
        let span =
            tracing::info_span!("upstream_oauth", backend = %self.backend_name, principal = %principal.log_label());
        self.authorization_inner(principal).instrument(span).await
    }

    async fn authorization_inner(&self, principal: &Principal) -> Result<http::HeaderValue, UpstreamOAuthError> {
        if principal.kind == PrincipalKind::Anonymous {
            return Err(UpstreamOAuthError::Anonymous);
        }
        let up = self.upstream().await?;
        let key = self.key(up, principal.binding_key());
        if let Some(t) = self.store.tokens(&key).await? {
            if fresh(&t) {
                return header(&t);
            }
            if t.refresh_token.is_some() {
                let _guard = self.refreshing.lock().await;
                // Another call may have refreshed (and rotated) meanwhile.
                if let Some(t) = self.store.tokens(&key).await? {
                    if fresh(&t) {
                        return header(&t);
                    }
                    if let Some(refresh) = &t.refresh_token {
                        match self.refresh(up, refresh).await {
                            Ok(new) => {
                                self.store.put_tokens(&key, &new).await?;
                                tracing::debug!("upstream token refreshed");
                                return header(&new);
                            }
                            Err(UpstreamOAuthError::TokenEndpoint { error }) => {
                                tracing::info!(%error, "refresh refused; the user must consent again");
                                self.store.delete_tokens(&key).await?;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
        }
        Err(self.consent(up, key.principal, &up.scopes)?)
    }

    /// Step-up: the upstream answered a call made with this user's token
    /// with 403 and `WWW-Authenticate: Bearer error="insufficient_scope",
    /// scope="…"`. Returns `ConsentRequired` for the scopes already asked
    /// for plus those of the challenge; the caller retries at most once after
    /// the user consents (an upstream that keeps refusing is not asked again).
    pub async fn step_up(&self, principal: &Principal, www_authenticate: &str) -> UpstreamOAuthError {
        if principal.kind == PrincipalKind::Anonymous {
            return UpstreamOAuthError::Anonymous;
        }
        if discovery::auth_param(www_authenticate, "error").as_deref() != Some("insufficient_scope") {
            return UpstreamOAuthError::Discovery("the upstream refused the call without asking for scopes".into());
        }
        let up = match self.upstream().await {
            Ok(up) => up,
            Err(e) => return e,
        };
        let mut scopes = up.scopes.clone();
        for s in discovery::auth_param(www_authenticate, "scope").unwrap_or_default().split_whitespace() {
            if !scopes.iter().any(|x| x == s) {
                scopes.push(s.to_string());
            }
        }
        tracing::info!(scopes = %scopes.join(" "), "upstream asks for more scopes");
        match self.consent(up, principal.binding_key(), &scopes) {
            Ok(e) | Err(e) => e,
        }
    }

    async fn refresh(&self, up: &Upstream, refresh: &SecretString) -> Result<StoredTokens, UpstreamOAuthError> {
        let form = vec![
            ("grant_type".to_string(), "refresh_token".to_string()),
            ("refresh_token".to_string(), refresh.expose_secret().to_string()),
            ("resource".to_string(), up.discovered.resource.clone()),
        ];
        flow::token_request(&self.http, &up.discovered.server.token_endpoint, &up.client, form, Some(refresh)).await
    }

    /// A new consent request for `principal_key`: the error carrying its URL.
    fn consent(
        &self,
        up: &Upstream,
        principal_key: String,
        scopes: &[String],
    ) -> Result<UpstreamOAuthError, UpstreamOAuthError> {
        let verifier = flow::random_b64(32)?;
        let state = format!("{}.{}", self.id, flow::random_b64(24)?);
        let url = flow::authorize_url(&AuthorizeParams {
            endpoint: &up.discovered.server.authorization_endpoint,
            client_id: &up.client.client_id,
            redirect_uri: &self.redirect_uri,
            scopes,
            state: &state,
            challenge: &flow::s256(&verifier),
            resource: &up.discovered.resource,
        })?;
        self.pending.insert(
            state,
            Pending { principal: principal_key, verifier: SecretString::from(verifier), created: Instant::now() },
        )?;
        tracing::info!("user consent required at the upstream authorization server");
        Ok(UpstreamOAuthError::ConsentRequired { url, elicitation_id: flow::random_b64(16)? })
    }

    /// Handles the redirect back from the upstream authorization server
    /// (`code`, `state`, `iss`): redeems the code and stores the tokens.
    pub async fn callback(&self, query: &str) -> Result<(), UpstreamOAuthError> {
        let span = tracing::info_span!("upstream_oauth_callback", backend = %self.backend_name);
        self.callback_inner(query).instrument(span).await
    }

    async fn callback_inner(&self, query: &str) -> Result<(), UpstreamOAuthError> {
        let form = crate::token::http::Form::parse(query.as_bytes());
        let one = |n: &str| form.one(n).map_err(|e| UpstreamOAuthError::Callback(e.to_string()));
        let state = one("state")?.ok_or_else(|| UpstreamOAuthError::Callback("no state".into()))?;
        let pending =
            self.pending.take(state).ok_or_else(|| UpstreamOAuthError::Callback("unknown or expired state".into()))?;
        let up = self.upstream().await?;
        match one("iss")? {
            Some(iss) if iss != up.discovered.server.issuer => {
                return Err(UpstreamOAuthError::Callback("iss does not name the authorization server".into()));
            }
            None if up.discovered.server.authorization_response_iss_parameter_supported => {
                return Err(UpstreamOAuthError::Callback("iss missing (RFC 9207)".into()));
            }
            _ => {}
        }
        if let Some(error) = one("error")? {
            return Err(UpstreamOAuthError::Callback(format!("authorization server answered {error}")));
        }
        let code = one("code")?.ok_or_else(|| UpstreamOAuthError::Callback("no code".into()))?;
        let form = vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("code".to_string(), code.to_string()),
            ("redirect_uri".to_string(), self.redirect_uri.clone()),
            ("code_verifier".to_string(), pending.verifier.expose_secret().to_string()),
            ("resource".to_string(), up.discovered.resource.clone()),
        ];
        let tokens =
            flow::token_request(&self.http, &up.discovered.server.token_endpoint, &up.client, form, None).await?;
        self.store.put_tokens(&self.key(up, pending.principal), &tokens).await?;
        tracing::info!("upstream tokens stored for the user");
        Ok(())
    }
}

fn fresh(t: &StoredTokens) -> bool {
    t.expires_at.is_none_or(|e| e > now_secs().saturating_add(REFRESH_MARGIN_SECS))
}

fn header(t: &StoredTokens) -> Result<http::HeaderValue, UpstreamOAuthError> {
    let mut v = http::HeaderValue::from_str(&format!("Bearer {}", t.access_token.expose_secret()))
        .map_err(|_| UpstreamOAuthError::TokenEndpoint { error: "access token is not a valid header value".into() })?;
    v.set_sensitive(true);
    Ok(v)
}

/// The store key from `storeKey`; a random one for an in-memory store.
fn store_key(s: &RawOAuthClientCredential) -> Result<[u8; 32], UpstreamOAuthError> {
    match (&s.store_key, &s.store) {
        (Some(env), _) => {
            let v = std::env::var(env)
                .map_err(|_| UpstreamOAuthError::Config(format!("storeKey: environment variable {env} is not set")))?;
            let v = v.trim();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v))
                .map_err(|_| UpstreamOAuthError::Config(format!("storeKey: {env} is not base64")))?;
            <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| UpstreamOAuthError::Config(format!("storeKey: {env} must hold 32 bytes")))
        }
        (None, Some(_)) => {
            Err(UpstreamOAuthError::Config("store needs storeKey (tokens on disk are encrypted)".into()))
        }
        (None, None) => {
            let mut k = [0u8; 32];
            aws_lc_rs::rand::fill(&mut k).map_err(|_| UpstreamOAuthError::Store("no randomness".into()))?;
            Ok(k)
        }
    }
}

/// A short id that stays the same for the same backend across restarts.
fn stable_id(name: &str, url: &Url) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(name.as_bytes());
    ctx.update(&[0]);
    ctx.update(url.as_str().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&ctx.finish().as_ref()[..9])
}
