//! The upstream-credential stage: what each call sends its backend besides
//! the message (the backend's credential for this caller, a transaction
//! token), and the per-user credential a backend session opens with.

use std::sync::Arc;

use super::{Access, BackendHandle, RouteError, VirtualServer};

/// Which credential lookups are counted in the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Count {
    /// None (`initialize`).
    None,
    /// Failures only (a session opened on a call's way).
    Errors,
    /// Every outcome (the call's own lookup).
    All,
}

impl VirtualServer {
    /// The upstream credential of backend `index`, if it has one.
    pub fn credential(&self, index: usize) -> Option<&Arc<crate::credentials::BackendCredential>> {
        self.credentials.get(index).and_then(Option::as_ref)
    }

    /// Adds the upstream credentials (by backend index) and the
    /// transaction-token minter.
    pub fn with_credentials(
        mut self,
        credentials: Vec<Option<Arc<crate::credentials::BackendCredential>>>,
        txn: Option<crate::credentials::txn::TxnTokens>,
        metrics: Arc<crate::telemetry::Metrics>,
    ) -> VirtualServer {
        self.credentials = credentials;
        self.txn = txn;
        self.metrics = Some(metrics);
        self
    }

    pub(super) fn count_credential(&self, b: &BackendHandle, kind: &str, outcome: &str) {
        if let Some(m) = &self.metrics {
            let labels = crate::telemetry::CredentialLabels {
                virtual_server: self.config.name.clone(),
                backend: b.name.clone(),
                kind: kind.to_string(),
                outcome: outcome.to_string(),
            };
            m.upstream_credentials.get_or_create(&labels).inc();
        }
    }

    /// Fills in what `access`'s call sends to backend `b` besides the
    /// message: its upstream credential and transaction token. A credential
    /// that cannot be obtained fails the call with a fixed error; the cause
    /// goes to the log only.
    pub(super) async fn upstream_auth(
        &self,
        ctx: &mut crate::mcp::upstream::CallContext,
        b: &BackendHandle,
        access: &Access,
        method: &str,
        target: Option<&str>,
    ) -> Result<(), RouteError> {
        ctx.credential = self.credential_for(b, access).await?;
        if let Some(t) = &self.txn {
            let cx = crate::credentials::txn::TxnContext {
                request_id: &access.request_id,
                method,
                target,
                backend: &b.name,
                client_address: access.context.client_address,
            };
            ctx.txn_token = Some(t.mint(&access.principal, &cx).map_err(|e| {
                tracing::warn!(backend = %b.name, error = %e, request_id = %access.request_id,
                    "transaction token not minted; call refused");
                RouteError::Credential { backend: b.name.clone() }
            })?);
        }
        Ok(())
    }

    /// The per-user credential to open a backend session with (none for
    /// Warden's own traffic, or when the backend has only a static one).
    pub(super) async fn session_credential(
        &self,
        b: &BackendHandle,
        access: Option<&Access>,
    ) -> Result<Option<Arc<crate::credentials::Injected>>, RouteError> {
        match access {
            Some(a) => self.lookup_credential(b, a, Count::Errors).await,
            None => Ok(None),
        }
    }

    /// `access`'s per-user credential for backend `b` (cached by the
    /// credential itself). A credential that cannot be obtained fails the
    /// call with a fixed error (the cause goes to the log only), or with the
    /// URL elicitation error when the user must consent upstream first.
    pub(super) async fn credential_for(
        &self,
        b: &BackendHandle,
        access: &Access,
    ) -> Result<Option<Arc<crate::credentials::Injected>>, RouteError> {
        self.lookup_credential(b, access, Count::All).await
    }

    /// [`Self::credential_for`], counting outcomes as `count` says: a call
    /// counts once (a failure opening its session, or the outcome of its
    /// own lookup); `initialize` does not count.
    pub(super) async fn lookup_credential(
        &self,
        b: &BackendHandle,
        access: &Access,
        count: Count,
    ) -> Result<Option<Arc<crate::credentials::Injected>>, RouteError> {
        let Some(c) = self.credential(b.index).filter(|c| c.static_part().is_none()) else { return Ok(None) };
        // Bounded like the call itself: a slow authorization server fails the
        // call instead of holding it (and, dropped, releases any refresh lock).
        let got = match tokio::time::timeout(b.timeout, c.for_call(&access.principal)).await {
            Ok(r) => r,
            Err(_) => Err(crate::credentials::CredentialError::External("timed out".into())),
        };
        if count == Count::All || (count == Count::Errors && got.is_err()) {
            self.count_credential(
                b,
                c.kind_name(),
                match &got {
                    Ok(_) => "ok",
                    Err(crate::credentials::CredentialError::UpstreamOAuth(
                        crate::upstream_oauth::UpstreamOAuthError::ConsentRequired { .. },
                    )) => "consent_required",
                    Err(_) => "error",
                },
            );
        }
        got.map(Some).map_err(|e| match e {
            crate::credentials::CredentialError::UpstreamOAuth(
                crate::upstream_oauth::UpstreamOAuthError::ConsentRequired { url, elicitation_id },
            ) => {
                tracing::info!(backend = %b.name, request_id = %access.request_id,
                    "upstream authorization required; the client is sent to the consent URL");
                RouteError::ConsentRequired { backend: b.name.clone(), url, elicitation_id }
            }
            e => {
                tracing::warn!(backend = %b.name, kind = c.kind_name(), error = %e, request_id = %access.request_id,
                    "upstream credential unavailable; call refused");
                RouteError::Credential { backend: b.name.clone() }
            }
        })
    }
}
