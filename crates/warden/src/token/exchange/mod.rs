//! RFC 8693 token exchange at Warden's token endpoint.
//!
//! One exchange, in order: parse the request ([`request`]) → authenticate
//! the client ([`client`]) → verify the subject and actor tokens
//! ([`subject`]) → decide actor, impersonation, audience and scopes
//! ([`grant`], with the Cedar policy when configured) → mint the token
//! (shared with the `exchange` upstream credential: [`TokenService::mint_for`])
//! → the RFC 8693 §2.2.1 response. Every refusal is one [`ExchangeError`]:
//! the client gets the RFC's code with a fixed description, the log the
//! detail. See `docs/token-exchange.md`.

pub mod client;
pub mod error;
pub mod grant;
pub mod replay;
pub mod request;
pub mod state;
pub mod subject;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use http::Response;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tracing::Instrument;

use super::http::{Form, OAuthRequest, token_response};
use super::{MintRequest, TokenService, now_secs};
use crate::auth::PrincipalKind;
use crate::error::Body;
use crate::gateway::Runtime;
pub use error::ExchangeError;
use grant::{Facts, Grant};
use request::{ExchangeRequest, OutputType};
use subject::{Role, Verified};

/// `grant_type` of RFC 8693.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Longest lifetime of a transaction token.
const TXN_TOKEN_LIFETIME: u64 = 60;

/// Handles one exchange request.
pub async fn handle(_rt: &Runtime, ts: &Arc<TokenService>, req: &OAuthRequest<'_>, form: &Form) -> Response<Body> {
    let span = tracing::info_span!(
        "token_exchange",
        client = tracing::field::Empty,
        auth = tracing::field::Empty,
        subject = tracing::field::Empty,
        audience = tracing::field::Empty,
    );
    async {
        match exchange(ts, req, form).await {
            Ok(body) => {
                tracing::info!("token exchanged");
                token_response(&body)
            }
            Err(e) => {
                match &e {
                    ExchangeError::Internal(_) | ExchangeError::Unavailable(_) => {
                        tracing::warn!(error = %e, code = e.code(), "token exchange failed")
                    }
                    _ => tracing::info!(error = %e, code = e.code(), "token exchange refused"),
                }
                e.response()
            }
        }
    }
    .instrument(span)
    .await
}

async fn exchange(ts: &Arc<TokenService>, req: &OAuthRequest<'_>, form: &Form) -> Result<Value, ExchangeError> {
    let span = tracing::Span::current();
    let state = state::state_for(ts);
    let client = client::authenticate(ts, &state, req, form).await?;
    span.record("client", client.client.id.as_str());
    span.record("auth", client.method);
    let request = ExchangeRequest::parse(form)?;
    let subject = subject::verify(ts, &state, &request.subject_token, request.subject_type, Role::Subject).await?;
    span.record("subject", subject.principal.subject.as_str());
    let actor = match &request.actor {
        Some((token, ty)) => Some(subject::verify(ts, &state, token, *ty, Role::Actor).await?),
        None => None,
    };
    let peer = req.conn.as_ref().and_then(|c| c.peer).map(|a| a.ip());
    let facts = Facts { ts, client: client.client, subject: &subject, actor: actor.as_ref(), request: &request, peer };
    let grant = grant::decide(&facts)?;
    span.record("audience", grant.audience.as_str());
    let (token, expires_at) = match request.output {
        OutputType::AccessToken | OutputType::Jwt => mint(ts, &client.client.id, &subject, actor.as_ref(), &grant)?,
        OutputType::TxnToken => txn_token(ts, &client.client.id, &subject, &grant, peer)?,
    };
    let mut body = json!({
        "access_token": token,
        "issued_token_type": request.output.uri(),
        "token_type": if request.output == OutputType::AccessToken { "Bearer" } else { "N_A" },
        "expires_in": expires_at.saturating_sub(now_secs()),
    });
    // RFC 8693 §2.2.1: `scope` is required when it differs from the request.
    if request.scope.as_ref() != Some(&grant.scopes) && !grant.scopes.is_empty() {
        body["scope"] = json!(grant.scopes.iter().cloned().collect::<Vec<_>>().join(" "));
    }
    Ok(body)
}

/// Mints the access token through [`TokenService::mint_for`], the same claim
/// building as the `exchange` upstream credential: the subject's claims,
/// the granted scopes, `client_id`, and `act` = the new actor nesting the
/// subject token's chain. The principal handed to `mint_for` carries the
/// chain explicitly, so it is marked as acting for itself (no implicit
/// agent is added).
fn mint(
    ts: &TokenService,
    client: &str,
    subject: &Verified,
    actor: Option<&Verified>,
    grant: &Grant,
) -> Result<(String, u64), ExchangeError> {
    let mut p = chain_principal(subject, grant);
    p.scopes = grant.scopes.clone();
    p.client_id = Some(client.to_string());
    if let Some(exp) = actor.and_then(|a| a.principal.expires_at) {
        p.expires_at = Some(p.expires_at.map_or(exp, |s| s.min(exp)));
    }
    let req = MintRequest { audience: &grant.audience, scopes: None, lifetime: None, impersonate: grant.impersonate };
    let minted = ts.mint_for(&p, &req).map_err(|e| match e {
        super::TokenServiceError::SubjectExpired => ExchangeError::Grant,
        e => ExchangeError::Internal(e.to_string()),
    })?;
    Ok((minted.token.expose_secret().to_string(), minted.expires_at))
}

/// A transaction token (draft-ietf-oauth-transaction-tokens §5):
/// `typ=txntoken+jwt`, `aud` = the trust domain asked for, `txn`, `sub`,
/// `scope`, `req_wl` = the client; at most 60 s and never beyond the subject.
fn txn_token(
    ts: &TokenService,
    client: &str,
    subject: &Verified,
    grant: &Grant,
    peer: Option<std::net::IpAddr>,
) -> Result<(String, u64), ExchangeError> {
    let now = now_secs();
    let mut lifetime = TXN_TOKEN_LIFETIME.min(ts.settings.token_lifetime.as_secs());
    if let Some(exp) = subject.principal.expires_at {
        if exp <= now {
            return Err(ExchangeError::Grant);
        }
        lifetime = lifetime.min(exp - now);
    }
    let txn: [u8; 16] = rand::random();
    let mut claims = json!({
        "iss": ts.issuer(),
        "iat": now,
        "exp": now + lifetime,
        "aud": grant.audience,
        "txn": txn.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "sub": subject.principal.subject,
        "scope": grant.scopes.iter().cloned().collect::<Vec<_>>().join(" "),
        "req_wl": client,
    });
    if let Some(ip) = peer {
        claims["rctx"] = json!({ "req_ip": ip.to_string() });
    }
    if let Some(act) =
        super::mint::act_claim(&chain_principal(subject, grant), ts.issuer()).filter(|_| !grant.impersonate)
    {
        claims["tctx"] = json!({ "act": act });
    }
    let token = ts.sign("txntoken+jwt", &claims).map_err(|e| ExchangeError::Internal(e.to_string()))?;
    Ok((token, now + lifetime))
}

/// The subject with the new actor in front of its chain (for `act`).
fn chain_principal(subject: &Verified, grant: &Grant) -> crate::auth::Principal {
    let mut p = subject.principal.clone();
    p.kind = PrincipalKind::Agent;
    p.agent = None;
    p.act.insert(0, grant.actor.clone());
    p.act.truncate(16);
    p
}
