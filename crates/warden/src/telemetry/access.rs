//! One JSON line per request on stdout. It names what was called, never
//! tokens, headers or argument values.
//!
//! Lines are handed to a writer thread over a bounded channel, so a request
//! never waits for a `write(2)` (or a slow pipe); when the channel is full the
//! line is dropped and counted (`warden_access_log_dropped`).

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Instant;

/// Lines the writer has not taken yet, at most.
const QUEUE: usize = 16_384;

static DROPPED: AtomicU64 = AtomicU64::new(0);
static STDOUT: OnceLock<SyncSender<Cmd>> = OnceLock::new();
static STDERR: OnceLock<SyncSender<Cmd>> = OnceLock::new();

enum Cmd {
    Line(Vec<u8>),
    Flush(SyncSender<()>),
}

/// Access-log lines dropped because the writer fell behind.
pub fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

fn writer(to_stderr: bool) -> &'static SyncSender<Cmd> {
    let cell = if to_stderr { &STDERR } else { &STDOUT };
    cell.get_or_init(|| {
        let (tx, rx) = sync_channel(QUEUE);
        let spawned = std::thread::Builder::new().name("access-log".into()).spawn(move || write_lines(rx, to_stderr));
        if spawned.is_err() {
            tracing::warn!("cannot start the access-log writer thread; access log lines will be dropped");
        }
        tx
    })
}

fn write_lines(rx: Receiver<Cmd>, to_stderr: bool) {
    let mut out: Box<dyn Write> =
        if to_stderr { Box::new(std::io::stderr()) } else { Box::new(std::io::BufWriter::new(std::io::stdout())) };
    while let Ok(cmd) = rx.recv() {
        let mut next = Some(cmd);
        // Write everything queued, then flush once.
        while let Some(cmd) = next {
            match cmd {
                Cmd::Line(l) => {
                    let _ = out.write_all(&l);
                }
                Cmd::Flush(ack) => {
                    let _ = out.flush();
                    let _ = ack.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        let _ = out.flush();
    }
}

/// Waits (at most a second) until every queued access-log line is written.
pub fn flush_access_log() {
    for cell in [&STDOUT, &STDERR] {
        if let Some(tx) = cell.get() {
            let (ack, done) = sync_channel(1);
            if tx.send(Cmd::Flush(ack)).is_ok() {
                let _ = done.recv_timeout(std::time::Duration::from_secs(1));
            }
        }
    }
}

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
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
                writer(out == AccessLogOutput::Stderr).try_send(Cmd::Line(line))
            {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
