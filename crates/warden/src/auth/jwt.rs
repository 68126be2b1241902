//! JWT access-token validation for one provider (OAuth 2.1 §5.2, RFC 9068):
//! algorithm allow-list, signature with the issuer's key, `exp`/`nbf`/`iat`
//! with skew, `iss`, `aud` = this resource (RFC 8707), required claims; then
//! the claims become a [`Principal`].
//!
//! Signature checks are jsonwebtoken's (aws-lc-rs); only claim logic is here.

use std::collections::BTreeSet;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, Header, Validation};
use serde_json::{Map, Value};

use super::jwks::{KeyError, KeyStore};
use super::principal::{Actor, AgentIdentity, AuthMethod, Binding, Principal, PrincipalKind};
use crate::config::auth::{ClaimMapping, ClaimRequirement, JwtProviderSettings};

/// Why a token was refused. Logged; clients see only `invalid_token`.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a JWS compact token, or unparsable header/claims.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// `alg` not on the allow-list (or `none`, or HMAC).
    #[error("algorithm {0:?} not accepted")]
    Algorithm(String),
    /// No configured provider has this `iss`.
    #[error("unknown issuer {0:?}")]
    UnknownIssuer(String),
    /// Key lookup failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Signature or time claims invalid.
    #[error("rejected: {0}")]
    Invalid(String),
    /// `aud` does not name this resource.
    #[error("audience {0:?} not accepted")]
    Audience(String),
    /// A required claim is missing or has another value.
    #[error("required claim {0:?} missing or not accepted")]
    Claim(String),
}

impl TokenError {
    /// Whether the failure is Warden's (keys unavailable), not the token's.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, TokenError::Key(KeyError::Unavailable))
    }
}

/// A verified token: its claims and the principal built from them.
pub struct VerifiedToken {
    /// The principal.
    pub principal: Principal,
    /// `cnf` claim, if any.
    pub cnf: Option<Value>,
}

/// One configured provider with its keys.
pub struct JwtProvider {
    /// Settings.
    pub settings: JwtProviderSettings,
    /// Keys.
    pub keys: Arc<KeyStore>,
    /// One validation per accepted algorithm: jsonwebtoken refuses a key when
    /// any listed algorithm is of another family, so each token is checked
    /// with exactly its own (already allow-listed) algorithm.
    validations: Vec<(Algorithm, Validation)>,
}

impl JwtProvider {
    /// A provider over `keys`.
    pub fn new(settings: JwtProviderSettings, keys: Arc<KeyStore>) -> JwtProvider {
        let validations = settings
            .algorithms
            .iter()
            .map(|alg| {
                let mut v = Validation::new(*alg);
                v.leeway = settings.clock_skew.as_secs();
                v.validate_nbf = true;
                // The audience is checked below against the resource of the
                // listener the request came in on (one provider serves several URLs).
                v.validate_aud = false;
                v.set_issuer(&[settings.issuer.as_str()]);
                v.set_required_spec_claims(&["exp", "iss", "sub"]);
                (*alg, v)
            })
            .collect();
        JwtProvider { settings, keys, validations }
    }

    /// Verifies `token` (header already decoded) for a resource accepting `audiences`.
    pub async fn verify(
        &self,
        token: &str,
        header: &Header,
        audiences: &[String],
    ) -> Result<VerifiedToken, TokenError> {
        let Some((_, validation)) = self.validations.iter().find(|(a, _)| *a == header.alg) else {
            return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
        };
        let key = self.keys.key(header.kid.as_deref()).await?;
        if key.alg.is_some_and(|a| a != header.alg) {
            return Err(TokenError::Algorithm(format!("{:?} (key pins another)", header.alg)));
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        let claims = data.claims;
        if let Some(iat) = claims.get("iat").and_then(Value::as_u64) {
            let now = jsonwebtoken::get_current_timestamp();
            if iat > now + self.settings.clock_skew.as_secs() {
                return Err(TokenError::Invalid("issued in the future".into()));
            }
        }
        let allowed = self.settings.audiences.as_deref().unwrap_or(audiences);
        check_audience(&claims, allowed)?;
        for (name, req) in &self.settings.required_claims {
            if !claim_satisfies(lookup(&claims, name), req) {
                return Err(TokenError::Claim(name.clone()));
            }
        }
        // Sessions and state handles are bound to the subject: a token without
        // one (under the configured mapping) cannot be told apart from others.
        if lookup(&claims, &self.settings.mapping.subject).and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(TokenError::Claim(self.settings.mapping.subject.clone()));
        }
        let cnf = claims.get("cnf").cloned();
        let principal =
            principal_from_claims(&claims, &self.settings.mapping, &self.settings.name, &self.settings.issuer);
        Ok(VerifiedToken { principal, cnf })
    }
}

fn check_audience(claims: &Map<String, Value>, allowed: &[String]) -> Result<(), TokenError> {
    let matches = |a: &str| allowed.iter().any(|x| x == a);
    match claims.get("aud") {
        Some(Value::String(a)) if matches(a) => Ok(()),
        Some(Value::Array(list)) if list.iter().filter_map(Value::as_str).any(matches) => Ok(()),
        Some(other) => Err(TokenError::Audience(other.to_string().chars().take(200).collect())),
        None => Err(TokenError::Audience("(none)".into())),
    }
}

/// The claim at a dotted path (`realm_access.roles`).
pub fn lookup<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut cur = claims.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

fn claim_satisfies(v: Option<&Value>, req: &ClaimRequirement) -> bool {
    match (v, req) {
        (None, _) => false,
        (Some(_), ClaimRequirement::Present) => true,
        (Some(Value::Array(items)), ClaimRequirement::OneOf(ok)) => items.iter().any(|i| ok.contains(i)),
        (Some(Value::String(s)), ClaimRequirement::OneOf(ok)) if s.contains(' ') => {
            // Space-separated lists (`scope`).
            s.split(' ').any(|part| ok.iter().any(|o| o.as_str() == Some(part)))
        }
        (Some(v), ClaimRequirement::OneOf(ok)) => ok.contains(v),
    }
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s.split(' ').filter(|x| !x.is_empty()).map(str::to_string).collect(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

fn first_str(claims: &Map<String, Value>, names: &[String]) -> Option<String> {
    names.iter().find_map(|n| lookup(claims, n).and_then(Value::as_str).map(str::to_string))
}

/// The `act` chain, current actor first (RFC 8693 §4.1), at most 16 deep.
pub fn act_chain(claims: &Map<String, Value>) -> Vec<Actor> {
    let mut out = Vec::new();
    let mut cur = claims.get("act");
    while let Some(Value::Object(a)) = cur {
        if out.len() >= 16 {
            break;
        }
        out.push(Actor {
            subject: a.get("sub").and_then(Value::as_str).unwrap_or("").to_string(),
            issuer: a.get("iss").and_then(Value::as_str).map(str::to_string),
            client_id: a.get("client_id").and_then(Value::as_str).map(str::to_string),
        });
        cur = a.get("act");
    }
    out
}

/// Builds the principal from verified claims.
pub fn principal_from_claims(claims: &Map<String, Value>, m: &ClaimMapping, provider: &str, issuer: &str) -> Principal {
    let subject = lookup(claims, &m.subject).and_then(Value::as_str).unwrap_or("").to_string();
    let client_id = first_str(claims, &m.client_id);
    let scopes: BTreeSet<String> = m
        .scopes
        .iter()
        .find_map(|n| lookup(claims, n))
        .map(|v| string_list(Some(v)))
        .unwrap_or_default()
        .into_iter()
        .collect();
    let act = act_chain(claims);
    let agent_claim = lookup(claims, &m.agent_id).and_then(Value::as_str).map(str::to_string);
    // A token whose subject is its own client (client credentials) is an agent acting for itself.
    let is_client_token = client_id.as_deref().is_some_and(|c| c == subject);
    let kind = if is_client_token || (agent_claim.is_some() && agent_claim.as_deref() == Some(subject.as_str())) {
        PrincipalKind::Agent
    } else {
        PrincipalKind::User
    };
    let agent = if kind == PrincipalKind::Agent {
        None
    } else if let Some(a) = act.first() {
        Some(AgentIdentity { id: a.client_id.clone().unwrap_or_else(|| a.subject.clone()), source: "act" })
    } else if let Some(a) = agent_claim {
        Some(AgentIdentity { id: a, source: "claim" })
    } else {
        client_id.clone().map(|c| AgentIdentity { id: c, source: "client" })
    };
    let mut attributes = Map::new();
    for (name, claim) in &m.attributes {
        if let Some(v) = lookup(claims, claim) {
            attributes.insert(name.clone(), v.clone());
        }
    }
    Principal {
        kind,
        subject,
        issuer: Some(issuer.to_string()),
        tenant: first_str(claims, &m.tenant),
        groups: string_list(lookup(claims, &m.groups)),
        roles: string_list(lookup(claims, &m.roles)),
        scopes,
        client_id,
        agent,
        act,
        workload: None,
        method: AuthMethod::Jwt { provider: provider.to_string() },
        binding: Binding::None,
        expires_at: claims.get("exp").and_then(Value::as_u64),
        attributes: Arc::new(attributes),
    }
}
