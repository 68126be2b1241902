//! The authentication result as the MCP front sees it: decided from headers
//! before the body is read, admitted (exempt methods, scopes) once the
//! JSON-RPC method is known, so refusals carry the request's id.

use std::sync::Arc;

use http::Response;

use crate::auth::{Authenticator, Failure, Principal, challenge};
use crate::config::Listener;
use crate::error::Body;
use crate::mcp::jsonrpc::Id;
use crate::telemetry::AccessRecord;

/// Bodies larger than this are not read for a refused request (the refusal
/// then carries no id).
pub const UNAUTHENTICATED_BODY_LIMIT: u64 = 64 * 1024;

/// Authentication state of one request.
pub struct AuthGate {
    auth: Option<(Arc<Authenticator>, Result<Principal, Failure>)>,
}

impl AuthGate {
    /// No authentication configured: everyone is anonymous.
    pub fn open() -> AuthGate {
        AuthGate { auth: None }
    }

    /// The result of authenticating with `auth`.
    pub fn new(auth: Arc<Authenticator>, _listener: &Listener, result: Result<Principal, Failure>) -> AuthGate {
        AuthGate { auth: Some((auth, result)) }
    }

    /// Whether the virtual server has authentication.
    pub fn is_on(&self) -> bool {
        self.auth.is_some()
    }

    /// Whether the credential already failed (before any method is known).
    pub fn failed(&self) -> bool {
        self.auth.as_ref().is_some_and(|(_, r)| r.is_err())
    }

    /// The 400 for a token in the query string (RFC 6750 §2.3 is not
    /// supported: URLs end up in logs), with the challenge when `auth` is on.
    pub fn refuse_query_token(&self, listener: &Listener, id: Option<Id>, log: &mut AccessRecord) -> Response<Body> {
        log.outcome = "token_in_query";
        let failure = Failure::BadRequest("Tokens in the query string are refused");
        match &self.auth {
            Some((auth, _)) => challenge::response(&failure, &auth.challenge_info(listener, &[]), id),
            None => crate::error::rpc_error(
                http::StatusCode::BAD_REQUEST,
                id,
                crate::mcp::jsonrpc::code::INVALID_REQUEST,
                "Tokens in the query string are refused",
                None,
            ),
        }
    }

    /// The response for a request whose credential failed before its method
    /// is known (an unreadable or oversized body).
    pub fn refusal(&self, listener: &Listener, log: &mut AccessRecord) -> Response<Body> {
        match self.admit(listener, None, None, None, log) {
            Err(r) => *r,
            Ok(_) => crate::error::status_only(http::StatusCode::UNAUTHORIZED),
        }
    }

    /// The answer when policy wants more scopes: the `insufficient_scope`
    /// challenge naming every scope the call needs (with `auth`), else a
    /// plain 403 JSON-RPC error.
    pub fn step_up(
        &self,
        listener: &Listener,
        scopes: Vec<String>,
        method: Option<&str>,
        name: Option<&str>,
        id: Option<Id>,
        log: &mut AccessRecord,
    ) -> Response<Body> {
        log.outcome = "insufficient_scope";
        match &self.auth {
            Some((auth, _)) => {
                let mut needed = auth.needed_scopes(method, name);
                for s in scopes {
                    if !needed.contains(&s) {
                        needed.push(s);
                    }
                }
                let info = auth.challenge_info(listener, &needed);
                challenge::response(&Failure::InsufficientScope(needed), &info, id)
            }
            None => crate::error::rpc_error(
                http::StatusCode::FORBIDDEN,
                id,
                crate::mcp::jsonrpc::code::FORBIDDEN,
                "Forbidden",
                None,
            ),
        }
    }

    /// Admits a request for `method` on `name`; the principal, or the
    /// refusal as a response (with `id`). Without `auth`: anonymous.
    pub fn admit(
        &self,
        listener: &Listener,
        method: Option<&str>,
        name: Option<&str>,
        id: Option<Id>,
        log: &mut AccessRecord,
    ) -> Result<Principal, Box<Response<Body>>> {
        let Some((auth, result)) = &self.auth else { return Ok(Principal::anonymous()) };
        match auth.admit(result, method, name) {
            Ok(p) => {
                log.principal = Some(p.log_label());
                Ok(p)
            }
            Err(f) => {
                log.outcome = f.outcome();
                let info = auth.challenge_info(listener, &auth.needed_scopes(method, name));
                Err(Box::new(challenge::response(&f, &info, id)))
            }
        }
    }
}
