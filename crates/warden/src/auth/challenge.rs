//! What a refused caller sees: status, `WWW-Authenticate` challenges (RFC
//! 6750 §3, RFC 9449 §7.1, RFC 9728 §5.1) and a JSON-RPC error body. The
//! one place authentication failures become responses; the reason the
//! credential failed goes to the log only.

use http::{HeaderValue, Response, StatusCode};

use crate::error::{Body, rpc_error};
use crate::mcp::jsonrpc::{Id, code};

/// How a request failed authentication (or the scope check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No credential at all.
    Missing,
    /// A token (or key, or SVID) that is not valid here.
    InvalidToken,
    /// A DPoP proof that is not valid.
    InvalidDpop,
    /// A DPoP nonce is needed.
    UseDpopNonce,
    /// Valid, but lacks these scopes (all that the call needs).
    InsufficientScope(Vec<String>),
    /// Valid, but this identity may not use the virtual server.
    Forbidden,
    /// Malformed request (two credentials, unknown scheme, token in the query).
    BadRequest(&'static str),
    /// Credentials cannot be checked right now (no signing keys).
    Unavailable,
}

impl Failure {
    /// Short label for the access log.
    pub fn outcome(&self) -> &'static str {
        match self {
            Failure::Missing => "unauthenticated",
            Failure::InvalidToken => "invalid_token",
            Failure::InvalidDpop => "invalid_dpop_proof",
            Failure::UseDpopNonce => "use_dpop_nonce",
            Failure::InsufficientScope(_) => "insufficient_scope",
            Failure::Forbidden => "forbidden",
            Failure::BadRequest(_) => "invalid_request",
            Failure::Unavailable => "auth_unavailable",
        }
    }
}

/// What the challenges advertise.
#[derive(Debug, Clone)]
pub struct ChallengeInfo {
    /// Protected Resource Metadata URL.
    pub resource_metadata: String,
    /// Scopes to ask for (space-separated), if any.
    pub scope: Option<String>,
    /// `Bearer` tokens accepted.
    pub bearer: bool,
    /// DPoP accepted: its algorithms.
    pub dpop_algs: Option<String>,
    /// A fresh DPoP nonce, when nonces are on.
    pub dpop_nonce: Option<String>,
}

fn quote(s: &str) -> String {
    // Values are Warden's own (URLs, scope tokens validated at load); strip
    // anything that could break the quoted-string anyway.
    s.chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()).collect()
}

/// Builds the response for `failure`; `id` is the JSON-RPC request id when known.
pub fn response(failure: &Failure, info: &ChallengeInfo, id: Option<Id>) -> Response<Body> {
    let (status, error, message) = match failure {
        Failure::Missing => (StatusCode::UNAUTHORIZED, None, "Authentication required"),
        Failure::InvalidToken => (StatusCode::UNAUTHORIZED, Some("invalid_token"), "Invalid credentials"),
        Failure::InvalidDpop => (StatusCode::UNAUTHORIZED, Some("invalid_dpop_proof"), "Invalid DPoP proof"),
        Failure::UseDpopNonce => (StatusCode::UNAUTHORIZED, Some("use_dpop_nonce"), "DPoP nonce required"),
        Failure::InsufficientScope(_) => (StatusCode::FORBIDDEN, Some("insufficient_scope"), "Insufficient scope"),
        Failure::Forbidden => (StatusCode::FORBIDDEN, None, "Forbidden"),
        Failure::BadRequest(m) => (StatusCode::BAD_REQUEST, Some("invalid_request"), *m),
        Failure::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, None, "Authentication temporarily unavailable"),
    };
    let rpc_code = match status {
        StatusCode::UNAUTHORIZED => code::UNAUTHORIZED,
        StatusCode::FORBIDDEN => code::FORBIDDEN,
        StatusCode::BAD_REQUEST => code::INVALID_REQUEST,
        _ => code::INTERNAL_ERROR,
    };
    let data = error.map(|e| serde_json::json!({ "error": e }));
    let mut resp = rpc_error(status, id, rpc_code, message, data);
    let scope = match failure {
        Failure::InsufficientScope(s) => Some(s.join(" ")),
        _ => info.scope.clone(),
    };
    let mut params = vec![format!("resource_metadata=\"{}\"", quote(&info.resource_metadata))];
    if let Some(s) = scope.filter(|s| !s.is_empty()) {
        params.push(format!("scope=\"{}\"", quote(&s)));
    }
    let mut challenges = Vec::new();
    let dpop_error = matches!(failure, Failure::InvalidDpop | Failure::UseDpopNonce);
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if failure != &Failure::Forbidden => {
            if info.bearer {
                let mut p = params.clone();
                if let Some(e) = error.filter(|_| !dpop_error) {
                    p.insert(0, format!("error=\"{e}\""));
                }
                challenges.push(format!("Bearer {}", p.join(", ")));
            }
            if let Some(algs) = &info.dpop_algs {
                let mut p = params.clone();
                p.insert(0, format!("algs=\"{}\"", quote(algs)));
                if let Some(e) = error {
                    p.insert(0, format!("error=\"{e}\""));
                }
                challenges.push(format!("DPoP {}", p.join(", ")));
            }
        }
        StatusCode::BAD_REQUEST => challenges.push(format!("Bearer error=\"invalid_request\", {}", params.join(", "))),
        _ => {}
    }
    let h = resp.headers_mut();
    for c in challenges {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(http::header::WWW_AUTHENTICATE, v);
        }
    }
    if let Some(n) = &info.dpop_nonce
        && let Ok(v) = HeaderValue::from_str(n)
    {
        h.insert("dpop-nonce", v);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        h.insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
