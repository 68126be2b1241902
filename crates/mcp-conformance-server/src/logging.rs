//! MCP log notifications (`notifications/message`) and the level filter set by
//! `logging/setLevel` (per session) or by a request's `_meta` (2026-07-28).

// Logging is deprecated by SEP-2577, but the conformance scenarios still exercise it.
#![allow(deprecated)]

use std::sync::{
    Arc,
    atomic::{AtomicU8, Ordering},
};

use rmcp::{
    RoleServer,
    model::{LoggingLevel, LoggingMessageNotificationParam},
    service::RequestContext,
};
use serde_json::Value;

/// Name the server logs under.
const LOGGER: &str = "mcp-conformance-server";

/// RFC 5424 order, least severe first.
fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// The least severe level a session still wants to receive; everything until set.
#[derive(Debug, Clone, Default)]
pub struct LogThreshold(Arc<AtomicU8>);

impl LogThreshold {
    /// Applies `logging/setLevel`.
    pub fn set(&self, level: LoggingLevel) {
        self.0.store(severity(level), Ordering::Relaxed);
    }

    /// Sends `message` to the client unless filtered out: by the request's own `_meta` log
    /// level on 2026-07-28 (none named: no logs), else by the session's threshold. Delivery failures are traced, not
    /// returned: a log line is never worth failing the call that emits it.
    pub async fn send(&self, ctx: &RequestContext<RoleServer>, level: LoggingLevel, message: &str) {
        let threshold = match ctx.meta.log_level() {
            Some(level) => severity(level),
            // On 2026-07-28 a request that names no log level gets no log messages.
            None if ctx.meta.protocol_version().is_some() => return,
            None => self.0.load(Ordering::Relaxed),
        };
        if severity(level) < threshold {
            return;
        }
        let notification = LoggingMessageNotificationParam::new(level, Value::from(message)).with_logger(LOGGER);
        if let Err(error) = ctx.peer.notify_logging_message(notification).await {
            tracing::debug!(%error, "log notification not delivered");
        }
    }
}
