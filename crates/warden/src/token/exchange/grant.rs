//! What the issued token may say: its actor (delegation, `may_act`),
//! whether it impersonates, its one audience and its scopes. Without a
//! `tokenService.policy`, the client's `audiences`, `scopes` and
//! `mayImpersonate` bound the answer; with one, Cedar decides
//! (`token/exchange`, default deny), see `docs/token-exchange.md`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_json::Value;

use super::super::TokenService;
use super::error::ExchangeError;
use super::request::ExchangeRequest;
use super::subject::Verified;
use crate::auth::principal::Actor;
use crate::config::raw_token::RawTokenClient;
use crate::policy::PolicyEngine;
use crate::policy::exchange::ExchangeQuestion;

/// What will be issued.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// The one audience.
    pub audience: String,
    /// Granted scopes.
    pub scopes: BTreeSet<String>,
    /// No `act` claim.
    pub impersonate: bool,
    /// The new outermost actor (named in `act` unless impersonating).
    pub actor: Actor,
}

/// The facts a grant is decided from.
pub struct Facts<'a> {
    /// The token service.
    pub ts: &'a TokenService,
    /// The authenticated client.
    pub client: &'a RawTokenClient,
    /// The verified subject token.
    pub subject: &'a Verified,
    /// The verified actor token, if any.
    pub actor: Option<&'a Verified>,
    /// The request.
    pub request: &'a ExchangeRequest,
    /// The client's address.
    pub peer: Option<IpAddr>,
}

/// The actor of the issued token: the actor token's subject, else the client.
fn actor_of(f: &Facts<'_>) -> Actor {
    match f.actor {
        Some(a) => Actor {
            subject: a.principal.subject.clone(),
            issuer: a.principal.issuer.clone().filter(|i| i != f.ts.issuer()),
            client_id: None,
        },
        None => Actor { subject: f.client.id.clone(), issuer: None, client_id: None },
    }
}

/// `may_act` (RFC 8693 §4.4): when the subject token has one, it must name
/// the actor (`sub`, and `iss` when given). Refusal is `invalid_request`
/// (§2.2.2: the subject token "is unacceptable based on policy").
fn check_may_act(f: &Facts<'_>, actor: &Actor) -> Result<(), ExchangeError> {
    let Some(may) = f.subject.claims.get("may_act") else { return Ok(()) };
    let actor_iss = actor.issuer.as_deref().unwrap_or(f.ts.issuer());
    let ok = match may {
        Value::Object(m) => {
            m.get("sub").and_then(Value::as_str) == Some(actor.subject.as_str())
                && m.get("iss").is_none_or(|i| i.as_str() == Some(actor_iss))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ExchangeError::Token {
            public: "the subject token does not allow this actor (may_act)",
            detail: format!("may_act does not name actor {}", actor.subject),
        })
    }
}

fn refused_target(audience: &str) -> ExchangeError {
    ExchangeError::Target {
        public: "a token for this audience cannot be issued",
        detail: format!("audience {:?} not permitted", audience.chars().take(200).collect::<String>()),
    }
}

/// Decides the grant.
pub fn decide(f: &Facts<'_>) -> Result<Grant, ExchangeError> {
    let actor = actor_of(f);
    check_may_act(f, &actor)?;
    let audience = f.request.audience()?.to_string();
    let held = &f.subject.principal.scopes;
    if let Some(asked) = &f.request.scope
        && !asked.is_subset(held)
    {
        return Err(ExchangeError::Scope("a requested scope is not held by the subject".into()));
    }
    let candidates: BTreeSet<String> = f.request.scope.clone().unwrap_or_else(|| held.clone());
    // Impersonation is asked by clients allowed to (`mayImpersonate`) when
    // no actor token names someone else.
    let wants_impersonation = f.client.may_impersonate && f.request.actor.is_none();
    let (scopes, impersonate) = match f.ts.settings.policy.as_ref() {
        None => by_client(f, &audience, &candidates, wants_impersonation)?,
        Some(p) => {
            let Some(engine) = p.engine.as_deref() else {
                return Err(ExchangeError::Unauthorized("tokenService.policy has no Cedar policies".into()));
            };
            by_policy(engine, f, &audience, &candidates, &actor, wants_impersonation)?
        }
    };
    if f.request.scope.as_ref().is_some_and(|asked| !asked.is_empty()) && scopes.is_empty() {
        return Err(ExchangeError::Scope("policy refused every requested scope".into()));
    }
    Ok(Grant { audience, scopes, impersonate, actor })
}

/// Without a policy: the client's lists bound the grant.
fn by_client(
    f: &Facts<'_>,
    audience: &str,
    candidates: &BTreeSet<String>,
    impersonate: bool,
) -> Result<(BTreeSet<String>, bool), ExchangeError> {
    if f.client.audiences.is_empty() {
        return Err(ExchangeError::Unauthorized(format!("client {} lists no audiences", f.client.id)));
    }
    if !f.client.audiences.iter().any(|a| a == audience) {
        return Err(refused_target(audience));
    }
    let allowed = |s: &String| f.client.scopes.contains(s);
    if f.request.scope.is_some() && !candidates.iter().all(allowed) {
        return Err(ExchangeError::Scope(format!("client {} may not ask for a requested scope", f.client.id)));
    }
    Ok((candidates.iter().filter(|s| allowed(s)).cloned().collect(), impersonate))
}

/// With a policy: impersonation first when wanted (falling back to
/// delegation when refused), then the widest scope set Cedar permits.
fn by_policy(
    engine: &PolicyEngine,
    f: &Facts<'_>,
    audience: &str,
    candidates: &BTreeSet<String>,
    actor: &Actor,
    wants_impersonation: bool,
) -> Result<(BTreeSet<String>, bool), ExchangeError> {
    if wants_impersonation && let Some(s) = policy_scopes(engine, f, audience, candidates, None) {
        return Ok((s, true));
    }
    match policy_scopes(engine, f, audience, candidates, Some(&actor.subject)) {
        Some(s) => Ok((s, false)),
        None => Err(refused_target(audience)),
    }
}

/// The scopes Cedar permits, or `None` when it refuses the audience
/// outright: the whole candidate set if permitted as a set; else each scope
/// permitted on its own; else the empty set if that is permitted.
fn policy_scopes(
    engine: &PolicyEngine,
    f: &Facts<'_>,
    audience: &str,
    candidates: &BTreeSet<String>,
    actor: Option<&str>,
) -> Option<BTreeSet<String>> {
    let epoch = i64::try_from(super::super::now_secs()).unwrap_or(i64::MAX);
    let ask = |scopes: &BTreeSet<String>| {
        let q = ExchangeQuestion {
            subject: &f.subject.principal,
            audience,
            client: &f.client.id,
            actor,
            scopes,
            impersonation: actor.is_none(),
            epoch,
            client_address: f.peer,
        };
        let d = engine.decide_exchange(&q);
        if !d.errors.is_empty() {
            tracing::warn!(errors = ?d.errors, "token/exchange policy evaluation errors");
        }
        tracing::debug!(allowed = d.allowed, policies = ?d.policies, scopes = ?scopes, "token/exchange decision");
        d.allowed
    };
    if ask(candidates) {
        return Some(candidates.clone());
    }
    if candidates.len() > 1 {
        let each: BTreeSet<String> =
            candidates.iter().filter(|s| ask(&BTreeSet::from([(*s).clone()]))).cloned().collect();
        if !each.is_empty() {
            return Some(each);
        }
    }
    if !candidates.is_empty() && ask(&BTreeSet::new()) {
        return Some(BTreeSet::new());
    }
    None
}
