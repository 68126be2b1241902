//! The JSON-RPC 2.0 envelope, parsed once.
//!
//! `params`, `result` and `error` stay raw JSON (`RawValue`): what Warden only
//! forwards it never re-parses. Only the pieces the gateway routes on are
//! decoded, by the code that needs them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// JSON-RPC error codes Warden emits.
pub mod code {
    /// Invalid JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a valid JSON-RPC request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Unknown method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Bad params.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// MCP: resource not found.
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// Warden: authentication required or failed (HTTP 401 carries the challenge).
    pub const UNAUTHORIZED: i64 = -32001;
    /// Warden: authenticated but not allowed (HTTP 403).
    pub const FORBIDDEN: i64 = -32003;
    /// Warden: a rate limit was hit (HTTP 429 with `Retry-After`).
    pub const RATE_LIMITED: i64 = -32029;
    /// Warden: the backend failed, timed out or is unreachable.
    pub const BACKEND_ERROR: i64 = -32010;
    /// MCP 2026-07-28: HTTP headers disagree with the body.
    pub const HEADER_MISMATCH: i64 = -32020;
    /// MCP 2026-07-28: the request needs a client capability it did not declare.
    pub const MISSING_CAPABILITY: i64 = -32021;
    /// MCP 2026-07-28: protocol version not supported.
    pub const UNSUPPORTED_VERSION: i64 = -32022;
}

/// A request id: a number or a string (never null for requests).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// Numeric id.
    Num(i64),
    /// String id.
    Str(String),
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// One JSON-RPC message, of any kind.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct Message {
    /// Always `"2.0"`.
    #[serde(default)]
    pub jsonrpc: Option<String>,
    /// Request or response id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    /// Method, for requests and notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Params, raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Box<RawValue>>,
    /// Result, raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<RawValue>>,
    /// Error, raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<RawValue>>,
}

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Has `id` and `method`.
    Request,
    /// Has `method`, no `id`.
    Notification,
    /// Has `id` and `result` or `error`.
    Response,
}

/// Why a body is not a JSON-RPC message.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but not a JSON-RPC 2.0 message.
    #[error("not a JSON-RPC 2.0 message: {0}")]
    Shape(&'static str),
    /// A JSON array: batches were removed from MCP in 2025-06-18.
    #[error("JSON-RPC batches are not supported")]
    Batch,
}

impl EnvelopeError {
    /// The JSON-RPC error code for this failure.
    pub fn code(&self) -> i64 {
        match self {
            EnvelopeError::Json(_) => code::PARSE_ERROR,
            _ => code::INVALID_REQUEST,
        }
    }
}

impl Message {
    /// Parses and checks one message.
    pub fn parse(bytes: &[u8]) -> Result<Message, EnvelopeError> {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'[') {
            return Err(EnvelopeError::Batch);
        }
        let m: Message = serde_json::from_slice(bytes)?;
        m.kind()?;
        Ok(m)
    }

    /// Classifies the message, rejecting impossible combinations.
    pub fn kind(&self) -> Result<Kind, EnvelopeError> {
        if self.jsonrpc.as_deref() != Some("2.0") {
            return Err(EnvelopeError::Shape("jsonrpc must be \"2.0\""));
        }
        match (&self.id, &self.method, &self.result, &self.error) {
            (Some(_), Some(_), None, None) => Ok(Kind::Request),
            (None, Some(_), None, None) => Ok(Kind::Notification),
            (Some(_), None, Some(_), None) | (Some(_), None, None, Some(_)) => Ok(Kind::Response),
            (None, None, None, Some(_)) => Ok(Kind::Response),
            _ => Err(EnvelopeError::Shape("needs method, or id with exactly one of result/error")),
        }
    }

    /// A request.
    pub fn request(id: Id, method: &str, params: Option<Box<RawValue>>) -> Message {
        Message { jsonrpc: Some("2.0".into()), id: Some(id), method: Some(method.into()), params, ..Default::default() }
    }

    /// A notification.
    pub fn notification(method: &str, params: Option<Box<RawValue>>) -> Message {
        Message { jsonrpc: Some("2.0".into()), method: Some(method.into()), params, ..Default::default() }
    }

    /// A success response.
    pub fn response(id: Option<Id>, result: Box<RawValue>) -> Message {
        Message { jsonrpc: Some("2.0".into()), id, result: Some(result), ..Default::default() }
    }

    /// An error response.
    pub fn error(id: Option<Id>, code: i64, message: &str, data: Option<Value>) -> Message {
        let mut e = serde_json::json!({ "code": code, "message": message });
        if let (Some(d), Some(obj)) = (data, e.as_object_mut()) {
            obj.insert("data".into(), d);
        }
        Message { jsonrpc: Some("2.0".into()), id, error: to_raw(&e), ..Default::default() }
    }

    /// Serializes to bytes. An error whose request id is unknown carries
    /// `"id": null`, as JSON-RPC 2.0 §5 requires (a notification has no `id`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        const PREFIX: &[u8] = br#"{"jsonrpc":"2.0","#;
        if self.id.is_none() && self.error.is_some() && bytes.starts_with(PREFIX) {
            let mut out = Vec::with_capacity(bytes.len() + 10);
            out.extend_from_slice(PREFIX);
            out.extend_from_slice(br#""id":null,"#);
            out.extend_from_slice(&bytes[PREFIX.len()..]);
            return out;
        }
        bytes
    }

    /// Serializes to one line: raw parts forwarded as received may hold
    /// newlines (pretty-printed JSON), which would break line-framed
    /// transports (stdio, SSE `data:`). In valid JSON a raw CR or LF can only
    /// be whitespace, so replacing them with spaces changes nothing else.
    pub fn to_line(&self) -> Vec<u8> {
        let mut b = self.to_bytes();
        for c in b.iter_mut() {
            if *c == b'\n' || *c == b'\r' {
                *c = b' ';
            }
        }
        b
    }

    /// Parses `params` into `T`, treating absent params as `{}`.
    pub fn params_as<T: for<'de> Deserialize<'de>>(&self) -> Result<T, serde_json::Error> {
        match &self.params {
            Some(p) => serde_json::from_str(p.get()),
            None => serde_json::from_str("{}"),
        }
    }

    /// `params` as a JSON object (absent → empty).
    pub fn params_object(&self) -> Result<serde_json::Map<String, Value>, serde_json::Error> {
        self.params_as()
    }

    /// The `error.code`, if this is an error response.
    pub fn error_code(&self) -> Option<i64> {
        let e = self.error.as_ref()?;
        #[derive(Deserialize)]
        struct E {
            code: i64,
        }
        serde_json::from_str::<E>(e.get()).ok().map(|e| e.code)
    }
}

/// Serializes a value into a raw JSON box (`None` only if serialization fails,
/// which cannot happen for `serde_json::Value`).
pub fn to_raw<T: Serialize>(v: &T) -> Option<Box<RawValue>> {
    serde_json::value::to_raw_value(v).ok()
}
