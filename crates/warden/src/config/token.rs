//! Validation of `tokenService`, `devIdentityProvider`,
//! `virtualServers[].transactionTokens` and `backends[].credential`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::auth::{JwtProviderSettings, SpiffeSettings};
use super::model::Problems;
use super::policy::{PolicySettings, resolve_path};
use super::raw_auth::RawAuth;
use super::raw_token::{
    RawDevIdp, RawExternalExchange, RawIdJag, RawSecretCredential, RawTokenClient, RawTokenService, SigningAlgorithm,
};

/// Default longest lifetime of a minted token.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// The validated token service.
#[derive(Debug, Clone)]
pub struct TokenServiceSettings {
    /// `iss` of minted tokens; no trailing slash.
    pub issuer: String,
    /// Signing keys.
    pub keys: SigningKeySettings,
    /// Longest lifetime of a minted token.
    pub token_lifetime: Duration,
    /// Clients of the token endpoint.
    pub clients: Vec<RawTokenClient>,
    /// Issuers accepted for subject and actor tokens.
    pub subject_issuers: Vec<JwtProviderSettings>,
    /// Trust domains for JWT-SVID subject tokens and `jwt-spiffe` assertions.
    pub spiffe: Option<SpiffeSettings>,
    /// Cedar policy for exchanges.
    pub policy: Option<Arc<PolicySettings>>,
}

impl TokenServiceSettings {
    /// A service with `issuer`, in-memory keys of `algorithm` (24 h rotation,
    /// 1 h overlap), 5-minute tokens and nothing else: tests, benchmarks.
    pub fn in_memory(issuer: &str, algorithm: SigningAlgorithm) -> TokenServiceSettings {
        TokenServiceSettings {
            issuer: issuer.to_string(),
            keys: SigningKeySettings {
                dir: None,
                files: Vec::new(),
                algorithm,
                rotate_every: Duration::from_secs(24 * 3600),
                overlap: Duration::from_secs(3600),
            },
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            clients: Vec::new(),
            subject_issuers: Vec::new(),
            spiffe: None,
            policy: None,
        }
    }
}

/// Where signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeySettings {
    /// Directory of generated keys (absent: in memory).
    pub dir: Option<PathBuf>,
    /// Fixed key files, newest last (no rotation).
    pub files: Vec<PathBuf>,
    /// Algorithm of generated keys.
    pub algorithm: SigningAlgorithm,
    /// Rotation period of generated keys.
    pub rotate_every: Duration,
    /// Publication overlap before and after a key signs.
    pub overlap: Duration,
}

/// The validated development identity provider.
#[derive(Debug, Clone)]
pub struct DevIdpSettings {
    /// As written (users, clients, switches).
    pub raw: RawDevIdp,
    /// Access-token lifetime.
    pub access_token_lifetime: Duration,
    /// Refresh-token lifetime.
    pub refresh_token_lifetime: Duration,
}

/// Transaction tokens of a virtual server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionTokenSettings {
    /// `aud` (trust domain); absent: the token service issuer.
    pub audience: Option<String>,
    /// Lifetime.
    pub lifetime: Duration,
}

/// The credential a backend receives.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum CredentialSettings {
    /// None (`passthroughForbidden`, the default).
    #[default]
    None,
    /// Minted by Warden's token service.
    Exchange {
        /// `aud` of the minted token.
        audience: String,
        /// Scopes asked for (absent: the caller's).
        scopes: Option<Vec<String>>,
        /// Lifetime (absent: the service default).
        lifetime: Option<Duration>,
        /// Impersonation instead of delegation.
        impersonate: bool,
    },
    /// RFC 8693 at an external AS.
    ExternalExchange(RawExternalExchange),
    /// ID-JAG + JWT bearer.
    IdJag(RawIdJag),
    /// A static secret.
    Secret(RawSecretCredential),
    /// Upstream OAuth client.
    OAuthClient(super::raw_oauth_client::RawOAuthClientCredential),
}

fn duration(d: Option<&super::units::HumanDuration>, default: Duration) -> Duration {
    d.map_or(default, |d| d.0)
}

pub(super) fn validate_token_service(
    r: &RawTokenService,
    default_issuer: Option<String>,
    base: &Path,
    p: &mut Problems,
) -> Option<TokenServiceSettings> {
    let at = "tokenService";
    let issuer = match r.issuer.clone().or(default_issuer) {
        Some(i) => i.trim_end_matches('/').to_string(),
        None => {
            p.push(format!("{at}.issuer"), "required when there is no listener");
            return None;
        }
    };
    if url::Url::parse(&issuer).map_or(true, |u| !matches!(u.scheme(), "http" | "https") || u.query().is_some()) {
        p.push(format!("{at}.issuer"), "must be an http(s) URL without query");
    }
    let keys = r.keys.clone().unwrap_or_default();
    let token_lifetime = duration(r.token_lifetime.as_ref(), DEFAULT_TOKEN_LIFETIME);
    let overlap = duration(keys.overlap.as_ref(), Duration::from_secs(3600));
    let rotate_every = duration(keys.rotate_every.as_ref(), Duration::from_secs(24 * 3600));
    if overlap < token_lifetime {
        p.push(format!("{at}.keys.overlap"), "must be at least tokenLifetime (old tokens must stay verifiable)");
    }
    if rotate_every <= overlap {
        p.push(format!("{at}.keys.rotateEvery"), "must be longer than keys.overlap");
    }
    let keys = SigningKeySettings {
        dir: keys.dir.as_deref().map(|d| resolve_path(base, d)),
        files: keys.files.iter().map(|f| resolve_path(base, f)).collect(),
        algorithm: keys.algorithm.unwrap_or_default(),
        rotate_every,
        overlap,
    };
    if keys.dir.is_some() && !keys.files.is_empty() {
        p.push(format!("{at}.keys"), "at most one of `dir` and `files`");
    }
    let subjects = RawAuth { jwt: r.subject_issuers.clone(), spiffe: r.spiffe.clone(), ..RawAuth::default() };
    let (subject_issuers, spiffe) = if subjects.jwt.is_empty() && subjects.spiffe.is_none() {
        (Vec::new(), None)
    } else {
        let mut sub = Problems::default();
        let s = super::auth::validate_auth(&subjects, at, &mut sub);
        // `validate_auth` names the keys of a virtual server's `auth`; rename.
        for e in sub.0 {
            p.0.push(e.replace(&format!("{at}.jwt"), &format!("{at}.subjectIssuers")));
        }
        (s.jwt.clone(), s.spiffe.clone())
    };
    let clients = validate_clients(&r.clients, spiffe.is_some(), base, p);
    let policy = r
        .policy
        .as_ref()
        .and_then(|pol| super::policy::validate_policy(pol, base, &format!("{at}.policy"), p).map(Arc::new));
    Some(TokenServiceSettings { issuer, keys, token_lifetime, clients, subject_issuers, spiffe, policy })
}

/// Checks `tokenService.clients`: unique ids, exactly one way to
/// authenticate (`secretHash`, a JWKS, `spiffeId` and/or
/// `certificateThumbprint` for mTLS), well-formed values. A `jwksFile` is
/// read here and kept inline (`jwks`).
fn validate_clients(raw: &[RawTokenClient], has_spiffe: bool, base: &Path, p: &mut Problems) -> Vec<RawTokenClient> {
    let mut ids = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (i, c) in raw.iter().enumerate() {
        let at = format!("tokenService.clients[{i}]");
        let mut c = c.clone();
        if c.id.trim().is_empty() || !ids.insert(c.id.clone()) {
            p.push(format!("{at}.id"), format!("empty or duplicate client id {:?}", c.id));
        }
        if let Some(h) = &c.secret_hash
            && h.strip_prefix("sha256:").and_then(crate::token::exchange::client::hex32).is_none()
        {
            p.push(format!("{at}.secretHash"), "must be `sha256:` and 64 hex digits");
        }
        let key_sources = [c.jwks.is_some(), c.jwks_url.is_some(), c.jwks_file.is_some()];
        if key_sources.iter().filter(|x| **x).count() > 1 {
            p.push(&at, "at most one of `jwks`, `jwksUrl`, `jwksFile`");
        }
        if let Some(f) = c.jwks_file.take() {
            let path = resolve_path(base, &f);
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(v) => c.jwks = Some(v),
                Err(e) => p.push(format!("{at}.jwksFile"), format!("{}: {e}", path.display())),
            }
        }
        if let Some(j) = &c.jwks
            && serde_json::from_value::<jsonwebtoken::jwk::JwkSet>(j.clone()).is_err()
        {
            p.push(format!("{at}.jwks"), "not a JWK set");
        }
        if let Some(u) = &c.jwks_url
            && !url::Url::parse(u).is_ok_and(|u| crate::auth::jwks::key_url_allowed(&u))
        {
            p.push(format!("{at}.jwksUrl"), "must be https (plain http only to a loopback host)");
        }
        if let Some(id) = &c.spiffe_id {
            if crate::auth::spiffe::SpiffeId::parse(id).is_err() {
                p.push(format!("{at}.spiffeId"), "not a valid SPIFFE ID");
            }
            if !has_spiffe {
                tracing::debug!(client = %c.id, "spiffeId without tokenService.spiffe: only mTLS X.509-SVIDs authenticate it");
            }
        }
        if let Some(t) = &c.certificate_thumbprint
            && !(t.len() == 43 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            p.push(
                format!("{at}.certificateThumbprint"),
                "must be the base64url SHA-256 of the certificate (43 characters)",
            );
        }
        let secret = c.secret_hash.is_some();
        let keys = c.jwks.is_some() || c.jwks_url.is_some();
        let tls_or_spiffe = c.spiffe_id.is_some() || c.certificate_thumbprint.is_some();
        if [secret, keys, tls_or_spiffe].iter().filter(|x| **x).count() != 1 {
            p.push(
                &at,
                "exactly one way to authenticate: `secretHash`, a JWKS (`jwks`/`jwksUrl`/`jwksFile`), or \
                 `spiffeId`/`certificateThumbprint`",
            );
        }
        out.push(c);
    }
    out
}
