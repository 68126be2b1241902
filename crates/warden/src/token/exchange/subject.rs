//! Verifying a subject or actor token: Warden's own access tokens, JWT
//! access tokens and ID tokens of `tokenService.subjectIssuers` (audience:
//! the provider's `audiences`, default the token service issuer), and
//! JWT-SVIDs of `tokenService.spiffe` (audience: its `audiences`, default the
//! issuer). Sender-constrained tokens (`cnf`) are refused: the binding could
//! not be honoured by the token issued in exchange.

use serde_json::{Map, Value};

use super::super::TokenService;
use super::error::ExchangeError;
use super::request::InputType;
use super::state::ExchangeState;
use crate::auth::Principal;
use crate::auth::jwt::principal_from_claims;
use crate::config::auth::ClaimMapping;

/// Which token of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `subject_token`.
    Subject,
    /// `actor_token`.
    Actor,
}

impl Role {
    fn public(self) -> &'static str {
        match self {
            Role::Subject => "subject_token is invalid or not accepted",
            Role::Actor => "actor_token is invalid or not accepted",
        }
    }
}

/// A verified token.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Who it names.
    pub principal: Principal,
    /// Its (verified) claims.
    pub claims: Map<String, Value>,
}

/// How Warden reads its own tokens.
fn own_mapping() -> ClaimMapping {
    ClaimMapping {
        subject: "sub".into(),
        tenant: vec!["tenant".into()],
        groups: "groups".into(),
        roles: "roles".into(),
        scopes: vec!["scope".into()],
        client_id: vec!["client_id".into()],
        agent_id: "agent_id".into(),
        attributes: Vec::new(),
    }
}

/// Verifies `token` of declared type `ty` in `role`.
pub async fn verify(
    ts: &TokenService,
    state: &ExchangeState,
    token: &str,
    ty: InputType,
    role: Role,
) -> Result<Verified, ExchangeError> {
    let bad = |detail: String| ExchangeError::Token { public: role.public(), detail: format!("{role:?}: {detail}") };
    let header = jsonwebtoken::decode_header(token).map_err(|e| bad(format!("not a JWT: {e}")))?;
    let claims: Map<String, Value> =
        jsonwebtoken::dangerous::insecure_decode_claims(token).map_err(|e| bad(format!("claims: {e}")))?;
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    let principal = if iss == ts.issuer() {
        if ty == InputType::IdToken {
            return Err(bad("Warden issues no ID tokens here".into()));
        }
        let (_, typ) = ts.verify_own(token, None).map_err(|e| bad(e.to_string()))?;
        if typ.as_deref() != Some("at+jwt") {
            return Err(bad(format!("own token of type {typ:?}")));
        }
        let origin = claims.get("sub_iss").and_then(Value::as_str).unwrap_or(ts.issuer()).to_string();
        principal_from_claims(&claims, &own_mapping(), "warden", &origin)
    } else if let Some(p) = state.providers.iter().find(|p| p.settings.issuer == iss) {
        let audiences = [ts.issuer().to_string()];
        let v = p.verify(token, &header, &audiences).await.map_err(|e| {
            if e.is_unavailable() { ExchangeError::Unavailable(format!("issuer {iss}")) } else { bad(e.to_string()) }
        })?;
        v.principal
    } else if let Some(trust) = state.svid.as_ref().filter(|_| sub.starts_with("spiffe://")) {
        if ty == InputType::IdToken {
            return Err(bad("a JWT-SVID is not an ID token".into()));
        }
        let audiences = ts
            .settings
            .spiffe
            .as_ref()
            .and_then(|s| s.audiences.clone())
            .unwrap_or_else(|| vec![ts.issuer().to_string()]);
        trust.verify(token, &audiences).map_err(|e| bad(format!("JWT-SVID: {e}")))?
    } else {
        return Err(bad(format!("issuer {:?} not accepted", iss.chars().take(100).collect::<String>())));
    };
    if claims.contains_key("cnf") {
        return Err(bad("sender-constrained (cnf) tokens cannot be exchanged".into()));
    }
    Ok(Verified { principal, claims })
}
