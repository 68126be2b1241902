//! One JSON line per request on stdout. It names what was called, never
//! tokens, headers or argument values.

use std::io::Write;
use std::time::Instant;

use serde::Serialize;

/// What the access log records about one request; filled in along the path.
#[derive(Debug, Serialize)]
pub struct AccessRecord {
    /// Wall-clock time, RFC 3339 (set at emit).
    pub time: String,
    /// Listener name.
    pub listener: String,
    /// Virtual server name, once routed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_server: Option<String>,
    /// HTTP method.
    pub http_method: String,
    /// Request path (no query).
    pub path: String,
    /// MCP protocol era of the request.
    pub era: &'static str,
    /// JSON-RPC method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Tool or prompt name or resource URI, as the client sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Backend the request was routed to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// HTTP status.
    pub status: u16,
    /// `ok` or a short reason.
    pub outcome: &'static str,
    /// Milliseconds until the response head was ready.
    pub duration_ms: f64,
    #[serde(skip)]
    start: Option<Instant>,
}

impl AccessRecord {
    /// A record for a request that just arrived.
    pub fn new(listener: &str, http_method: &str, path: &str) -> AccessRecord {
        AccessRecord {
            time: String::new(),
            listener: listener.to_string(),
            virtual_server: None,
            http_method: http_method.to_string(),
            path: path.chars().take(256).collect(),
            era: "-",
            method: None,
            name: None,
            backend: None,
            status: 0,
            outcome: "ok",
            duration_ms: 0.0,
            start: Some(Instant::now()),
        }
    }

    /// Seconds since the request arrived.
    pub fn elapsed_secs(&self) -> f64 {
        self.start.map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0)
    }

    /// Writes the line to `out`.
    pub fn emit(&mut self, out: crate::config::AccessLogOutput) {
        use crate::config::AccessLogOutput;
        self.duration_ms = (self.elapsed_secs() * 1e6).round() / 1e3;
        self.time = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        if out == AccessLogOutput::Off {
            return;
        }
        if let Ok(mut line) = serde_json::to_vec(self) {
            line.push(b'\n');
            let _ = match out {
                AccessLogOutput::Stderr => std::io::stderr().lock().write_all(&line),
                _ => std::io::stdout().lock().write_all(&line),
            };
        }
    }
}
