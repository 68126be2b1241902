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

    /// Whether the credential already failed (before any method is known).
    pub fn failed(&self) -> bool {
        self.auth.as_ref().is_some_and(|(_, r)| r.is_err())
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
    ) -> Result<Principal, Response<Body>> {
        let Some((auth, result)) = &self.auth else { return Ok(Principal::anonymous()) };
        match auth.admit(result, method, name) {
            Ok(p) => {
                log.principal = Some(p.log_label());
                Ok(p)
            }
            Err(f) => {
                log.outcome = f.outcome();
                let info = auth.challenge_info(listener, &auth.needed_scopes(method, name));
                Err(challenge::response(&f, &info, id))
            }
        }
    }
}
