//! A virtual MCP server: several backends merged behind one path.
//!
//! The front ends (legacy and modern HTTP) decode and validate requests and
//! then call [`VirtualServer::handle`], which answers locally (`ping`,
//! `server/discover`, merged lists) or routes to exactly one backend by the
//! name or URI in the request. Everything era-specific about *clients* stays
//! in the front ends; everything era-specific about *backends* stays in
//! `upstream`.

mod ask_client;
mod authorize;
mod backend;
mod bridge;
mod catalog;
mod credential;
mod forward;
mod ids;
mod init;
mod listen;
mod lists;
mod rewrite;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::mpsc;

pub use authorize::{Access, AuditSink, Authz, now_context};
pub use backend::{BackendHandle, BackendHealth};
pub use ids::{decode_event_id, decode_server_request_id, encode_event_id, encode_server_request_id};

use super::jsonrpc::{Id, Kind, Message, code};
use super::names::Naming;
use super::session::{BackendSession, SessionState};
use crate::config::VirtualServerConfig;

/// Who is calling, as far as the protocol goes.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A legacy client inside a sealed session.
    Legacy(Arc<SessionState>),
    /// A modern (stateless) client.
    Modern {
        /// Capabilities declared in this request's `_meta`.
        client_capabilities: Value,
        /// The request's `Mcp-Param-*` headers, forwarded to modern backends.
        param_headers: Vec<(http::HeaderName, http::HeaderValue)>,
        /// Whether `_meta` asked for log messages (`io.modelcontextprotocol/logLevel`);
        /// without it no `notifications/message` may reach the client.
        wants_logs: bool,
        /// The principal's binding key: state handles (parked calls) issued
        /// to this caller are honoured only for the same principal.
        principal: String,
    },
}

impl Caller {
    /// The binding key of the principal making the call.
    pub fn principal_key(&self) -> &str {
        match self {
            Caller::Legacy(state) => &state.principal,
            Caller::Modern { principal, .. } => principal,
        }
    }

    /// Whether results must be decorated for the modern era.
    pub fn is_modern(&self) -> bool {
        matches!(self, Caller::Modern { .. })
    }

    fn session_key(&self) -> Option<&str> {
        match self {
            Caller::Legacy(s) => Some(&s.id),
            Caller::Modern { .. } => None,
        }
    }
}

/// One event for the client's SSE stream.
#[derive(Debug, Clone)]
pub struct ClientEvent {
    /// SSE event id (encoded per [`ids`]).
    pub event_id: Option<String>,
    /// SSE `retry` hint.
    pub retry_ms: Option<u64>,
    /// The message, if any (priming events carry none).
    pub message: Option<Message>,
}

/// What the front end sends back.
#[derive(Debug)]
pub enum Outcome {
    /// One JSON response.
    Response(Message),
    /// An SSE stream of events, normally ending with the response.
    Stream(mpsc::Receiver<ClientEvent>),
    /// Nothing to say (202).
    Accepted,
    /// Policy asks for more scopes: the front answers with the
    /// `insufficient_scope` challenge.
    StepUp {
        /// The request's id.
        id: Option<Id>,
        /// Scopes to ask for.
        scopes: Vec<String>,
    },
}

/// Why a request could not be served. Mapped to client-visible errors in
/// `crate::error`; the detail goes to logs only.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// No tool, prompt or resource by that name.
    #[error("unknown {kind} {name:?}")]
    UnknownName {
        /// `tool`, `prompt` or `resource`.
        kind: &'static str,
        /// The name as the client sent it.
        name: String,
    },
    /// The request lacks what routing needs.
    #[error("invalid params: {0}")]
    InvalidParams(&'static str),
    /// The method is not served.
    #[error("method not found: {0}")]
    MethodNotFound(String),
    /// Policy denied the request.
    #[error("denied by policy")]
    Denied,
    /// Policy denied the request until the caller has these scopes.
    #[error("step-up needed: {0:?}")]
    StepUp(Vec<String>),
    /// The backend's upstream credential could not be obtained (the cause
    /// is logged where it happened).
    #[error("backend {backend}: upstream credential unavailable")]
    Credential {
        /// Backend name.
        backend: String,
    },
    /// `oauthClient`: the user must authorize Warden at the backend's own
    /// authorization server once (MCP URL-mode elicitation, -32042).
    #[error("upstream authorization required at backend {backend}")]
    ConsentRequired {
        /// Backend name.
        backend: String,
        /// Where the user authorizes.
        url: String,
        /// The elicitation id.
        elicitation_id: String,
    },
    /// The backend failed.
    #[error("backend {backend} failed: {source}")]
    Backend {
        /// Backend name.
        backend: String,
        /// Cause.
        #[source]
        source: super::upstream::UpstreamError,
    },
}

impl RouteError {
    /// The JSON-RPC error sent to the client: a fixed message, never internal text.
    pub fn to_message(&self, id: Option<Id>) -> Message {
        match self {
            RouteError::UnknownName { kind: "resource", name } => {
                Message::error(id, code::INVALID_PARAMS, "Resource not found", Some(serde_json::json!({"uri": name})))
            }
            RouteError::UnknownName { kind, .. } => {
                let msg = match *kind {
                    "tool" => "Unknown tool",
                    "prompt" => "Unknown prompt",
                    _ => "Unknown name",
                };
                Message::error(id, code::INVALID_PARAMS, msg, None)
            }
            RouteError::InvalidParams(what) => Message::error(id, code::INVALID_PARAMS, what, None),
            RouteError::MethodNotFound(_) => Message::error(id, code::METHOD_NOT_FOUND, "Method not found", None),
            // Which policy decided, and why, goes to the log and the audit
            // trail only.
            RouteError::Denied | RouteError::StepUp(_) => Message::error(id, code::FORBIDDEN, "Forbidden", None),
            RouteError::ConsentRequired { backend, url, elicitation_id } => {
                let e = crate::upstream_oauth::url_elicitation_error(elicitation_id, url, backend);
                Message::error(
                    id,
                    crate::upstream_oauth::URL_ELICITATION_REQUIRED,
                    e["message"].as_str().unwrap_or("URL elicitation required"),
                    e.get("data").cloned(),
                )
            }
            RouteError::Credential { backend } => Message::error(
                id,
                code::BACKEND_ERROR,
                &format!("Backend {backend:?} is unavailable"),
                Some(serde_json::json!({"backend": backend, "reason": "credential_unavailable"})),
            ),
            RouteError::Backend { backend, source } => Message::error(
                id,
                code::BACKEND_ERROR,
                &format!("Backend {backend:?} is unavailable"),
                Some(serde_json::json!({"backend": backend, "reason": crate::error::upstream_reason(source)})),
            ),
        }
    }
}

/// A virtual server, ready to serve.
pub struct VirtualServer {
    /// Its configuration.
    pub config: Arc<VirtualServerConfig>,
    /// Naming rule (prefix or passthrough).
    pub naming: Naming,
    /// Backends, in configuration order (their index appears in ids).
    pub backends: Vec<Arc<BackendHandle>>,
    /// Backend sessions opened after `initialize` (a backend that was down then,
    /// or that forgot its session): (client session id, backend) → session.
    reopened: Mutex<HashMap<(String, usize), BackendSession>>,
    /// Legacy requests in flight, for `notifications/cancelled`:
    /// (client session id, client request id) → (backend, upstream id).
    inflight: Arc<Mutex<InflightMap>>,
    /// Resource URIs each legacy session subscribed to (shared-session backends).
    subscriptions: Arc<Mutex<HashMap<String, Vec<String>>>>,
    /// Subscribers per (shared backend, URI): only the first subscribe and
    /// the last unsubscribe reach the shared backend session.
    shared_subscribers: Mutex<HashMap<(usize, String), usize>>,
    /// Calls parked for a modern client's `inputResponses` (see `bridge`).
    parked: bridge::ParkedCalls,
    /// Calls waiting for a legacy client's answers (see `ask_client`).
    awaiting: ask_client::AwaitingAnswers,
    next_id: AtomicI64,
    /// Policy, pinning and audit (absent when neither is configured).
    authz: Option<Authz>,
    /// Each backend's upstream credential, by backend index.
    credentials: Vec<Option<Arc<crate::credentials::BackendCredential>>>,
    /// Transaction tokens, when `transactionTokens` is set.
    txn: Option<crate::credentials::txn::TxnTokens>,
    /// Where credential outcomes are counted (set with the credentials).
    metrics: Option<Arc<crate::telemetry::Metrics>>,
}

impl std::fmt::Debug for VirtualServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualServer").field("name", &self.config.name).finish_non_exhaustive()
    }
}

const MAX_REOPENED: usize = 100_000;

/// (client session id, client request id) → (backend index, upstream request id).
type InflightMap = HashMap<(String, Id), (usize, Id)>;

impl VirtualServer {
    /// A virtual server over already-started backends.
    pub fn new(config: Arc<VirtualServerConfig>, backends: Vec<Arc<BackendHandle>>) -> VirtualServer {
        VirtualServer {
            naming: Naming::for_backend_count(backends.len()),
            config,
            backends,
            reopened: Mutex::new(HashMap::new()),
            inflight: Arc::new(Mutex::new(HashMap::new())),
            subscriptions: Arc::new(Mutex::new(HashMap::new())),
            shared_subscribers: Mutex::new(HashMap::new()),
            parked: Default::default(),
            awaiting: Default::default(),
            next_id: AtomicI64::new(1),
            authz: None,
            credentials: Vec::new(),
            txn: None,
            metrics: None,
        }
    }

    /// Adds the policy stage.
    pub fn with_authz(mut self, authz: Option<Authz>) -> VirtualServer {
        self.authz = authz;
        self
    }

    /// The policy stage, if any.
    pub fn authz(&self) -> Option<&Authz> {
        self.authz.as_ref()
    }

    fn upstream_id(&self) -> Id {
        Id::Num(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// The backend with that name.
    pub fn backend_by_name(&self, name: &str) -> Option<&Arc<BackendHandle>> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// Handles one client message (not `initialize`, which the legacy front
    /// end handles through [`VirtualServer::initialize`]).
    pub async fn handle(&self, caller: &Caller, access: &Access, msg: Message) -> Outcome {
        match msg.kind() {
            Ok(Kind::Request) => self.request(caller, access, msg).await,
            Ok(Kind::Notification) => {
                self.notification(caller, msg).await;
                Outcome::Accepted
            }
            Ok(Kind::Response) => {
                self.client_response(caller, msg).await;
                Outcome::Accepted
            }
            Err(e) => Outcome::Response(Message::error(msg.id, e.code(), "Invalid request", None)),
        }
    }

    async fn request(&self, caller: &Caller, access: &Access, msg: Message) -> Outcome {
        let id = msg.id.clone();
        let method = msg.method.clone().unwrap_or_default();
        let result = match method.as_str() {
            "ping" => Ok(Outcome::Response(forward::empty_result(id.clone(), caller))),
            "server/discover" => Ok(Outcome::Response(self.discover(id.clone()).await)),
            "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => {
                match self.authorize_list(access, &method).await {
                    Ok(permitted_by) => self.list(caller, access, &method, id.clone(), permitted_by).await,
                    Err(e) => Err(e),
                }
            }
            "tools/call" | "prompts/get" | "resources/read" | "resources/subscribe" | "completion/complete" => {
                // Stage: authorization (pinning, policy), then routing.
                match self.authorize(caller, access, &msg).await {
                    Ok(pending) => {
                        let routed = self.routed(caller, access, msg).await;
                        if let (Some(p), Some(authz)) = (pending, &self.authz) {
                            p.finish(authz, routed.as_ref());
                        }
                        routed
                    }
                    Err(e) => Err(e),
                }
            }
            "resources/unsubscribe" => self.routed(caller, access, msg).await,
            "logging/setLevel" => Ok(self.set_level(caller, msg).await),
            "subscriptions/listen" => Ok(self.listen_modern(caller, msg).await),
            other => Err(RouteError::MethodNotFound(other.to_string())),
        };
        match result {
            Ok(o) => o,
            Err(RouteError::StepUp(scopes)) => Outcome::StepUp { id, scopes },
            Err(e) => {
                tracing::debug!(error = %e, method = %method, "request refused");
                Outcome::Response(e.to_message(id))
            }
        }
    }

    async fn notification(&self, caller: &Caller, msg: Message) {
        match msg.method.as_deref() {
            Some("notifications/cancelled") => {
                let Some(key) = caller.session_key() else {
                    return;
                };
                #[derive(serde::Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct P {
                    request_id: Id,
                    reason: Option<String>,
                }
                let Ok(p) = msg.params_as::<P>() else { return };
                let target = self.inflight.lock().remove(&(key.to_string(), p.request_id));
                if let Some((idx, upstream_id)) = target
                    && let Some(b) = self.backends.get(idx)
                {
                    let params = crate::mcp::jsonrpc::to_raw(&serde_json::json!({
                        "requestId": upstream_id, "reason": p.reason.unwrap_or_default()
                    }));
                    let note = Message::notification("notifications/cancelled", params);
                    let ctx = self.call_context(caller, b).await.unwrap_or_default();
                    let _ = b.upstream.send(&ctx, note).await;
                }
            }
            Some("notifications/roots/list_changed") => {
                for b in &self.backends {
                    if let Ok(ctx) = self.call_context(caller, b).await {
                        let note = Message::notification("notifications/roots/list_changed", None);
                        let _ = b.upstream.send(&ctx, note).await;
                    }
                }
            }
            // `notifications/initialized` was already sent to each backend
            // when its session opened; other notifications have no target.
            _ => {}
        }
    }

    /// A client's answer to a server-to-client request: back to the backend that asked.
    async fn client_response(&self, caller: &Caller, mut msg: Message) {
        if let Some((token, key)) = msg.id.as_ref().and_then(ask_client::parse_bridged_id) {
            let waiting = self.awaiting.lock().get(token).cloned();
            let key = key.to_string();
            if let Some(w) = waiting {
                let _ = w.send((key, msg)).await;
            }
            return;
        }
        let Some((idx, original)) = msg.id.as_ref().and_then(decode_server_request_id) else {
            tracing::debug!("client response with an id Warden did not issue; dropped");
            return;
        };
        let Some(b) = self.backends.get(idx) else {
            return;
        };
        msg.id = Some(original);
        if let Ok(ctx) = self.call_context(caller, b).await {
            let _ = b.upstream.send(&ctx, msg).await;
        }
    }

    /// How `caller` reaches backend `b`: its own backend session (legacy
    /// clients, opened if needed), the shared one, or none (modern requests).
    async fn call_context(
        &self,
        caller: &Caller,
        b: &BackendHandle,
    ) -> Result<crate::mcp::upstream::CallContext, RouteError> {
        self.call_context_as(caller, b, None).await
    }

    /// [`Self::call_context`] for a client's call: a backend session opened
    /// on the way carries `access`'s upstream credential (backends with
    /// per-user credentials want it on `initialize` too).
    pub(super) async fn call_context_as(
        &self,
        caller: &Caller,
        b: &BackendHandle,
        access: Option<&Access>,
    ) -> Result<crate::mcp::upstream::CallContext, RouteError> {
        use crate::mcp::upstream::{CallContext, SessionMode};
        match (b.upstream.session_mode(caller.is_modern()), caller) {
            (SessionMode::None, _) => Ok(CallContext::default()),
            (SessionMode::Shared, _) | (SessionMode::PerClient, Caller::Modern { .. }) => {
                let cred = self.session_credential(b, access).await?;
                Ok(CallContext { session: b.shared_session(cred).await.map_err(|e| b.error(e))?, ..Default::default() })
            }
            (SessionMode::PerClient, Caller::Legacy(state)) => {
                let key = (state.id.clone(), b.index);
                if let Some(s) = self.reopened.lock().get(&key) {
                    return Ok(CallContext { session: Some(s.clone()), ..Default::default() });
                }
                if let Some(s) = state.backend(&b.name) {
                    return Ok(CallContext { session: Some(s.clone()), ..Default::default() });
                }
                let s = self.reopen(state, b, access).await?;
                Ok(CallContext { session: Some(s), ..Default::default() })
            }
        }
    }

    /// Opens a fresh backend session for a legacy client session.
    async fn reopen(
        &self,
        state: &SessionState,
        b: &BackendHandle,
        access: Option<&Access>,
    ) -> Result<BackendSession, RouteError> {
        let cred = self.session_credential(b, access).await?;
        let opened = b.open_client_session(&state.client_capabilities, cred).await.map_err(|e| b.error(e))?;
        let mut map = self.reopened.lock();
        if map.len() >= MAX_REOPENED {
            map.clear();
        }
        map.insert((state.id.clone(), b.index), opened.session.clone());
        Ok(opened.session)
    }

    /// Forgets what this process holds for a legacy session (after DELETE).
    pub async fn end_session(&self, state: &SessionState) {
        for b in &self.backends {
            let key = (state.id.clone(), b.index);
            let reopened = self.reopened.lock().remove(&key);
            if let Some(s) = reopened.or_else(|| state.backend(&b.name).cloned()) {
                b.close_client_session(&s).await;
            }
        }
        let uris = self.subscriptions.lock().remove(&state.id).unwrap_or_default();
        let mut counts = self.shared_subscribers.lock();
        for uri in uris {
            for b in &self.backends {
                if let Some(n) = counts.get_mut(&(b.index, uri.clone())) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        counts.retain(|_, n| *n > 0);
        self.inflight.lock().retain(|(sid, _), _| sid != &state.id);
    }
}

impl VirtualServer {
    /// The backend a request names, for logs and metrics (no I/O).
    pub fn backend_for(&self, method: Option<&str>, name: &str) -> Option<String> {
        let split = match method? {
            "tools/call" => rewrite::resolve_tool(name, self.naming, &self.config.curation)?,
            "prompts/get" => self.naming.split_name(name)?,
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => self.naming.split_uri(name)?,
            _ => return None,
        };
        match split.0 {
            Some(b) => self.backend_by_name(b).map(|b| b.name.clone()),
            None => self.backends.first().map(|b| b.name.clone()),
        }
    }
}
