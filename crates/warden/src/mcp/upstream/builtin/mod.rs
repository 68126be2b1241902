//! Built-in demonstration MCP servers, run in-process over a message channel.
//!
//! They exist so that `warden serve` with no configuration fronts something
//! real: `clock` (time and arithmetic tools, a slow tool with progress) and
//! `notes` (a small note store with tools, resources, a template and a
//! prompt). They speak the legacy era, like most servers in the field.

mod clock;
mod notes;

use std::sync::Arc;

use futures::FutureExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::UpstreamError;
use super::channel::{Connector, Link};
use crate::config::BuiltinDemo;
use crate::mcp::jsonrpc::{Id, Kind, Message, code, to_raw};

/// An error a demo handler returns: JSON-RPC code and message.
pub(crate) type DemoError = (i64, String);

/// Sends notifications from a running demo handler.
#[derive(Clone)]
pub(crate) struct Notifier(mpsc::Sender<Message>);

impl Notifier {
    pub(crate) async fn notify(&self, method: &str, params: Value) {
        let _ = self.0.send(Message::notification(method, to_raw(&params))).await;
    }
}

/// A demo server's behaviour.
pub(crate) trait Demo: Send + Sync + 'static {
    fn server_name(&self) -> &'static str;
    fn instructions(&self) -> &'static str;
    fn capabilities(&self) -> Value;
    fn handle<'a>(
        &'a self,
        method: &'a str,
        params: Value,
        notify: Notifier,
    ) -> futures::future::BoxFuture<'a, Result<Value, DemoError>>;
}

/// Connects to a fresh instance of a built-in demo.
pub struct BuiltinConnector {
    demo: Arc<dyn Demo>,
}

impl BuiltinConnector {
    /// The connector for `which`.
    pub fn new(which: BuiltinDemo) -> BuiltinConnector {
        let demo: Arc<dyn Demo> = match which {
            BuiltinDemo::Clock => Arc::new(clock::Clock),
            BuiltinDemo::Notes => Arc::new(notes::Notes::default()),
        };
        BuiltinConnector { demo }
    }
}

impl Connector for BuiltinConnector {
    fn connect(&self) -> futures::future::BoxFuture<'_, Result<Link, UpstreamError>> {
        let demo = self.demo.clone();
        async move {
            let (to_server, mut server_in) = mpsc::channel::<Message>(256);
            let (server_out, from_server) = mpsc::channel::<Message>(256);
            tokio::spawn(async move {
                while let Some(m) = server_in.recv().await {
                    if m.kind().ok() != Some(Kind::Request) {
                        continue;
                    }
                    let demo = demo.clone();
                    let out = server_out.clone();
                    tokio::spawn(async move {
                        let reply = answer(demo.as_ref(), m, Notifier(out.clone())).await;
                        let _ = out.send(reply).await;
                    });
                }
            });
            Ok(Link { tx: to_server, rx: from_server })
        }
        .boxed()
    }
}

async fn answer(demo: &dyn Demo, m: Message, notify: Notifier) -> Message {
    let id: Option<Id> = m.id.clone();
    let method = m.method.clone().unwrap_or_default();
    let params: Value = m.params.as_ref().and_then(|p| serde_json::from_str(p.get()).ok()).unwrap_or(json!({}));
    let result = match method.as_str() {
        "initialize" => Ok(json!({
            "protocolVersion": crate::mcp::protocol::LEGACY_LATEST,
            "capabilities": demo.capabilities(),
            "serverInfo": {"name": demo.server_name(), "version": env!("CARGO_PKG_VERSION")},
            "instructions": demo.instructions(),
        })),
        "ping" => Ok(json!({})),
        "logging/setLevel" => Ok(json!({})),
        _ => demo.handle(&method, params, notify).await,
    };
    match result.map(|v| to_raw(&v)) {
        Ok(Some(r)) => Message::response(id, r),
        Ok(None) => Message::error(id, code::INTERNAL_ERROR, "serialization failed", None),
        Err((c, msg)) => Message::error(id, c, &msg, None),
    }
}

/// Text content result.
pub(crate) fn text_result(text: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": text.into()}], "isError": false})
}

/// A tool-level error (reported in the result, per MCP).
pub(crate) fn tool_error(text: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": text.into()}], "isError": true})
}

pub(crate) fn not_found(method: &str) -> DemoError {
    (code::METHOD_NOT_FOUND, format!("method not found: {method}"))
}
