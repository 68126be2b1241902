//! The authorization code flow with PKCE S256 (RFC 7636) and resource
//! indicators (RFC 8707): pending consent requests bound to a Warden
//! principal, the authorization URL, and the token endpoint requests
//! (code redemption and refresh).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::registration::ClientIdentity;
use super::store::{StoredTokens, now_secs};
use super::{UpstreamOAuthError, fetch};

/// How long a consent URL stays usable.
pub(super) const STATE_TTL: Duration = Duration::from_secs(600);
/// Most pending consent requests kept per backend.
const MAX_PENDING: usize = 10_000;
/// Most pending consent requests of one principal (older ones are dropped),
/// so that one caller cannot fill the table.
const MAX_PENDING_PER_PRINCIPAL: usize = 8;

/// A consent request waiting for the browser to come back.
#[derive(Debug)]
pub(super) struct Pending {
    /// Whose tokens these will be.
    pub principal: String,
    /// PKCE `code_verifier`.
    pub verifier: SecretString,
    /// When it was made.
    pub created: Instant,
}

/// Pending consent requests by `state`.
#[derive(Debug, Default)]
pub(super) struct PendingStates(Mutex<HashMap<String, Pending>>);

impl PendingStates {
    /// Keeps `p` under `state`, dropping expired entries.
    pub fn insert(&self, state: String, p: Pending) -> Result<(), UpstreamOAuthError> {
        let mut m = self.0.lock();
        m.retain(|_, v| v.created.elapsed() < STATE_TTL);
        let mut mine: Vec<(String, Instant)> =
            m.iter().filter(|(_, v)| v.principal == p.principal).map(|(k, v)| (k.clone(), v.created)).collect();
        if mine.len() >= MAX_PENDING_PER_PRINCIPAL {
            mine.sort_by_key(|(_, created)| *created);
            for (k, _) in mine.iter().take(mine.len() + 1 - MAX_PENDING_PER_PRINCIPAL) {
                m.remove(k);
            }
        }
        if m.len() >= MAX_PENDING {
            return Err(UpstreamOAuthError::Store("too many pending consent requests".into()));
        }
        m.insert(state, p);
        Ok(())
    }

    /// Takes the request of `state` (single use), if it has not expired.
    pub fn take(&self, state: &str) -> Option<Pending> {
        self.0.lock().remove(state).filter(|p| p.created.elapsed() < STATE_TTL)
    }
}

/// `n` random bytes, base64url.
pub(super) fn random_b64(n: usize) -> Result<String, UpstreamOAuthError> {
    let mut b = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| UpstreamOAuthError::Store("no randomness".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}

/// PKCE S256 challenge of `verifier`.
pub(super) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref())
}

/// What goes into the authorization URL.
pub(super) struct AuthorizeParams<'a> {
    pub endpoint: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: &'a [String],
    pub state: &'a str,
    pub challenge: &'a str,
    pub resource: &'a str,
}

/// The upstream authorization URL for one consent request.
pub(super) fn authorize_url(p: &AuthorizeParams<'_>) -> Result<String, UpstreamOAuthError> {
    let mut url = url::Url::parse(p.endpoint)
        .map_err(|_| UpstreamOAuthError::Discovery("authorization_endpoint is not a URL".into()))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", p.client_id)
            .append_pair("redirect_uri", p.redirect_uri)
            .append_pair("state", p.state)
            .append_pair("code_challenge", p.challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", p.resource);
        if !p.scopes.is_empty() {
            q.append_pair("scope", &p.scopes.join(" "));
        }
    }
    Ok(url.into())
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// One token endpoint request: `form` plus client authentication.
/// `previous_refresh` is kept when the server does not rotate it.
pub(super) async fn token_request(
    http: &reqwest::Client,
    endpoint: &str,
    client: &ClientIdentity,
    mut form: Vec<(String, String)>,
    previous_refresh: Option<&SecretString>,
) -> Result<StoredTokens, UpstreamOAuthError> {
    let req = http.post(endpoint).header(reqwest::header::ACCEPT, "application/json");
    let req = client.authenticate(req, &mut form);
    let resp = req.form(&form).send().await?;
    let status = resp.status();
    let bytes = fetch::body(resp).await?;
    if !status.is_success() {
        let error = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| format!("HTTP {status}"));
        return Err(UpstreamOAuthError::TokenEndpoint { error });
    }
    let t: TokenResponse = serde_json::from_slice(&bytes)
        .map_err(|_| UpstreamOAuthError::TokenEndpoint { error: "malformed token response".into() })?;
    let token_type = t.token_type.unwrap_or_else(|| "Bearer".into());
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(UpstreamOAuthError::TokenEndpoint { error: format!("unsupported token_type {token_type}") });
    }
    Ok(StoredTokens {
        access_token: SecretString::from(t.access_token),
        refresh_token: t
            .refresh_token
            .map(SecretString::from)
            .or_else(|| previous_refresh.map(|r| SecretString::from(r.expose_secret().to_string()))),
        expires_at: t.expires_in.map(|e| now_secs().saturating_add(e)),
        token_type: "Bearer".into(),
    })
}
