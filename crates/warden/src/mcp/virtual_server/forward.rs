//! Calls routed to exactly one backend, and the relay of its reply.

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::ids::{encode_event_id, encode_server_request_id};
use super::rewrite::{decorate_modern, expose_content_uris, needs_modern_decoration, resolve_tool};
use super::{Access, BackendHandle, Caller, ClientEvent, Outcome, RouteError, VirtualServer};
use crate::mcp::jsonrpc::{Id, Kind, Message, code, to_raw};
use crate::mcp::names::Naming;
use crate::mcp::upstream::{CallContext, Reply, UpstreamError, UpstreamEvent};

/// Most legacy sessions whose resource subscriptions are tracked at once.
const MAX_SUBSCRIBED_SESSIONS: usize = 100_000;

/// `{}` as a result, decorated for modern callers.
pub fn empty_result(id: Option<Id>, caller: &Caller) -> Message {
    let v = if caller.is_modern() { serde_json::json!({"resultType": "complete"}) } else { serde_json::json!({}) };
    match to_raw(&v) {
        Some(r) => Message::response(id, r),
        None => Message::error(id, code::INTERNAL_ERROR, "Internal error", None),
    }
}

fn str_param<'a>(params: &'a Map<String, Value>, key: &'static str) -> Result<&'a str, RouteError> {
    params.get(key).and_then(Value::as_str).ok_or(RouteError::InvalidParams(key))
}

impl VirtualServer {
    pub(super) fn pick(
        &self,
        backend: Option<&str>,
        kind: &'static str,
        name: &str,
    ) -> Result<&Arc<BackendHandle>, RouteError> {
        let unknown = || RouteError::UnknownName { kind, name: name.to_string() };
        match backend {
            None => self.backends.first().ok_or_else(unknown),
            Some(b) => self.backend_by_name(b).ok_or_else(unknown),
        }
    }

    /// Routes a request that names one tool, prompt or resource.
    pub(super) async fn routed(&self, caller: &Caller, access: &Access, msg: Message) -> Result<Outcome, RouteError> {
        let method = msg.method.clone().unwrap_or_default();
        if let Some(backend) = self.passthrough_target(caller, &msg, &method) {
            // One backend, nothing to rename: the params go upstream as they came.
            let out = Message::request(self.upstream_id(), &method, msg.params.clone());
            return self.forward(caller, access, &backend, msg.id, &method, out).await;
        }
        let mut params = msg.params_object().map_err(|_| RouteError::InvalidParams("params must be an object"))?;
        if caller.is_modern()
            && let Some(token) = params.get("requestState").and_then(Value::as_str)
            && token.starts_with(super::bridge::STATE_PREFIX)
        {
            let token = token.to_string();
            return self.resume_parked(&msg, &params, &token, caller.principal_key()).await;
        }
        let naming = self.naming;
        let backend = match method.as_str() {
            "tools/call" => {
                let name = str_param(&params, "name")?.to_string();
                let (b, original) = resolve_tool(&name, naming, &self.config.curation)
                    .ok_or_else(|| RouteError::UnknownName { kind: "tool", name: name.clone() })?;
                let b = self.pick(b, "tool", &name)?.clone();
                let original = original.to_string();
                params.insert("name".into(), Value::String(original));
                b
            }
            "prompts/get" => {
                let name = str_param(&params, "name")?.to_string();
                let (b, original) = naming
                    .split_name(&name)
                    .ok_or_else(|| RouteError::UnknownName { kind: "prompt", name: name.clone() })?;
                let b = self.pick(b, "prompt", &name)?.clone();
                let original = original.to_string();
                params.insert("name".into(), Value::String(original));
                b
            }
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                let uri = str_param(&params, "uri")?.to_string();
                let (b, original) = naming
                    .split_uri(&uri)
                    .ok_or_else(|| RouteError::UnknownName { kind: "resource", name: uri.clone() })?;
                let b = self.pick(b, "resource", &uri)?.clone();
                let original = original.to_string();
                // Shared backend sessions (stdio, HTTP+SSE, built-ins): Warden
                // keeps who subscribed to what, so that updates reach only
                // subscribers and one client's unsubscribe does not end
                // another's subscription.
                if let Some(key) = caller.session_key()
                    && method != "resources/read"
                    && matches!(b.upstream, crate::mcp::upstream::Upstream::Channel(_))
                    && !self.track_shared_subscription(key, b.index, &method, &uri)
                {
                    return Ok(Outcome::Response(empty_result(msg.id, caller)));
                }
                params.insert("uri".into(), Value::String(original));
                b
            }
            _ => {
                // completion/complete: routed by the prompt or resource it completes.
                let r = params.get_mut("ref").and_then(Value::as_object_mut).ok_or(RouteError::InvalidParams("ref"))?;
                let (field, kind) = match r.get("type").and_then(Value::as_str) {
                    Some("ref/prompt") => ("name", "prompt"),
                    Some("ref/resource") => ("uri", "resource"),
                    _ => return Err(RouteError::InvalidParams("ref.type")),
                };
                let value = r.get(field).and_then(Value::as_str).ok_or(RouteError::InvalidParams("ref"))?.to_string();
                let split = if field == "name" { naming.split_name(&value) } else { naming.split_uri(&value) };
                let (b, original) = split.ok_or_else(|| RouteError::UnknownName { kind, name: value.clone() })?;
                let b = self.pick(b, kind, &value)?.clone();
                r.insert(field.into(), Value::String(original.to_string()));
                b
            }
        };
        if caller.is_modern() && !backend.upstream.accepts_modern_requests() {
            strip_modern_meta(&mut params);
        }
        let out = Message::request(self.upstream_id(), &method, to_raw(&params));
        self.forward(caller, access, &backend, msg.id, &method, out).await
    }

    /// Records a legacy session's subscribe/unsubscribe on a shared backend;
    /// returns whether the request must reach the backend (first subscriber
    /// or last unsubscriber), or be answered `{}` by Warden.
    pub(super) fn track_shared_subscription(&self, session: &str, backend: usize, method: &str, uri: &str) -> bool {
        let mut subs = self.subscriptions.lock();
        // Sessions that never send DELETE leave entries behind: bound the map.
        if subs.len() >= MAX_SUBSCRIBED_SESSIONS && !subs.contains_key(session) {
            return false;
        }
        let list = subs.entry(session.to_string()).or_default();
        let mut counts = self.shared_subscribers.lock();
        let count = counts.entry((backend, uri.to_string())).or_insert(0);
        let forward = match method {
            "resources/subscribe" => {
                if list.iter().any(|u| u == uri) || list.len() >= 256 || uri.len() > 2048 {
                    false
                } else {
                    list.push(uri.to_string());
                    *count += 1;
                    *count == 1
                }
            }
            _ => {
                if let Some(pos) = list.iter().position(|u| u == uri) {
                    list.swap_remove(pos);
                    *count = count.saturating_sub(1);
                    *count == 0
                } else {
                    false
                }
            }
        };
        counts.retain(|_, n| *n > 0);
        forward
    }

    /// The backend of a request that can be forwarded byte for byte: a single
    /// backend (names unchanged), no renames, not a parked-call retry, no
    /// modern `_meta` to strip, no subscription to record.
    fn passthrough_target(&self, caller: &Caller, msg: &Message, method: &str) -> Option<Arc<BackendHandle>> {
        if self.naming != Naming::Passthrough
            || !self.config.curation.rename.is_empty()
            || !matches!(method, "tools/call" | "prompts/get" | "resources/read" | "completion/complete")
        {
            return None;
        }
        let b = self.backends.first()?;
        let raw = msg.params.as_ref()?.get();
        if caller.is_modern() && (!b.upstream.accepts_modern_requests() || raw.contains(super::bridge::STATE_PREFIX)) {
            return None;
        }
        if method == "tools/call" {
            let view = crate::mcp::modern::validate::ParamsView::parse(msg.params.as_deref()).ok()?;
            if !self.config.curation.allows(view.name.as_deref()?) {
                return None;
            }
        }
        Some(b.clone())
    }

    /// Sends `out` to backend `b` and relays its reply to the client as `client_id`.
    pub(super) async fn forward(
        &self,
        caller: &Caller,
        access: &Access,
        b: &Arc<BackendHandle>,
        client_id: Option<Id>,
        method: &str,
        out: Message,
    ) -> Result<Outcome, RouteError> {
        let upstream_id = out.id.clone();
        let sent = out.clone();
        let mut ctx = self.call_context_as(caller, b, Some(access)).await?;
        match caller {
            Caller::Modern { param_headers, .. } if ctx.session.is_none() => {
                ctx.param_headers.clone_from(param_headers)
            }
            Caller::Legacy(state) if ctx.session.is_none() => {
                ctx.client_capabilities = Some(state.client_capabilities.clone());
            }
            _ => {}
        }
        let target = if self.txn.is_some() { call_target(method, &out) } else { None };
        self.upstream_auth(&mut ctx, b, access, method, target.as_deref()).await?;
        let first = tokio::time::timeout(b.timeout, b.upstream.send(&ctx, out.clone()))
            .await
            .unwrap_or(Err(UpstreamError::Timeout));
        let reply = match first {
            Err(UpstreamError::SessionExpired) => {
                // The backend restarted or dropped the session: open a new one
                // transparently and retry once.
                tracing::info!(backend = %b.name, "backend session expired; re-initializing");
                let fresh = match caller {
                    Caller::Legacy(state) => {
                        CallContext { session: Some(self.reopen(state, b, Some(access)).await?), ..Default::default() }
                    }
                    Caller::Modern { .. } => {
                        b.drop_shared_session().await;
                        self.call_context_as(caller, b, Some(access)).await?
                    }
                };
                ctx = CallContext { session: fresh.session, ..ctx };
                tokio::time::timeout(b.timeout, b.upstream.send(&ctx, out)).await.unwrap_or(Err(UpstreamError::Timeout))
            }
            other => other,
        }
        .map_err(|e| b.error(e))?;
        let relay = Relay {
            backend: b.clone(),
            naming: self.naming,
            caller_modern: caller.is_modern(),
            drop_logs: matches!(caller, Caller::Modern { wants_logs: false, .. }),
            client_capabilities: match caller {
                Caller::Modern { client_capabilities, .. } => client_capabilities.clone(),
                Caller::Legacy(state) => state.client_capabilities.clone(),
            },
            parked: self.parked.clone(),
            awaiting: self.awaiting.clone(),
            principal: caller.principal_key().to_string(),
            request: sent,
            method: method.to_string(),
            client_id: client_id.clone(),
            ctx,
            upstream_id: upstream_id.clone(),
        };
        // A legacy client must be asked for what a modern backend's
        // InputRequiredResult wants: that needs a stream.
        let reply = match reply {
            Reply::Single(m) if !relay.caller_modern && super::ask_client::input_required(&m).is_some() => {
                Reply::Stream(crate::mcp::upstream::single_stream(m))
            }
            other => other,
        };
        match reply {
            Reply::Single(m) => Ok(Outcome::Response(relay.finish(m))),
            Reply::Accepted => Err(b.error(UpstreamError::Protocol("request answered with 202".into()))),
            Reply::Stream(mut rx) => {
                // Most calls stream nothing but their response: answer those
                // as plain JSON, and open an SSE stream only when there is more.
                // Priming events (an id and no message) are held until the
                // first message; if that is the final response there is
                // nothing left to resume and the events are dropped.
                let mut held = std::collections::VecDeque::new();
                let first_message = loop {
                    match tokio::time::timeout(b.timeout, futures::StreamExt::next(&mut rx)).await {
                        Ok(Some(Ok(ev))) if ev.message.is_none() && held.len() < 8 => held.push_back(ev),
                        Ok(Some(Ok(ev))) => break Some(ev),
                        Ok(Some(Err(e))) => return Err(b.error(e)),
                        Ok(None) if held.is_empty() => {
                            return Err(b.error(UpstreamError::Protocol("stream ended without a response".into())));
                        }
                        // Closed after priming only: the client resumes with GET.
                        Ok(None) => break None,
                        Err(_) => return Err(b.error(UpstreamError::Timeout)),
                    }
                };
                if let Some(m) = first_message.as_ref().and_then(|ev| ev.message.as_ref())
                    && m.kind().ok() == Some(Kind::Response)
                    && (relay.caller_modern || super::ask_client::input_required(m).is_none())
                {
                    let m = first_message.and_then(|ev| ev.message).unwrap_or_default();
                    return Ok(Outcome::Response(relay.finish(m)));
                }
                held.extend(first_message);
                let inflight = match (caller.session_key(), &client_id, &upstream_id) {
                    (Some(sid), Some(cid), Some(uid)) => {
                        let key = (sid.to_string(), cid.clone());
                        self.inflight.lock().insert(key.clone(), (b.index, uid.clone()));
                        Some((self.inflight.clone(), key))
                    }
                    _ => None,
                };
                let (tx, crx) = mpsc::channel(64);
                let span = tracing::debug_span!("relay", backend = %b.name, method = %method);
                tokio::spawn(
                    async move {
                        relay.run(held, rx, tx).await;
                        if let Some((map, key)) = inflight {
                            map.lock().remove(&key);
                        }
                    }
                    .instrument(span),
                );
                Ok(Outcome::Stream(crx))
            }
        }
    }
}

/// The tool, prompt or resource a request names (for transaction tokens).
fn call_target(method: &str, m: &Message) -> Option<String> {
    let field = crate::mcp::protocol::name_param(method)?;
    let view = crate::mcp::modern::validate::ParamsView::parse(m.params.as_deref()).ok()?;
    view.named(field).map(str::to_string)
}

/// Removes the modern-era `_meta` keys (`io.modelcontextprotocol/*`) from a
/// request bound for a backend spoken to in the legacy era, which would
/// otherwise refuse it; `progressToken` and other keys stay.
fn strip_modern_meta(params: &mut Map<String, Value>) {
    if let Some(meta) = params.get_mut("_meta").and_then(Value::as_object_mut) {
        meta.retain(|k, _| !k.starts_with("io.modelcontextprotocol/"));
        if meta.is_empty() {
            params.remove("_meta");
        }
    }
}

/// Everything needed to turn one backend reply into client events.
pub(super) struct Relay {
    pub(super) backend: Arc<BackendHandle>,
    naming: Naming,
    pub(super) caller_modern: bool,
    /// A modern caller that did not ask for log messages.
    drop_logs: bool,
    /// Capabilities a modern caller declared (to bridge server-to-client requests).
    pub(super) client_capabilities: Value,
    /// Calls waiting for a modern client's `inputResponses`.
    pub(super) parked: super::bridge::ParkedCalls,
    /// Calls waiting for a legacy client's answers to bridged input requests.
    pub(super) awaiting: super::ask_client::AwaitingAnswers,
    /// Binding key of the caller's principal (a parked call resumes only for it).
    pub(super) principal: String,
    /// The request as sent upstream (retried with `inputResponses`).
    pub(super) request: Message,
    pub(super) method: String,
    pub(super) client_id: Option<Id>,
    pub(super) ctx: CallContext,
    upstream_id: Option<Id>,
}

/// What one backend event becomes.
pub(super) enum Mapped {
    /// Forward this event to the client.
    Event(ClientEvent),
    /// Forward it; it was the final response.
    Final(ClientEvent),
    /// A server-to-client request a modern client can answer through
    /// `InputRequiredResult`.
    Bridge(Message),
    /// An `InputRequiredResult` a legacy client can answer through
    /// server-to-client requests.
    AskClient(Map<String, Value>),
    /// Nothing for the client.
    Skip,
}

impl Relay {
    /// The final response for the client.
    fn finish(&self, mut m: Message) -> Message {
        m.id = self.client_id.clone();
        let Some(raw) = m.result.as_ref() else {
            // The modern era reports an unknown resource as -32602, never the
            // legacy -32002 (2026-07-28, SEP-2164).
            if self.caller_modern && m.error_code() == Some(code::RESOURCE_NOT_FOUND) {
                let uri = m
                    .error
                    .as_ref()
                    .and_then(|e| serde_json::from_str::<Value>(e.get()).ok())
                    .and_then(|e| e.pointer("/data/uri").cloned());
                return Message::error(
                    m.id,
                    code::INVALID_PARAMS,
                    "Resource not found",
                    uri.map(|u| serde_json::json!({"uri": u})),
                );
            }
            return m;
        };
        let prefixed = self.naming == Naming::Prefixed
            && matches!(self.method.as_str(), "tools/call" | "prompts/get" | "resources/read");
        let decorate = self.caller_modern && needs_modern_decoration(raw.get(), &self.method);
        let input_required = !self.caller_modern && raw.get().contains("input_required");
        if !(prefixed || decorate || input_required) {
            return m;
        }
        let Ok(mut obj) = serde_json::from_str::<Map<String, Value>>(raw.get()) else {
            return m;
        };
        if input_required && obj.get("resultType").and_then(Value::as_str) == Some("input_required") {
            return Message::error(
                self.client_id.clone(),
                code::INTERNAL_ERROR,
                "The backend needs client input (a 2026-07-28 multi round-trip request), which cannot be relayed to a legacy client",
                Some(serde_json::json!({"backend": self.backend.name})),
            );
        }
        if prefixed {
            let mut v = Value::Object(obj);
            expose_content_uris(&mut v, self.naming, &self.backend.name);
            obj = match v {
                Value::Object(o) => o,
                _ => return m,
            };
        }
        if self.caller_modern {
            decorate_modern(&mut obj, &self.method);
        }
        m.result = to_raw(&obj);
        m
    }

    pub(super) fn error(&self, e: UpstreamError) -> ClientEvent {
        let msg =
            RouteError::Backend { backend: self.backend.name.clone(), source: e }.to_message(self.client_id.clone());
        ClientEvent { event_id: None, retry_ms: None, message: Some(msg) }
    }

    /// Maps one backend event for the client.
    async fn map(&self, ev: UpstreamEvent) -> Mapped {
        let event_id = ev.event_id.map(|id| encode_event_id(&[(self.backend.index, id)]));
        let Some(mut m) = ev.message else {
            // Priming events only serve resumption, which modern clients do not do.
            if self.caller_modern {
                return Mapped::Skip;
            }
            return Mapped::Event(ClientEvent { event_id, retry_ms: ev.retry_ms, message: None });
        };
        match m.kind() {
            Ok(Kind::Response) => {
                if !self.caller_modern
                    && let Some(obj) = super::ask_client::input_required(&m)
                    && self.client_can_answer(&obj)
                {
                    return Mapped::AskClient(obj);
                }
                let out = self.finish(m);
                Mapped::Final(ClientEvent { event_id, retry_ms: ev.retry_ms, message: Some(out) })
            }
            Ok(Kind::Request) if self.caller_modern => {
                if self.can_bridge(&m) {
                    return Mapped::Bridge(m);
                }
                // The client did not declare what the backend asks for:
                // decline so the backend does not wait forever.
                let reply = Message::error(
                    m.id.take(),
                    code::METHOD_NOT_FOUND,
                    "The client did not declare the capability this request needs",
                    None,
                );
                let _ = self.backend.upstream.send(&self.ctx, reply).await;
                Mapped::Skip
            }
            Ok(Kind::Request) => {
                m.id = m.id.as_ref().map(|id| encode_server_request_id(self.backend.index, id));
                Mapped::Event(ClientEvent { event_id, retry_ms: ev.retry_ms, message: Some(m) })
            }
            Ok(Kind::Notification) if self.drop_logs && m.method.as_deref() == Some("notifications/message") => {
                Mapped::Skip
            }
            Ok(Kind::Notification) => Mapped::Event(ClientEvent { event_id, retry_ms: ev.retry_ms, message: Some(m) }),
            Err(_) => Mapped::Skip,
        }
    }

    async fn run(
        mut self,
        mut queued: std::collections::VecDeque<UpstreamEvent>,
        mut rx: crate::mcp::upstream::EventStream,
        mut tx: mpsc::Sender<ClientEvent>,
    ) {
        let mut resumable = false;
        loop {
            let next = if let Some(ev) = queued.pop_front() {
                Ok(Some(Ok(ev)))
            } else {
                tokio::select! {
                    n = tokio::time::timeout(self.backend.timeout, futures::StreamExt::next(&mut rx)) => n,
                    _ = tx.closed() => {
                        self.client_gone().await;
                        return;
                    }
                }
            };
            match next {
                Err(_) => {
                    let _ = tx.send(self.error(UpstreamError::Timeout)).await;
                    self.cancel_upstream("timed out").await;
                    return;
                }
                Ok(None) => {
                    // The backend closed the stream before answering. With an
                    // event id the client can resume with GET + Last-Event-ID;
                    // without, it would wait forever, so tell it.
                    if !resumable {
                        let _ = tx.send(self.error(UpstreamError::Protocol("stream ended early".into()))).await;
                    }
                    return;
                }
                Ok(Some(Err(e))) => {
                    let _ = tx.send(self.error(e)).await;
                    return;
                }
                Ok(Some(Ok(ev))) => {
                    resumable |= ev.event_id.is_some() && !self.caller_modern;
                    let (out, done) = match self.map(ev).await {
                        Mapped::Event(e) => (Some(e), false),
                        Mapped::Final(e) => (Some(e), true),
                        Mapped::Skip => (None, false),
                        Mapped::AskClient(result) => match self.ask_legacy_client(result, &tx).await {
                            Ok(next_rx) => {
                                rx = next_rx;
                                continue;
                            }
                            Err(end) => {
                                let _ = tx.send(end).await;
                                return;
                            }
                        },
                        Mapped::Bridge(request) => {
                            // Park the call: the client answers with a retry.
                            match self.park(request, &mut rx, tx, &mut queued).await {
                                Some(next_tx) => {
                                    tx = next_tx;
                                    continue;
                                }
                                None => return,
                            }
                        }
                    };
                    if let Some(out) = out
                        && tx.send(out).await.is_err()
                    {
                        self.client_gone().await;
                        return;
                    }
                    if done {
                        return;
                    }
                }
            }
        }
    }

    /// The client closed its stream. For modern callers that is cancellation;
    /// dropping the upstream stream cancels modern and channel backends, and
    /// legacy HTTP backends are told explicitly.
    pub(super) async fn client_gone(&self) {
        if self.caller_modern && self.ctx.session.is_some() {
            self.cancel_upstream("client closed the stream").await;
        }
    }

    pub(super) async fn cancel_upstream(&self, reason: &str) {
        let Some(id) = &self.upstream_id else { return };
        let params = to_raw(&serde_json::json!({"requestId": id, "reason": reason}));
        let _ = self.backend.upstream.send(&self.ctx, Message::notification("notifications/cancelled", params)).await;
    }
}

#[cfg(test)]
mod strip_tests {
    #[test]
    fn modern_meta_keys_are_stripped_for_legacy_backends() {
        let mut p = serde_json::json!({"name": "x", "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "progressToken": "t"
        }})
        .as_object()
        .cloned()
        .unwrap_or_default();
        super::strip_modern_meta(&mut p);
        assert_eq!(
            serde_json::Value::Object(p.clone()),
            serde_json::json!({"name": "x", "_meta": {"progressToken": "t"}})
        );
        p.insert("_meta".into(), serde_json::json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28"}));
        super::strip_modern_meta(&mut p);
        assert!(!p.contains_key("_meta"));
    }
}
