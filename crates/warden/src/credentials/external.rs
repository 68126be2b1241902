//! Credentials from an external authorization server, per principal:
//! - `externalExchange`: RFC 8693 token exchange; the subject token is one
//!   Warden mints for that server (`aud` = its issuer);
//! - `idJag`: Warden, as the user's identity provider, signs an Identity
//!   Assertion JWT Authorization Grant (`typ: oauth-id-jag+jwt`) and redeems
//!   it with the JWT-bearer grant (draft-ietf-oauth-identity-assertion-authz-grant).
//!
//! Both cache the result per principal until shortly before it expires.

use std::sync::Arc;

use secrecy::ExposeSecret;
use serde_json::json;

use super::cache::{DEFAULT_CAPACITY, TokenCache, principal_key};
use super::client_auth::ClientAuth;
use super::{CredentialError, Injected, mint_delegated};
use crate::auth::Principal;
use crate::config::raw_token::{RawExternalExchange, RawIdJag};
use crate::token::{TokenService, now_secs};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Lifetime of an ID-JAG (it is redeemed at once).
const ID_JAG_LIFETIME: u64 = 60;
/// Assumed lifetime when the server names none.
const DEFAULT_EXPIRES_IN: u64 = 300;
/// Largest token response read.
const MAX_RESPONSE: usize = 64 * 1024;

/// The external server and how Warden talks to it.
#[derive(Debug)]
struct Server {
    token_endpoint: String,
    /// `aud` of client assertions (and of the subject token / ID-JAG).
    issuer: String,
    client_id: String,
    auth: ClientAuth,
    http: reqwest::Client,
}

impl Server {
    /// POSTs a token request; returns the access token and its expiry.
    async fn token(&self, mut form: Vec<(&'static str, String)>) -> Result<(String, u64), CredentialError> {
        let req = self.http.post(&self.token_endpoint).header(http::header::ACCEPT, "application/json");
        let req = self.auth.apply(req, &mut form, &self.client_id, &self.issuer).await?;
        let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form.iter()).finish();
        let resp = req
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| CredentialError::External(e.without_url().to_string()))?;
        let status = resp.status();
        let bytes = crate::auth::jwks::read_capped(resp, MAX_RESPONSE).await.map_err(CredentialError::External)?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        if !status.is_success() {
            // The error code and description name no secret (RFC 6749 §5.2).
            let code = v["error"].as_str().unwrap_or("?");
            let desc = v["error_description"].as_str().unwrap_or("");
            return Err(CredentialError::External(format!("HTTP {status}: {code} {desc}")));
        }
        let token = v["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CredentialError::External("no access_token in the response".into()))?;
        // An absurd `expires_in` is capped (the cache refreshes long before).
        let expires_in = v["expires_in"].as_u64().unwrap_or(DEFAULT_EXPIRES_IN).min(24 * 3600);
        Ok((token.to_string(), now_secs().saturating_add(expires_in)))
    }
}

fn origin(endpoint: &str) -> String {
    url::Url::parse(endpoint).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
}

/// `externalExchange`.
#[derive(Debug)]
pub struct ExternalExchange {
    server: Server,
    service: Arc<TokenService>,
    audience: Option<String>,
    resource: Option<String>,
    scope: Option<String>,
    cache: TokenCache,
}

impl ExternalExchange {
    /// Loads the client credential.
    pub fn new(
        e: &RawExternalExchange,
        service: Arc<TokenService>,
        http: &reqwest::Client,
    ) -> Result<ExternalExchange, CredentialError> {
        Ok(ExternalExchange {
            server: Server {
                token_endpoint: e.token_endpoint.clone(),
                issuer: e.issuer.clone().unwrap_or_else(|| origin(&e.token_endpoint)),
                client_id: e.client_id.clone(),
                auth: ClientAuth::load(&e.client_auth)?,
                http: http.clone(),
            },
            service,
            audience: e.audience.clone(),
            resource: e.resource.clone(),
            scope: (!e.scopes.is_empty()).then(|| e.scopes.join(" ")),
            cache: TokenCache::new(DEFAULT_CAPACITY),
        })
    }

    /// The token for this principal (cached).
    pub async fn for_call(&self, principal: &Principal) -> Result<Arc<Injected>, CredentialError> {
        let key = principal_key(principal);
        if let Some(hit) = self.cache.get(&key, principal.expires_at) {
            return Ok(hit);
        }
        let subject = mint_delegated(&self.service, principal, &self.server.issuer, None, None, false)?;
        let mut form = vec![
            ("grant_type", TOKEN_EXCHANGE.to_string()),
            ("subject_token", subject.token.expose_secret().to_string()),
            ("subject_token_type", ACCESS_TOKEN_TYPE.to_string()),
            ("requested_token_type", ACCESS_TOKEN_TYPE.to_string()),
        ];
        push_opt(&mut form, "audience", &self.audience);
        push_opt(&mut form, "resource", &self.resource);
        push_opt(&mut form, "scope", &self.scope);
        let (token, exp) = self.server.token(form).await?;
        let injected = Arc::new(Injected::bearer(&token)?);
        self.cache.put(key, injected.clone(), exp);
        Ok(injected)
    }
}

fn push_opt(form: &mut Vec<(&'static str, String)>, k: &'static str, v: &Option<String>) {
    if let Some(v) = v {
        form.push((k, v.clone()));
    }
}

/// `idJag`.
#[derive(Debug)]
pub struct IdJag {
    server: Server,
    service: Arc<TokenService>,
    resource: Option<String>,
    scope: Option<String>,
    cache: TokenCache,
}

impl IdJag {
    /// Loads the client credential.
    pub fn new(e: &RawIdJag, service: Arc<TokenService>, http: &reqwest::Client) -> Result<IdJag, CredentialError> {
        Ok(IdJag {
            server: Server {
                token_endpoint: e.token_endpoint.clone(),
                issuer: e.authorization_server.trim_end_matches('/').to_string(),
                client_id: e.client_id.clone(),
                auth: ClientAuth::load(&e.client_auth)?,
                http: http.clone(),
            },
            service,
            resource: e.resource.clone(),
            scope: (!e.scopes.is_empty()).then(|| e.scopes.join(" ")),
            cache: TokenCache::new(DEFAULT_CAPACITY),
        })
    }

    /// Signs the ID-JAG for `principal` (Warden as the user's IdP).
    pub fn assertion(&self, principal: &Principal) -> Result<String, CredentialError> {
        if principal.kind == crate::auth::PrincipalKind::Anonymous || principal.subject.is_empty() {
            return Err(CredentialError::NoSubject);
        }
        let now = now_secs();
        let mut exp = now + ID_JAG_LIFETIME;
        if let Some(e) = principal.expires_at {
            if e <= now {
                return Err(CredentialError::Mint(crate::token::TokenServiceError::SubjectExpired));
            }
            exp = exp.min(e);
        }
        let jti: [u8; 16] = rand::random();
        let mut claims = json!({
            "iss": self.service.issuer(),
            "sub": principal.subject,
            "aud": self.server.issuer,
            "client_id": self.server.client_id,
            "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "iat": now,
            "exp": exp,
        });
        if let Some(r) = &self.resource {
            claims["resource"] = json!(r);
        }
        if let Some(s) = &self.scope {
            claims["scope"] = json!(s);
        }
        if let Some(t) = &principal.tenant {
            claims["tenant"] = json!(t);
        }
        if let Some(act) = crate::token::mint::act_claim(principal, self.service.issuer()) {
            claims["act"] = act;
        }
        Ok(self.service.sign("oauth-id-jag+jwt", &claims)?)
    }

    /// The token for this principal (cached).
    pub async fn for_call(&self, principal: &Principal) -> Result<Arc<Injected>, CredentialError> {
        let key = principal_key(principal);
        if let Some(hit) = self.cache.get(&key, principal.expires_at) {
            return Ok(hit);
        }
        let form = vec![("grant_type", JWT_BEARER.to_string()), ("assertion", self.assertion(principal)?)];
        let (token, exp) = self.server.token(form).await?;
        let injected = Arc::new(Injected::bearer(&token)?);
        self.cache.put(key, injected.clone(), exp);
        Ok(injected)
    }
}
