//! Warden's token service: its own issuer. It signs every token Warden
//! mints (delegated tokens for backends, exchanged tokens, transaction
//! tokens, the development identity provider's tokens), verifies its own
//! tokens when they come back, and publishes its keys and RFC 8414 metadata.

pub mod brake;
pub mod exchange;
pub mod http;
pub mod keys;
pub mod mint;

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Header, Validation};
use serde_json::{Map, Value, json};

use crate::config::TokenServiceSettings;
pub use keys::{KeyError, KeyRing, now_secs};
pub use mint::{MintRequest, Minted};

/// Paths of the token service's endpoints (under the issuer).
pub mod paths {
    /// RFC 8693 token endpoint (and the development IdP's grants).
    pub const TOKEN: &str = "/oauth/token";
    /// JWKS.
    pub const JWKS: &str = "/oauth/jwks";
    /// Development IdP: authorization endpoint with the login page.
    pub const AUTHORIZE: &str = "/oauth/authorize";
    /// Development IdP: RFC 7591 registration.
    pub const REGISTER: &str = "/oauth/register";
    /// RFC 8414 metadata (root form; the issuer has no path).
    pub const METADATA: &str = "/.well-known/oauth-authorization-server";
}

/// What went wrong minting or verifying. Messages name no secret.
#[derive(Debug, thiserror::Error)]
pub enum TokenServiceError {
    /// Keys.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// A token presented as Warden's own does not verify.
    #[error("not a valid token of this issuer: {0}")]
    Invalid(String),
    /// The subject's credential has expired (nothing can be minted from it).
    #[error("the subject's credential has expired")]
    SubjectExpired,
}

/// The token service.
#[derive(Debug)]
pub struct TokenService {
    /// Settings.
    pub settings: Arc<TokenServiceSettings>,
    ring: Arc<KeyRing>,
    /// Verifiers for the exchange endpoint (subject issuers, bundles,
    /// client keys), built on the first exchange.
    pub(crate) exchange_state: std::sync::OnceLock<Arc<exchange::state::ExchangeState>>,
    /// The development IdP's codes, refresh tokens and clients: shared with
    /// the service a reload replaces when the keys stay (tokens and codes
    /// issued before the reload stay usable).
    pub(crate) idp_state: Arc<std::sync::OnceLock<Arc<crate::idp::IdpState>>>,
    /// Per-address brake on the secret-checking endpoints.
    pub(crate) brake: Arc<brake::Brake>,
}

/// Allowed clock difference when verifying Warden's own tokens.
const SKEW: Duration = Duration::from_secs(30);

impl TokenService {
    /// Opens the key ring (generating keys if needed) and starts rotation.
    pub fn start(settings: Arc<TokenServiceSettings>) -> Result<Arc<TokenService>, TokenServiceError> {
        let ring = KeyRing::open(&settings.keys)?;
        if settings.keys.dir.is_none() && settings.keys.files.is_empty() {
            tracing::info!("token service keys live in memory (tokenService.keys.dir not set): tokens end at restart");
        }
        ring.start();
        Ok(Arc::new(TokenService {
            settings,
            ring,
            exchange_state: std::sync::OnceLock::new(),
            idp_state: Arc::default(),
            brake: Arc::default(),
        }))
    }

    /// A service over an open key ring, without background rotation (tests,
    /// benchmarks, tools that sign once).
    pub fn with_keys(settings: Arc<TokenServiceSettings>, ring: Arc<KeyRing>) -> Arc<TokenService> {
        Arc::new(TokenService {
            settings,
            ring,
            exchange_state: std::sync::OnceLock::new(),
            idp_state: Arc::default(),
            brake: Arc::default(),
        })
    }

    /// A service with new settings over `old`'s key ring and development
    /// IdP state (a reload with unchanged keys).
    pub fn reloaded(settings: Arc<TokenServiceSettings>, old: &TokenService) -> Arc<TokenService> {
        Arc::new(TokenService {
            settings,
            ring: old.ring.clone(),
            exchange_state: std::sync::OnceLock::new(),
            idp_state: old.idp_state.clone(),
            brake: old.brake.clone(),
        })
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// The key ring.
    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.ring
    }

    /// The published keys.
    pub fn jwks(&self) -> Arc<Value> {
        self.ring.jwks()
    }

    /// Signs `claims` with the active key; `typ` goes in the header (e.g.
    /// `at+jwt`, `txntoken+jwt`, `oauth-id-jag+jwt`).
    pub fn sign(&self, typ: &str, claims: &Value) -> Result<String, TokenServiceError> {
        let key = self.ring.active();
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        header.typ = Some(typ.to_string());
        jsonwebtoken::encode(&header, claims, key.encoding()).map_err(|e| TokenServiceError::Sign(e.to_string()))
    }

    /// Verifies a token this issuer signed: signature with a published key,
    /// `iss`, `exp`/`nbf` (30 s skew), and `aud` when `audience` is given.
    /// Returns the claims and the header `typ`.
    pub fn verify_own(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<(Map<String, Value>, Option<String>), TokenServiceError> {
        let invalid = |e: &dyn std::fmt::Display| TokenServiceError::Invalid(e.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(&e))?;
        let kid = header.kid.as_deref().ok_or_else(|| invalid(&"no kid"))?;
        let key = self.ring.by_kid(kid).ok_or_else(|| invalid(&"unknown kid"))?;
        if header.alg != key.alg {
            return Err(invalid(&"algorithm does not match the key"));
        }
        let mut v = Validation::new(key.alg);
        v.leeway = SKEW.as_secs();
        v.set_issuer(&[self.issuer()]);
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        v.validate_nbf = true;
        match audience {
            Some(a) => v.set_audience(&[a]),
            None => v.validate_aud = false,
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key.decoding(), &v).map_err(|e| invalid(&e))?;
        Ok((data.claims, header.typ))
    }

    /// RFC 8414 metadata. With the development IdP: the authorization
    /// endpoint, the user-facing grants, and registration / client ID
    /// metadata documents as far as they are switched on.
    pub fn metadata(&self, dev_idp: Option<&crate::config::DevIdpSettings>) -> Value {
        let iss = self.issuer();
        let mut grants = vec!["urn:ietf:params:oauth:grant-type:token-exchange"];
        let mut m = json!({
            "issuer": iss,
            "token_endpoint": format!("{iss}{}", paths::TOKEN),
            "jwks_uri": format!("{iss}{}", paths::JWKS),
            "token_endpoint_auth_methods_supported":
                ["private_key_jwt", "client_secret_basic", "client_secret_post", "tls_client_auth", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "ES384", "RS256", "PS256", "EdDSA"],
            "authorization_response_iss_parameter_supported": true,
        });
        if let Some(idp) = dev_idp {
            grants.extend(["authorization_code", "refresh_token", "client_credentials"]);
            m["authorization_endpoint"] = json!(format!("{iss}{}", paths::AUTHORIZE));
            if idp.raw.dynamic_registration.unwrap_or(true) {
                m["registration_endpoint"] = json!(format!("{iss}{}", paths::REGISTER));
            }
            m["response_types_supported"] = json!(["code"]);
            m["code_challenge_methods_supported"] = json!(["S256"]);
            m["client_id_metadata_document_supported"] = json!(idp.raw.client_id_metadata_documents.unwrap_or(true));
        }
        m["grant_types_supported"] = json!(grants);
        m
    }
}
