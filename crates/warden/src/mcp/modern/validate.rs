//! Validation of a modern request: headers against body, in the order the
//! specification's reference checks them (see `docs/protocol-eras.md` §4).
//!
//! An intermediary that routes or authorizes on these headers must check them
//! against the body, or a client could smuggle one method past policy while
//! the backend executes another.

use http::HeaderMap;
use std::borrow::Cow;

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::headers::decode_header_value;
use crate::mcp::jsonrpc::code;
use crate::mcp::protocol::{MODERN, SUPPORTED_VERSIONS, header, name_param};

/// A rejected modern request: HTTP status, JSON-RPC code, message, data.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// HTTP status.
    pub status: u16,
    /// JSON-RPC error code.
    pub code: i64,
    /// Fixed message.
    pub message: &'static str,
    /// Optional data.
    pub data: Option<Value>,
}

fn reject(code: i64, message: &'static str) -> Rejection {
    Rejection { status: 400, code, message, data: None }
}

/// The few params fields Warden routes, logs and validates on, borrowed from
/// the body (tool arguments are not parsed). Used for both eras.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ParamsView<'a> {
    /// `params.name` (tools/call, prompts/get).
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
    /// `params.uri` (resources/read).
    #[serde(borrow, default)]
    pub uri: Option<Cow<'a, str>>,
    /// `params._meta`.
    #[serde(rename = "_meta", borrow, default)]
    pub meta: Option<MetaView<'a>>,
}

/// The `_meta` keys of a modern request.
#[derive(Debug, Default, serde::Deserialize)]
pub struct MetaView<'a> {
    /// `io.modelcontextprotocol/protocolVersion`.
    #[serde(rename = "io.modelcontextprotocol/protocolVersion", borrow, default)]
    pub protocol_version: Option<Cow<'a, str>>,
    /// `io.modelcontextprotocol/clientCapabilities`, raw.
    #[serde(rename = "io.modelcontextprotocol/clientCapabilities", borrow, default)]
    pub client_capabilities: Option<&'a RawValue>,
    /// `io.modelcontextprotocol/logLevel`, raw (only its presence as a string matters).
    #[serde(rename = "io.modelcontextprotocol/logLevel", borrow, default)]
    pub log_level: Option<&'a RawValue>,
}

impl ParamsView<'_> {
    /// Parses the view from raw params (absent params: all fields absent).
    pub fn parse(raw: Option<&RawValue>) -> Result<ParamsView<'_>, Rejection> {
        match raw {
            None => Ok(ParamsView::default()),
            Some(r) => {
                serde_json::from_str(r.get()).map_err(|_| reject(code::INVALID_PARAMS, "params must be an object"))
            }
        }
    }

    /// `params.name` or `params.uri`, whichever `field` names.
    pub fn named(&self, field: &str) -> Option<&str> {
        if field == "name" { self.name.as_deref() } else { self.uri.as_deref() }
    }

    /// Whether `_meta` carries a modern protocol version.
    pub fn has_modern_version(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| m.protocol_version.is_some())
    }

    /// Whether `_meta` asks for log messages.
    pub fn wants_logs(&self) -> bool {
        self.meta.as_ref().and_then(|m| m.log_level).is_some_and(|l| l.get().starts_with('"'))
    }

    /// Declared client capabilities as a JSON value (`{}` when absent).
    pub fn capabilities(&self) -> Value {
        self.meta
            .as_ref()
            .and_then(|m| m.client_capabilities)
            .and_then(|c| serde_json::from_str(c.get()).ok())
            .unwrap_or_else(|| Value::Object(Map::new()))
    }
}

/// Checks a modern request's headers and `_meta` against its body.
pub fn validate_request(headers: &HeaderMap, method: &str, params: &ParamsView<'_>) -> Result<(), Rejection> {
    let Some(hv) = headers.get(header::PROTOCOL_VERSION) else {
        return Err(reject(code::HEADER_MISMATCH, "MCP-Protocol-Version header is required"));
    };
    let hv = hv.to_str().unwrap_or("").trim();
    let meta = params.meta.as_ref();
    let caps_ok = meta.and_then(|m| m.client_capabilities).is_some_and(|c| c.get().trim_start().starts_with('{'));
    let (Some(version), true) = (meta.and_then(|m| m.protocol_version.as_deref()), caps_ok) else {
        return Err(reject(code::INVALID_PARAMS, "params._meta must carry protocolVersion and clientCapabilities"));
    };
    if hv != version {
        return Err(reject(code::HEADER_MISMATCH, "MCP-Protocol-Version header does not match _meta"));
    }
    if version != MODERN {
        return Err(Rejection {
            status: 400,
            code: code::UNSUPPORTED_VERSION,
            message: "Unsupported protocol version",
            data: Some(json!({"supported": SUPPORTED_VERSIONS, "requested": version})),
        });
    }
    match headers.get(header::METHOD).map(|v| v.as_bytes()) {
        Some(m) if trim(m) == method.as_bytes() => {}
        _ => return Err(reject(code::HEADER_MISMATCH, "Mcp-Method header does not match the body")),
    }
    if let Some(field) = name_param(method) {
        let body = params.named(field);
        let hdr = headers.get(header::NAME).and_then(|v| decode_header_value(v.as_bytes()));
        if body.is_none() || hdr.as_deref() != body {
            return Err(reject(code::HEADER_MISMATCH, "Mcp-Name header does not match the body"));
        }
    }
    Ok(())
}

fn trim(b: &[u8]) -> &[u8] {
    let s = b.iter().position(|c| !matches!(c, b' ' | b'\t')).unwrap_or(b.len());
    let e = b.iter().rposition(|c| !matches!(c, b' ' | b'\t')).map_or(s, |i| i + 1);
    &b[s..e.max(s)]
}

/// Checks `Mcp-Param-*` headers against tool arguments marked `x-mcp-header`
/// in the tool's input schema.
pub fn validate_param_headers(
    headers: &HeaderMap,
    input_schema: &Value,
    args: &Map<String, Value>,
) -> Result<(), Rejection> {
    let Some(props) = input_schema.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    for (arg, schema) in props {
        let Some(hname) = schema.get("x-mcp-header").and_then(Value::as_str) else {
            continue;
        };
        let expected = match args.get(arg) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.clone(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => continue,
        };
        let full = format!("{}{}", header::PARAM_PREFIX, hname.to_ascii_lowercase());
        let got = headers.get(full.as_str()).and_then(|v| decode_header_value(v.as_bytes()));
        let same = match (&got, args.get(arg)) {
            (Some(g), Some(Value::Number(n))) => g.parse::<f64>().ok() == n.as_f64(),
            (Some(g), _) => *g == expected,
            (None, _) => false,
        };
        if !same {
            return Err(reject(code::HEADER_MISMATCH, "Mcp-Param header does not match the arguments"));
        }
    }
    Ok(())
}
