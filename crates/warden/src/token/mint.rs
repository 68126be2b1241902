//! Minting a delegated token for an authenticated principal: the core of the
//! `exchange` upstream credential (and of RFC 8693 exchanges for callers that
//! Warden already authenticated).
//!
//! Rules (standards.md §3): the subject is the user (or the agent/workload
//! acting for itself); `act` names the current actor, nesting the prior
//! chain; the scope is the intersection of what the caller holds and what is
//! asked for; the audience is one backend; the lifetime is short and never
//! beyond the subject's credential.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};

use super::{TokenService, TokenServiceError, now_secs};
use crate::auth::{Principal, PrincipalKind};

/// What to mint.
#[derive(Debug, Clone)]
pub struct MintRequest<'a> {
    /// The single audience.
    pub audience: &'a str,
    /// Scopes asked for; `None`: all the caller holds.
    pub scopes: Option<&'a [String]>,
    /// Lifetime asked for (capped by the service's `tokenLifetime` and the
    /// subject's expiry).
    pub lifetime: Option<Duration>,
    /// Impersonation: no `act` claim.
    pub impersonate: bool,
}

/// A minted token.
#[derive(Debug, Clone)]
pub struct Minted {
    /// The JWT.
    pub token: SecretString,
    /// Expiry, seconds since the epoch.
    pub expires_at: u64,
    /// Space-separated granted scopes.
    pub scope: String,
}

/// The acting party for a principal: the agent acting for a user, if any.
fn actor_of(p: &Principal) -> Option<String> {
    match p.kind {
        PrincipalKind::User => p.agent.as_ref().map(|a| a.id.clone()).or_else(|| p.client_id.clone()),
        _ => None,
    }
}

/// The `act` claim: the current actor outermost, then the prior chain
/// (`p.act`, current actor first) unless it already starts with that actor.
pub fn act_claim(p: &Principal, issuer: &str) -> Option<Value> {
    let mut chain: Vec<Value> = p
        .act
        .iter()
        .map(|a| {
            let mut v = json!({"sub": a.subject});
            if let Some(i) = &a.issuer {
                v["iss"] = json!(i);
            }
            v
        })
        .collect();
    if let Some(actor) = actor_of(p)
        && p.act.first().is_none_or(|a| a.subject != actor && a.client_id.as_deref() != Some(actor.as_str()))
    {
        let iss = if p.workload.as_deref() == Some(actor.as_str()) { None } else { p.issuer.clone() };
        let mut v = json!({"sub": actor});
        if let Some(i) = iss.filter(|i| i != issuer) {
            v["iss"] = json!(i);
        }
        chain.insert(0, v);
    }
    // Nest: chain[0] { act: chain[1] { act: … } }.
    let mut nested: Option<Value> = None;
    for mut link in chain.into_iter().rev() {
        if let Some(inner) = nested.take() {
            link["act"] = inner;
        }
        nested = Some(link);
    }
    nested
}

impl TokenService {
    /// Mints a token for `principal` to present to `req.audience`.
    pub fn mint_for(&self, principal: &Principal, req: &MintRequest<'_>) -> Result<Minted, TokenServiceError> {
        let now = now_secs();
        let mut lifetime =
            req.lifetime.unwrap_or(self.settings.token_lifetime).min(self.settings.token_lifetime).as_secs();
        if let Some(exp) = principal.expires_at {
            if exp <= now {
                return Err(TokenServiceError::SubjectExpired);
            }
            lifetime = lifetime.min(exp - now);
        }
        let granted: Vec<&str> = match req.scopes {
            None => principal.scopes.iter().map(String::as_str).collect(),
            Some(asked) => asked.iter().filter(|s| principal.scopes.contains(*s)).map(String::as_str).collect(),
        };
        let scope = granted.join(" ");
        let jti: [u8; 16] = rand::random();
        let mut claims = json!({
            "iss": self.issuer(),
            "sub": principal.subject,
            "aud": req.audience,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "scope": scope,
        });
        if let Some(i) = &principal.issuer {
            claims["sub_iss"] = json!(i);
        }
        if let Some(t) = &principal.tenant {
            claims["tenant"] = json!(t);
        }
        if let Some(c) = &principal.client_id {
            claims["client_id"] = json!(c);
        }
        if !req.impersonate
            && let Some(act) = act_claim(principal, self.issuer())
        {
            claims["act"] = act;
        }
        let token = self.sign("at+jwt", &claims)?;
        Ok(Minted { token: SecretString::from(token), expires_at: now + lifetime, scope })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use secrecy::ExposeSecret;

    use super::*;
    use crate::auth::AgentIdentity;
    use crate::auth::principal::Actor;
    use crate::config::TokenServiceSettings;
    use crate::config::raw_token::SigningAlgorithm;

    fn service() -> Arc<TokenService> {
        let settings = TokenServiceSettings::in_memory("http://127.0.0.1:1", SigningAlgorithm::ES256);
        let ring = super::super::KeyRing::open(&settings.keys).unwrap();
        TokenService::with_keys(Arc::new(settings), ring)
    }

    fn alice() -> Principal {
        let mut p = Principal::anonymous();
        p.kind = PrincipalKind::User;
        p.subject = "alice".into();
        p.issuer = Some("https://idp".into());
        p.scopes = ["hr.read", "hr.write", "mail"].iter().map(|s| s.to_string()).collect();
        p.client_id = Some("hr-assistant".into());
        p.agent = Some(AgentIdentity { id: "hr-assistant".into(), source: "client" });
        p.expires_at = Some(now_secs() + 60);
        p
    }

    #[test]
    fn delegated_token_names_the_agent_and_narrows_scope_audience_and_lifetime() {
        let ts = service();
        let asked = vec!["hr.read".to_string(), "admin".to_string()];
        let m = ts
            .mint_for(
                &alice(),
                &MintRequest { audience: "https://hr", scopes: Some(&asked), lifetime: None, impersonate: false },
            )
            .unwrap();
        let (claims, typ) = ts.verify_own(m.token.expose_secret(), Some("https://hr")).unwrap();
        assert_eq!(typ.as_deref(), Some("at+jwt"));
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["aud"], "https://hr");
        assert_eq!(claims["scope"], "hr.read", "scope is the intersection");
        assert_eq!(claims["act"], json!({"sub": "hr-assistant", "iss": "https://idp"}));
        assert!(claims["exp"].as_u64().unwrap() <= now_secs() + 60, "never beyond the subject");
        assert!(ts.verify_own(m.token.expose_secret(), Some("https://other")).is_err());
    }

    #[test]
    fn prior_chain_is_nested_and_not_duplicated() {
        let ts = service();
        let mut p = alice();
        p.act = vec![
            Actor { subject: "hr-assistant".into(), issuer: None, client_id: None },
            Actor { subject: "orchestrator".into(), issuer: Some("https://idp".into()), client_id: None },
        ];
        let act = act_claim(&p, ts.issuer()).unwrap();
        assert_eq!(act, json!({"sub": "hr-assistant", "act": {"sub": "orchestrator", "iss": "https://idp"}}));
        p.act.remove(0);
        let act = act_claim(&p, ts.issuer()).unwrap();
        assert_eq!(act["sub"], "hr-assistant");
        assert_eq!(act["act"]["sub"], "orchestrator");
    }

    #[test]
    fn impersonation_has_no_act_and_expired_subjects_get_nothing() {
        let ts = service();
        let m = ts
            .mint_for(&alice(), &MintRequest { audience: "a", scopes: None, lifetime: None, impersonate: true })
            .unwrap();
        let (claims, _) = ts.verify_own(m.token.expose_secret(), None).unwrap();
        assert!(claims.get("act").is_none());
        let mut p = alice();
        p.expires_at = Some(now_secs() - 1);
        let r = ts.mint_for(&p, &MintRequest { audience: "a", scopes: None, lifetime: None, impersonate: false });
        assert!(matches!(r, Err(TokenServiceError::SubjectExpired)));
    }
}
