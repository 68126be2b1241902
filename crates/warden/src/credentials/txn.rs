//! Transaction tokens (draft-ietf-oauth-transaction-tokens): a short-lived
//! `Txn-Token` header on every backend request of a decided call, carrying
//! who is calling (`sub`, the `act` chain, the granted `scope`), the
//! transaction id (`txn`, the request id) and the request context (`tctx`,
//! `rctx`). Signed by Warden's token service (`typ: txntoken+jwt`); never
//! logged.

use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use serde_json::json;

use super::{CredentialError, sensitive};
use crate::auth::Principal;
use crate::config::TransactionTokenSettings;
use crate::token::{TokenService, now_secs};

/// The header name.
pub static TXN_TOKEN: HeaderName = HeaderName::from_static("txn-token");

/// What a transaction token describes besides the principal.
#[derive(Debug, Clone, Copy)]
pub struct TxnContext<'a> {
    /// The request id (`txn`).
    pub request_id: &'a str,
    /// The MCP method.
    pub method: &'a str,
    /// The tool, prompt or resource called, if any.
    pub target: Option<&'a str>,
    /// The backend the request goes to.
    pub backend: &'a str,
    /// The client's address.
    pub client_address: Option<std::net::IpAddr>,
}

/// The transaction-token minter of one virtual server.
#[derive(Debug)]
pub struct TxnTokens {
    service: Arc<TokenService>,
    audience: String,
    lifetime: u64,
    virtual_server: String,
}

impl TxnTokens {
    /// A minter for `virtual_server`.
    pub fn new(service: Arc<TokenService>, s: &TransactionTokenSettings, virtual_server: &str) -> TxnTokens {
        let audience = s.audience.clone().unwrap_or_else(|| service.issuer().to_string());
        TxnTokens {
            service,
            audience,
            lifetime: s.lifetime.as_secs().max(1),
            virtual_server: virtual_server.to_string(),
        }
    }

    /// Mints the `Txn-Token` value for one backend request.
    pub fn mint(&self, principal: &Principal, cx: &TxnContext<'_>) -> Result<HeaderValue, CredentialError> {
        let now = now_secs();
        let scope = principal.scopes.iter().map(String::as_str).collect::<Vec<_>>().join(" ");
        let mut tctx = json!({"virtualServer": self.virtual_server, "method": cx.method, "backend": cx.backend});
        if let Some(t) = cx.target {
            tctx["target"] = json!(t);
        }
        // The request id comes from the client (`x-request-id`): context,
        // not the transaction's identity, which Warden makes up.
        let mut rctx = json!({"request_id": cx.request_id});
        if let Some(ip) = cx.client_address {
            rctx["req_ip"] = json!(ip.to_string());
        }
        let subject = if principal.subject.is_empty() { "anonymous" } else { principal.subject.as_str() };
        let mut claims = json!({
            "iss": self.service.issuer(),
            "iat": now,
            // Never beyond the caller's own credential.
            "exp": principal.expires_at.map_or(now + self.lifetime, |e| e.min(now + self.lifetime)),
            "aud": self.audience,
            "txn": txn_id(),
            "sub": subject,
            "scope": scope,
            "req_wl": self.service.issuer(),
            "tctx": tctx,
            "rctx": rctx,
        });
        if let Some(i) = &principal.issuer {
            claims["sub_iss"] = json!(i);
        }
        if let Some(act) = crate::token::mint::act_claim(principal, self.service.issuer()) {
            claims["act"] = act;
        }
        sensitive(&self.service.sign("txntoken+jwt", &claims)?)
    }
}

/// A fresh transaction id: 128 random bits, hex.
fn txn_id() -> String {
    let b: [u8; 16] = rand::random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}
