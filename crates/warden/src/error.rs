//! The one place where failures become what clients see.
//!
//! Clients get a fixed status, a JSON-RPC error with a fixed message, and at
//! most a short machine-readable reason; internal error text (paths, backend
//! addresses, parser output) goes to logs only.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;

use crate::mcp::jsonrpc::{Id, Message};
use crate::mcp::upstream::UpstreamError;

/// The response body type of every Warden response.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::convert::Infallible>;

/// A body from bytes.
pub fn full(b: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(b.into()).boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, bytes: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(full(bytes));
    *r.status_mut() = status;
    r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A JSON-RPC error as an HTTP response.
pub fn rpc_error(
    status: StatusCode,
    id: Option<Id>,
    code: i64,
    message: &str,
    data: Option<serde_json::Value>,
) -> Response<Body> {
    json_response(status, Message::error(id, code, message, data).to_bytes())
}

/// A plain status with no body.
pub fn status_only(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = status;
    r
}

/// The short reason shown to clients for a backend failure.
pub fn upstream_reason(e: &UpstreamError) -> &'static str {
    match e {
        UpstreamError::Connect(_) => "unreachable",
        UpstreamError::Timeout => "timeout",
        UpstreamError::Status(_) => "bad_status",
        UpstreamError::SessionExpired => "session_expired",
        UpstreamError::Protocol(_) => "protocol_error",
        UpstreamError::TooLarge => "message_too_large",
        UpstreamError::Unavailable(_) => "unavailable",
    }
}
