//! One JSON line per request on stdout. It names what was called, never
//! tokens, headers or argument values.
//!
//! Lines are appended to an in-memory buffer that a background thread writes
//! out every 50 ms (or the request that fills it past 64 KiB writes it), so a
//! request neither waits for `write(2)` nor wakes another thread. Lines still
//! buffered are written at shutdown; a crash loses at most 50 ms of lines.

use std::io::Write;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

/// Buffered bytes that make the emitting request write them itself.
const HIGH_WATER: usize = 64 * 1024;
/// How often the background thread writes what is buffered.
const INTERVAL: Duration = Duration::from_millis(50);

static STDOUT: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static STDERR: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static FLUSHER: OnceLock<()> = OnceLock::new();

fn write_out(to_stderr: bool, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let _ = if to_stderr {
        std::io::stderr().lock().write_all(bytes)
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes).and_then(|()| out.flush())
    };
}

fn flush_one(to_stderr: bool) {
    let buf = if to_stderr { &STDERR } else { &STDOUT };
    let bytes = std::mem::take(&mut *buf.lock());
    write_out(to_stderr, &bytes);
}

/// Writes every buffered access-log line now (at shutdown).
pub fn flush_access_log() {
    flush_one(false);
    flush_one(true);
}

fn start_flusher() {
    FLUSHER.get_or_init(|| {
        let spawned = std::thread::Builder::new().name("access-log".into()).spawn(|| {
            loop {
                std::thread::sleep(INTERVAL);
                flush_access_log();
            }
        });
        if spawned.is_err() {
            tracing::warn!("cannot start the access-log flusher; lines are written when 64 KiB accumulate");
        }
    });
}

/// What the access log records about one request; filled in along the path.
#[derive(Debug, Serialize)]
pub struct AccessRecord {
    /// Wall-clock time, RFC 3339 (set at emit).
    pub time: String,
    /// The request id (echoed in `x-request-id`, used in audit records).
    pub request_id: String,
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
    /// The authenticated principal: kind, subject and agent (never a credential).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
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
            request_id: String::new(),
            listener: listener.to_string(),
            virtual_server: None,
            http_method: http_method.to_string(),
            path: path.chars().take(256).collect(),
            era: "-",
            method: None,
            name: None,
            backend: None,
            principal: None,
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
        start_flusher();
        let to_stderr = out == AccessLogOutput::Stderr;
        let buf = if to_stderr { &STDERR } else { &STDOUT };
        let full = {
            let mut b = buf.lock();
            if serde_json::to_writer(&mut *b, self).is_ok() {
                b.push(b'\n');
            }
            (b.len() >= HIGH_WATER).then(|| std::mem::take(&mut *b))
        };
        if let Some(bytes) = full {
            write_out(to_stderr, &bytes);
        }
    }
}
