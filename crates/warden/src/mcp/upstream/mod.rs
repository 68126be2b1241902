//! Upstream MCP servers (backends), whatever their transport and era.
//!
//! Two shapes of upstream exist:
//! - **Streamable HTTP** ([`http`]): every client session gets its own backend
//!   session (legacy era) or no session at all (modern era); each request is
//!   its own HTTP exchange whose reply is a JSON body or an SSE stream.
//! - **Message channels** ([`channel`]): stdio child processes, the 2024-11-05
//!   HTTP+SSE transport and the built-in demos. One shared backend session per
//!   Warden process; requests are multiplexed by rewritten ids and replies are
//!   demultiplexed back to the request that caused them.

pub mod builtin;
pub mod channel;
pub mod http;
pub mod sse_client;
pub mod sse_legacy;
pub mod stdio;

use std::sync::Arc;

use tokio::sync::mpsc;

use super::jsonrpc::Message;
use super::session::BackendSession;

/// One message from a backend, with its SSE event id when it came on a stream.
#[derive(Debug, Clone)]
pub struct UpstreamEvent {
    /// The backend's SSE event id.
    pub event_id: Option<String>,
    /// The backend's SSE `retry` hint, in milliseconds.
    pub retry_ms: Option<u64>,
    /// The message (absent for an id/retry-only event, a "priming" event).
    pub message: Option<Message>,
}

/// Events from a backend, parsed as they are read (no task in between).
pub type EventStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<UpstreamEvent, UpstreamError>> + Send>>;

/// An [`EventStream`] over a channel's receiver.
pub fn channel_stream(rx: mpsc::Receiver<Result<UpstreamEvent, UpstreamError>>) -> EventStream {
    Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|ev| (ev, rx)) }))
}

/// An [`EventStream`] of one message.
pub fn single_stream(m: Message) -> EventStream {
    Box::pin(futures::stream::once(
        async move { Ok(UpstreamEvent { event_id: None, retry_ms: None, message: Some(m) }) },
    ))
}

/// What a backend answered to a request.
#[allow(missing_debug_implementations)]
pub enum Reply {
    /// The final response, alone.
    Single(Message),
    /// A stream of events ending with the response (or ending early).
    Stream(EventStream),
    /// Accepted with no body (notifications and responses).
    Accepted,
}

/// What went wrong talking to a backend. Clients see only the backend name and
/// a fixed message chosen in `crate::error`; logs get the detail.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Connection refused, reset, DNS, TLS.
    #[error("cannot reach backend: {0}")]
    Connect(String),
    /// No answer in time.
    #[error("backend timed out")]
    Timeout,
    /// The backend answered with an unexpected HTTP status.
    #[error("backend answered HTTP {0}")]
    Status(u16),
    /// The backend no longer knows the session (HTTP 404 with a session id).
    #[error("backend session expired")]
    SessionExpired,
    /// The backend's answer is not valid MCP.
    #[error("invalid answer from backend: {0}")]
    Protocol(String),
    /// The answer is larger than `limits.maxUpstreamMessage`.
    #[error("backend message too large")]
    TooLarge,
    /// The backend (process, channel) is not running.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
}

/// The eras a backend speaks, once probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendEras {
    /// initialize + sessions (2025-11-25 and earlier).
    pub legacy: bool,
    /// stateless 2026-07-28.
    pub modern: bool,
}

/// How a call reaches an HTTP backend, given the caller's era.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionMode {
    /// No backend session: modern requests (or a channel backend, which
    /// manages its own shared session).
    None,
    /// Each legacy client session has its own backend session.
    PerClient,
    /// Callers without a backend session of their own (modern clients of a
    /// legacy-only backend) share one.
    Shared,
}

/// Per-call context passed to an upstream.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// The legacy backend session to use; `None` sends a modern request.
    pub session: Option<BackendSession>,
    /// `Mcp-Param-*` headers of a modern client's `tools/call`, forwarded
    /// unchanged with modern requests.
    pub param_headers: Vec<(::http::HeaderName, ::http::HeaderValue)>,
    /// A legacy client's declared capabilities, declared in `_meta` when its
    /// request goes to a modern backend.
    pub client_capabilities: Option<serde_json::Value>,
    /// The upstream credential of this call (`backends[].credential`),
    /// applied to every HTTP request of the call. Never the client's own.
    pub credential: Option<Arc<crate::credentials::Injected>>,
    /// The call's transaction token (`Txn-Token`), when the virtual server mints them.
    pub txn_token: Option<::http::HeaderValue>,
}

/// A backend of any kind.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// Streamable HTTP, either era.
    Http(Arc<http::HttpUpstream>),
    /// A shared message channel (stdio, HTTP+SSE, built-in).
    Channel(Arc<channel::ChannelHandle>),
}

impl Upstream {
    /// Sends a request, notification or response.
    pub async fn send(&self, ctx: &CallContext, msg: Message) -> Result<Reply, UpstreamError> {
        match self {
            Upstream::Http(h) => h.send(ctx, msg).await,
            Upstream::Channel(c) => c.send(msg).await,
        }
    }

    /// Whether requests in the modern wire format can be sent to it.
    pub fn accepts_modern_requests(&self) -> bool {
        matches!(self, Upstream::Http(h) if h.eras().modern)
    }

    /// How a caller of the given era reaches this backend. A dual-era
    /// backend is spoken to in the caller's own era, so that everything the
    /// caller's era can do (server-to-client requests, subscriptions, logging
    /// for legacy clients; stateless calls for modern ones) passes through.
    pub fn session_mode(&self, caller_modern: bool) -> SessionMode {
        let Upstream::Http(h) = self else { return SessionMode::None };
        let eras = h.eras();
        match (caller_modern, eras.legacy, eras.modern) {
            (false, true, _) => SessionMode::PerClient,
            (false, false, _) => SessionMode::None,
            (true, _, true) => SessionMode::None,
            (true, _, false) => SessionMode::Shared,
        }
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Single(m) => f.debug_tuple("Single").field(m).finish(),
            Reply::Stream(_) => f.write_str("Stream(..)"),
            Reply::Accepted => f.write_str("Accepted"),
        }
    }
}
