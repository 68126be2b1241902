//! The token service's question to Cedar (action `token/exchange`): may
//! this client exchange the subject's token for a token for this audience,
//! with these scopes, as delegation (naming an actor) or impersonation?
//!
//! principal = the subject (`User`, `Agent`, `Workload`, … as for MCP
//! requests), resource = `Warden::Audience::"<uri>"`, context =
//! `{ client, actor?, scopes, impersonation, time, era: "token-exchange",
//! headers: {}, clientAddress? }`.

use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;

use cedar_policy::{Context, Entities, Entity, Request, RestrictedExpression};

use super::engine::{PolicyDecision, PolicyEngine};
use super::entities::{ip_expr, principal_entities, time_record, uid};
use super::schema::EXCHANGE_ACTION;
use crate::auth::Principal;

/// One exchange, as policy sees it.
#[derive(Debug, Clone)]
pub struct ExchangeQuestion<'a> {
    /// The subject of the token being exchanged.
    pub subject: &'a Principal,
    /// The one audience of the token asked for.
    pub audience: &'a str,
    /// The authenticated client.
    pub client: &'a str,
    /// The actor the issued token would name (absent for impersonation).
    pub actor: Option<&'a str>,
    /// The scopes asked about.
    pub scopes: &'a BTreeSet<String>,
    /// Whether the issued token would carry no `act` claim.
    pub impersonation: bool,
    /// Request time, seconds since the epoch.
    pub epoch: i64,
    /// The client's address.
    pub client_address: Option<IpAddr>,
}

fn request(engine: &PolicyEngine, q: &ExchangeQuestion<'_>) -> Result<(Request, Entities), String> {
    let (principal, mut entities) = principal_entities(q.subject, engine.extensions())?;
    let audience = uid("Audience", q.audience)?;
    let attrs = [("name".to_owned(), RestrictedExpression::new_string(q.audience.to_owned()))];
    entities
        .push(Entity::new(audience.clone(), attrs.into_iter().collect(), HashSet::new()).map_err(|e| e.to_string())?);
    let mut pairs = vec![
        ("client".to_owned(), RestrictedExpression::new_string(q.client.to_owned())),
        (
            "scopes".to_owned(),
            RestrictedExpression::new_set(q.scopes.iter().map(|s| RestrictedExpression::new_string(s.clone()))),
        ),
        ("impersonation".to_owned(), RestrictedExpression::new_bool(q.impersonation)),
        ("time".to_owned(), time_record(q.epoch)?),
        ("era".to_owned(), RestrictedExpression::new_string("token-exchange".to_owned())),
        ("headers".to_owned(), RestrictedExpression::new_record(Vec::new()).map_err(|e| e.to_string())?),
    ];
    if let Some(a) = q.actor {
        pairs.push(("actor".to_owned(), RestrictedExpression::new_string(a.to_owned())));
    }
    if let Some(ip) = q.client_address {
        pairs.push(("clientAddress".to_owned(), ip_expr(ip)));
    }
    let context = Context::from_pairs(pairs).map_err(|e| e.to_string())?;
    let action = uid("Action", EXCHANGE_ACTION)?;
    let request =
        Request::new(principal, action, audience, context, Some(engine.schema())).map_err(|e| e.to_string())?;
    let entities = Entities::from_entities(entities, None).map_err(|e| e.to_string())?;
    Ok((request, entities))
}

impl PolicyEngine {
    /// Decides one `token/exchange` question (default deny).
    pub fn decide_exchange(&self, q: &ExchangeQuestion<'_>) -> PolicyDecision {
        match request(self, q) {
            Ok((r, e)) => self.decide_prepared(&r, &e),
            Err(e) => PolicyDecision { errors: vec![format!("request: {e}")], ..PolicyDecision::default() },
        }
    }
}
