//! Notifications not tied to a request: the legacy GET stream, the modern
//! `subscriptions/listen` stream, and `logging/setLevel` fan-out.

use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc};

use super::ids::{decode_event_id, encode_event_id, encode_server_request_id};
use super::{BackendHandle, Caller, ClientEvent, Outcome, RouteError, VirtualServer};
use crate::mcp::jsonrpc::{Id, Kind, Message, to_raw};
use crate::mcp::names::Naming;
use crate::mcp::protocol::META_SUBSCRIPTION_ID;
use crate::mcp::session::SessionState;
use crate::mcp::upstream::{CallContext, Reply, SessionMode, Upstream, UpstreamError, UpstreamEvent};

/// Which notifications a listener wants.
#[derive(Debug, Clone, Copy, Default)]
struct Wanted {
    tools: bool,
    prompts: bool,
    resources: bool,
}

impl Wanted {
    fn all() -> Wanted {
        Wanted { tools: true, prompts: true, resources: true }
    }

    fn admits(&self, method: &str, modern: bool) -> bool {
        match method {
            "notifications/tools/list_changed" => self.tools,
            "notifications/prompts/list_changed" => self.prompts,
            "notifications/resources/list_changed" => self.resources,
            "notifications/resources/updated" => true,
            // A modern listen stream carries only the notifications above;
            // a legacy GET stream also carries logs and the like.
            _ => !modern,
        }
    }
}

/// Which `notifications/resources/updated` a listener receives.
enum ResourceFilter {
    /// All (the backend session is the client's own).
    All,
    /// The URIs a modern listener named.
    Fixed(Vec<String>),
    /// What a legacy session subscribed to, read at delivery time.
    Session {
        /// Session id.
        id: String,
        /// The virtual server's subscription records.
        subscriptions: Arc<Mutex<std::collections::HashMap<String, Vec<String>>>>,
    },
}

impl ResourceFilter {
    fn admits(&self, uri: &str) -> bool {
        match self {
            ResourceFilter::All => true,
            ResourceFilter::Fixed(list) => list.iter().any(|u| u == uri),
            ResourceFilter::Session { id, subscriptions } => {
                subscriptions.lock().get(id).is_some_and(|l| l.iter().any(|u| u == uri))
            }
        }
    }
}

/// Shared state of one merged stream.
struct Merge {
    tx: mpsc::Sender<ClientEvent>,
    last_ids: Mutex<Vec<(usize, String)>>,
    naming: Naming,
    wanted: Wanted,
    /// URIs (as the client sees them) whose updates this listener receives;
    /// `None` means any (legacy sessions with their own backend sessions).
    resource_filter: ResourceFilter,
    subscription_id: Option<Id>,
    legacy_client: bool,
}

impl Merge {
    /// Maps and sends one backend message; false when the client is gone.
    async fn push(&self, b: &BackendHandle, ev_id: Option<String>, mut m: Message) -> bool {
        let event_id = ev_id.map(|id| {
            let mut ids = self.last_ids.lock();
            match ids.iter_mut().find(|(i, _)| *i == b.index) {
                Some(slot) => slot.1 = id,
                None => ids.push((b.index, id)),
            }
            encode_event_id(&ids)
        });
        match m.kind() {
            Ok(Kind::Notification) => {
                let method = m.method.clone().unwrap_or_default();
                if !self.wanted.admits(&method, !self.legacy_client)
                    || method == "notifications/subscriptions/acknowledged"
                {
                    return true;
                }
                if method == "notifications/progress" {
                    return true;
                }
                let mut params: Map<String, Value> = m.params_object().unwrap_or_default();
                if method == "notifications/resources/updated" {
                    let Some(uri) = params.get("uri").and_then(Value::as_str) else {
                        return true;
                    };
                    let exposed = self.naming.expose_uri(&b.name, uri);
                    if !self.resource_filter.admits(&exposed) {
                        return true;
                    }
                    params.insert("uri".into(), Value::String(exposed));
                }
                if let Some(meta) = params.get_mut("_meta").and_then(Value::as_object_mut) {
                    meta.remove(META_SUBSCRIPTION_ID);
                }
                if let Some(sid) = &self.subscription_id {
                    let meta = params.entry("_meta").or_insert_with(|| json!({}));
                    if let Some(meta) = meta.as_object_mut() {
                        meta.insert(META_SUBSCRIPTION_ID.into(), json!(sid));
                    }
                }
                m.params = if params.is_empty() { None } else { to_raw(&params) };
            }
            Ok(Kind::Request) if self.legacy_client => {
                m.id = m.id.as_ref().map(|id| encode_server_request_id(b.index, id));
            }
            _ => return true,
        }
        self.tx.send(ClientEvent { event_id, retry_ms: None, message: Some(m) }).await.is_ok()
    }
}

async fn pump_events(merge: Arc<Merge>, b: Arc<BackendHandle>, mut rx: crate::mcp::upstream::EventStream) {
    loop {
        let ev = tokio::select! {
            ev = futures::StreamExt::next(&mut rx) => ev,
            _ = merge.tx.closed() => return,
        };
        match ev {
            Some(Ok(UpstreamEvent { event_id, message: Some(m), .. })) => {
                if !merge.push(&b, event_id, m).await {
                    return;
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::debug!(backend = %b.name, error = %e, "backend notification stream ended");
                return;
            }
            None => return,
        }
    }
}

async fn pump_broadcast(merge: Arc<Merge>, b: Arc<BackendHandle>, mut rx: broadcast::Receiver<Message>) {
    loop {
        let m = tokio::select! {
            m = rx.recv() => m,
            _ = merge.tx.closed() => return,
        };
        match m {
            Ok(m) => {
                if !merge.push(&b, None, m).await {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(backend = %b.name, skipped = n, "slow listener skipped notifications");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

impl VirtualServer {
    /// Starts one source of notifications from backend `b` into `merge`.
    async fn attach(&self, caller: &Caller, b: &Arc<BackendHandle>, merge: &Arc<Merge>, resume: Option<&str>) {
        match &b.upstream {
            Upstream::Channel(c) => {
                tokio::spawn(pump_broadcast(merge.clone(), b.clone(), c.subscribe()));
            }
            Upstream::Http(h) if b.upstream.session_mode(caller.is_modern()) != SessionMode::None => {
                let Ok(ctx) = self.call_context(caller, b).await else {
                    return;
                };
                let Some(session) = ctx.session.as_ref() else { return };
                match h.listen(&ctx, session, resume).await {
                    Ok(rx) => {
                        tokio::spawn(pump_events(merge.clone(), b.clone(), rx));
                    }
                    Err(e) => {
                        tracing::debug!(backend = %b.name, error = %e, "backend offers no GET stream")
                    }
                }
            }
            Upstream::Http(_) => {
                // Modern backend: forward a subscriptions/listen of our own.
                let params = json!({"notifications": {
                    "toolsListChanged": merge.wanted.tools,
                    "promptsListChanged": merge.wanted.prompts,
                    "resourcesListChanged": merge.wanted.resources,
                }});
                let msg = Message::request(self.upstream_id(), "subscriptions/listen", to_raw(&params));
                if let Ok(Reply::Stream(rx)) = b.upstream.send(&CallContext::default(), msg).await {
                    tokio::spawn(pump_events(merge.clone(), b.clone(), rx));
                }
            }
        }
    }

    /// The legacy GET stream of a session: every backend's notifications and
    /// server-to-client requests, merged. With `Last-Event-ID`, only the
    /// backend streams named in it are resumed.
    pub async fn listen_legacy(
        &self,
        state: Arc<SessionState>,
        last_event_id: Option<&str>,
    ) -> mpsc::Receiver<ClientEvent> {
        let (tx, rx) = mpsc::channel(64);
        let resume = last_event_id.and_then(decode_event_id);
        let merge = Arc::new(Merge {
            tx,
            last_ids: Mutex::new(resume.clone().unwrap_or_default()),
            naming: self.naming,
            wanted: Wanted::all(),
            resource_filter: ResourceFilter::All,
            subscription_id: None,
            legacy_client: true,
        });
        let caller = Caller::Legacy(state.clone());
        // Shared backend sessions: resource updates only for what this
        // session subscribed to (read live, so later subscribes count).
        let scoped = Arc::new(Merge {
            tx: merge.tx.clone(),
            last_ids: Mutex::new(Vec::new()),
            naming: self.naming,
            wanted: Wanted::all(),
            resource_filter: ResourceFilter::Session {
                id: state.id.clone(),
                subscriptions: self.subscriptions.clone(),
            },
            subscription_id: None,
            legacy_client: true,
        });
        for b in &self.backends {
            let from = resume.as_ref().map(|r| r.iter().find(|(i, _)| *i == b.index).map(|(_, id)| id.as_str()));
            match from {
                // Resuming, and this backend is not part of the stream being resumed.
                Some(None) => continue,
                Some(Some(_)) | None if matches!(b.upstream, Upstream::Channel(_)) => {
                    self.attach(&caller, b, &scoped, None).await
                }
                Some(Some(id)) => self.attach(&caller, b, &merge, Some(id)).await,
                None => self.attach(&caller, b, &merge, None).await,
            }
        }
        rx
    }

    /// `subscriptions/listen` (modern): acknowledges, then streams the
    /// opted-in notifications of every backend, tagged with the subscription id.
    pub(super) async fn listen_modern(&self, caller: &Caller, msg: Message) -> Outcome {
        let params: Map<String, Value> = msg.params_object().unwrap_or_default();
        let req = params.get("notifications").cloned().unwrap_or_else(|| json!({}));
        let flag = |k: &str| req.get(k).and_then(Value::as_bool).unwrap_or(false);
        let caps = self.capabilities();
        let has = |k: &str| caps.get(k).is_some();
        let wanted = Wanted {
            tools: flag("toolsListChanged") && has("tools"),
            prompts: flag("promptsListChanged") && has("prompts"),
            resources: flag("resourcesListChanged") && has("resources"),
        };
        let resource_subs: Vec<String> = req
            .get("resourceSubscriptions")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).take(1000).collect())
            .unwrap_or_default();
        let mut honoured = Map::new();
        honoured.insert("toolsListChanged".into(), json!(wanted.tools));
        honoured.insert("promptsListChanged".into(), json!(wanted.prompts));
        honoured.insert("resourcesListChanged".into(), json!(wanted.resources));
        if !resource_subs.is_empty() {
            honoured.insert("resourceSubscriptions".into(), json!(resource_subs));
        }
        let (tx, rx) = mpsc::channel(64);
        let ack = Message::notification(
            "notifications/subscriptions/acknowledged",
            to_raw(&json!({"notifications": honoured, "_meta": {META_SUBSCRIPTION_ID: msg.id}})),
        );
        if tx.send(ClientEvent { event_id: None, retry_ms: None, message: Some(ack) }).await.is_err() {
            return Outcome::Accepted;
        }
        let merge = Arc::new(Merge {
            tx,
            last_ids: Mutex::new(Vec::new()),
            naming: self.naming,
            wanted,
            resource_filter: ResourceFilter::Fixed(resource_subs),
            subscription_id: msg.id.clone(),
            legacy_client: false,
        });
        for b in &self.backends {
            self.attach(caller, b, &merge, None).await;
        }
        Outcome::Stream(rx)
    }

    /// `logging/setLevel`: sent to every backend that logs; always `{}`.
    pub(super) async fn set_level(&self, caller: &Caller, msg: Message) -> Outcome {
        let params = msg.params.clone();
        let sends =
            self.backends.iter().filter(|b| b.info().is_none_or(|i| i.pointer("/capabilities/logging").is_some())).map(
                |b| {
                    let params = params.clone();
                    async move {
                        let ctx = self.call_context(caller, b).await?;
                        let m = Message::request(self.upstream_id(), "logging/setLevel", params);
                        let sent = async {
                            let r = b.upstream.send(&ctx, m).await?;
                            crate::mcp::upstream::http::final_response(r).await
                        };
                        tokio::time::timeout(b.timeout, sent)
                            .await
                            .unwrap_or(Err(UpstreamError::Timeout))
                            .map_err(|e| b.error(e))?;
                        Ok::<(), RouteError>(())
                    }
                },
            );
        for r in futures::future::join_all(sends).await {
            if let Err(e) = r {
                tracing::debug!(error = %e, "logging/setLevel not applied by a backend");
            }
        }
        Outcome::Response(super::forward::empty_result(msg.id, caller))
    }
}
