//! A shared backend session over a message channel (stdio, HTTP+SSE, built-in).
//!
//! One supervisor task per backend connects, performs the `initialize`
//! handshake, then pumps messages: responses go back to the request that is
//! waiting for them (ids are rewritten so that many clients share one
//! session), progress notifications follow their rewritten progress token,
//! and other notifications are broadcast to every listening client. When the
//! channel closes (a child process exits) pending requests fail at once and
//! the supervisor reconnects with exponential backoff.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{Instrument, info, warn};

use super::{Reply, UpstreamError, UpstreamEvent};
use crate::mcp::jsonrpc::{Id, Kind, Message, code, to_raw};
use crate::mcp::protocol::{LEGACY_LATEST, gateway_client_info};

/// Both ends of a connected message channel.
pub struct Link {
    /// Messages to the backend.
    pub tx: mpsc::Sender<Message>,
    /// Messages from the backend; `None` when the backend went away.
    pub rx: mpsc::Receiver<Message>,
}

/// Something that can (re)connect a channel.
pub trait Connector: Send + Sync + 'static {
    /// Opens a fresh channel (spawns the process, opens the stream …).
    fn connect(&self) -> futures::future::BoxFuture<'_, Result<Link, UpstreamError>>;
}

type EventTx = mpsc::Sender<Result<UpstreamEvent, UpstreamError>>;

struct Pending {
    tx: EventTx,
    progress_token: Option<(String, Value)>,
}

#[derive(Default)]
struct Inflight {
    by_id: HashMap<i64, Pending>,
    /// gateway progress token → upstream request id.
    progress: HashMap<String, i64>,
}

/// Connection state visible to senders.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkState {
    /// Not yet connected, or reconnecting.
    Connecting,
    /// Initialized and serving.
    Ready,
    /// The last attempt failed; retrying.
    Failed(String),
}

/// A backend reached over a shared message channel.
pub struct ChannelUpstream {
    name: String,
    next_id: AtomicI64,
    inflight: Mutex<Inflight>,
    tx: Mutex<Option<mpsc::Sender<Message>>>,
    state: watch::Sender<LinkState>,
    init_result: Mutex<Option<Arc<RawValue>>>,
    broadcast: broadcast::Sender<Message>,
    /// Server-to-client requests handed to a client: random id → backend id.
    asked: Mutex<HashMap<String, Id>>,
    ready_timeout: Duration,
}

impl std::fmt::Debug for ChannelUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelUpstream").field("name", &self.name).finish_non_exhaustive()
    }
}

impl ChannelUpstream {
    /// Starts the supervisor for `connector` and returns the owning handle.
    /// The supervisor (and a child process) stops when the last clone of the
    /// handle is dropped, or when `shutdown` fires.
    pub fn start(
        name: &str,
        connector: Box<dyn Connector>,
        ready_timeout: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<ChannelHandle> {
        let (state, _) = watch::channel(LinkState::Connecting);
        let (broadcast, _) = broadcast::channel(256);
        let up = Arc::new(ChannelUpstream {
            name: name.to_string(),
            next_id: AtomicI64::new(1),
            inflight: Mutex::new(Inflight::default()),
            tx: Mutex::new(None),
            state,
            init_result: Mutex::new(None),
            broadcast,
            asked: Mutex::new(HashMap::new()),
            ready_timeout,
        });
        let (stop, stop_rx) = watch::channel(false);
        let span = tracing::info_span!("backend", backend = %name);
        tokio::spawn(supervise(up.clone(), connector, shutdown, stop_rx).instrument(span));
        Arc::new(ChannelHandle { inner: up, stop })
    }

    /// The cached `initialize` result of the shared session.
    pub fn init_result(&self) -> Option<Arc<RawValue>> {
        self.init_result.lock().clone()
    }

    /// The current link state.
    pub fn state(&self) -> LinkState {
        self.state.borrow().clone()
    }

    /// Notifications not tied to a request (list_changed, resource updates, logs).
    pub fn subscribe(&self) -> broadcast::Receiver<Message> {
        self.broadcast.subscribe()
    }

    /// Waits until the session is ready (bounded by the ready timeout).
    pub async fn wait_ready(&self) -> Result<(), UpstreamError> {
        let mut rx = self.state.subscribe();
        let wait = async {
            loop {
                if *rx.borrow_and_update() == LinkState::Ready {
                    return Ok(());
                }
                if rx.changed().await.is_err() {
                    return Err(UpstreamError::Unavailable("backend stopped".into()));
                }
            }
        };
        match tokio::time::timeout(self.ready_timeout, wait).await {
            Ok(r) => r,
            Err(_) => Err(match self.state() {
                LinkState::Failed(e) => UpstreamError::Unavailable(e),
                _ => UpstreamError::Timeout,
            }),
        }
    }

    /// Sends a message. Requests get a stream of their related messages, ending
    /// with the response; notifications and responses are accepted.
    pub async fn send(&self, mut msg: Message) -> Result<Reply, UpstreamError> {
        self.wait_ready().await?;
        let tx = self.tx.lock().clone().ok_or_else(|| UpstreamError::Unavailable("not connected".into()))?;
        match msg.kind().map_err(|e| UpstreamError::Protocol(e.to_string()))? {
            Kind::Request => {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                msg.id = Some(Id::Num(id));
                let progress_token = rewrite_progress_token(&mut msg, &self.name, id);
                let (etx, erx) = mpsc::channel(64);
                {
                    let mut inf = self.inflight.lock();
                    if let Some((gw, _)) = &progress_token {
                        inf.progress.insert(gw.clone(), id);
                    }
                    inf.by_id.insert(id, Pending { tx: etx, progress_token });
                }
                if tx.send(msg).await.is_err() {
                    self.forget(id);
                    return Err(UpstreamError::Unavailable("channel closed".into()));
                }
                Ok(Reply::Stream(super::channel_stream(erx)))
            }
            Kind::Notification => {
                if msg.method.as_deref() == Some("notifications/cancelled") {
                    // The caller already mapped requestId to our upstream id.
                    if let Ok(p) = msg.params_as::<CancelParams>() {
                        self.forget(p.request_id);
                    }
                }
                tx.send(msg).await.map_err(|_| UpstreamError::Unavailable("channel closed".into()))?;
                Ok(Reply::Accepted)
            }
            Kind::Response => {
                // Only answers to requests Warden handed out, under the random
                // id it gave them: one client cannot answer another's.
                let original = match &msg.id {
                    Some(Id::Str(token)) => self.asked.lock().remove(token),
                    _ => None,
                };
                let Some(original) = original else {
                    tracing::debug!("answer to an unknown server-to-client request; dropped");
                    return Ok(Reply::Accepted);
                };
                msg.id = Some(original);
                tx.send(msg).await.map_err(|_| UpstreamError::Unavailable("channel closed".into()))?;
                Ok(Reply::Accepted)
            }
        }
    }

    fn forget(&self, id: i64) {
        let mut inf = self.inflight.lock();
        if let Some(p) = inf.by_id.remove(&id)
            && let Some((gw, _)) = p.progress_token
        {
            inf.progress.remove(&gw);
        }
    }

    /// Routes one message from the backend.
    async fn dispatch(&self, mut msg: Message, tx: &mpsc::Sender<Message>) {
        match msg.kind() {
            Ok(Kind::Response) => {
                let Some(Id::Num(id)) = msg.id.clone() else {
                    warn!("response with an id Warden never sent; dropped");
                    return;
                };
                let pending = {
                    let mut inf = self.inflight.lock();
                    let p = inf.by_id.remove(&id);
                    if let Some(Some((gw, _))) = p.as_ref().map(|p| &p.progress_token) {
                        inf.progress.remove(gw);
                    }
                    p
                };
                if let Some(p) = pending {
                    // Never wait on one client: a full queue loses that client's answer, not everyone's.
                    let _ = p.tx.try_send(Ok(UpstreamEvent { event_id: None, retry_ms: None, message: Some(msg) }));
                }
            }
            Ok(Kind::Notification) => {
                if msg.method.as_deref() == Some("notifications/progress") {
                    let target = msg.params_object().ok().and_then(|p| {
                        let token = p.get("progressToken")?.as_str()?.to_string();
                        let inf = self.inflight.lock();
                        let id = inf.progress.get(&token)?;
                        let pending = inf.by_id.get(id)?;
                        Some((pending.tx.clone(), pending.progress_token.clone()?.1, p))
                    });
                    if let Some((etx, original, mut p)) = target {
                        p.insert("progressToken".into(), original);
                        msg.params = to_raw(&p);
                        let _ = etx.try_send(Ok(UpstreamEvent { event_id: None, retry_ms: None, message: Some(msg) }));
                    }
                    return;
                }
                if msg.method.as_deref() == Some("notifications/message") {
                    // Log messages may carry request data: they go to the one
                    // request in flight (as `related` as a shared stdio session
                    // can tell), never to every client; otherwise dropped.
                    match self.single_inflight() {
                        Some(etx) => {
                            let _ =
                                etx.try_send(Ok(UpstreamEvent { event_id: None, retry_ms: None, message: Some(msg) }));
                        }
                        None => tracing::debug!(
                            "log message from a shared backend with no single request in flight; dropped"
                        ),
                    }
                    return;
                }
                let _ = self.broadcast.send(msg);
            }
            Ok(Kind::Request) => {
                // A server-to-client request on a shared session: it can only be
                // answered by a client with a request in flight; with exactly
                // one, it is routed there, otherwise it is declined.
                match self.single_inflight() {
                    Some(etx) => {
                        let token = format!("r-{}", crate::mcp::session::random_id());
                        {
                            let mut asked = self.asked.lock();
                            if asked.len() >= 10_000 {
                                asked.clear();
                            }
                            if let Some(id) = msg.id.take() {
                                asked.insert(token.clone(), id);
                            }
                        }
                        msg.id = Some(Id::Str(token));
                        let _ = etx.try_send(Ok(UpstreamEvent { event_id: None, retry_ms: None, message: Some(msg) }));
                    }
                    None if msg.method.as_deref() == Some("ping") => {
                        let empty = to_raw(&serde_json::json!({}));
                        if let Some(r) = empty {
                            let _ = tx.send(Message::response(msg.id, r)).await;
                        }
                    }
                    None => {
                        let reply = Message::error(
                            msg.id,
                            code::INTERNAL_ERROR,
                            "Warden cannot route this request: no single client request is in flight on the shared session",
                            None,
                        );
                        let _ = tx.send(reply).await;
                    }
                }
            }
            Err(e) => warn!(error = %e, "invalid message from backend; dropped"),
        }
    }

    /// The event sender of the only request in flight, if exactly one is.
    fn single_inflight(&self) -> Option<EventTx> {
        let inf = self.inflight.lock();
        let mut open = inf.by_id.values().filter(|p| !p.tx.is_closed());
        match (open.next(), open.next()) {
            (Some(p), None) => Some(p.tx.clone()),
            _ => None,
        }
    }

    fn fail_all(&self, why: &str) {
        let drained: Vec<Pending> = {
            let mut inf = self.inflight.lock();
            inf.progress.clear();
            inf.by_id.drain().map(|(_, p)| p).collect()
        };
        for p in drained {
            let _ = p.tx.try_send(Err(UpstreamError::Unavailable(why.to_string())));
        }
    }

    /// Drops requests whose client went away and tells the backend.
    fn sweep_abandoned(&self, tx: &mpsc::Sender<Message>) {
        let gone: Vec<i64> = {
            let inf = self.inflight.lock();
            inf.by_id.iter().filter(|(_, p)| p.tx.is_closed()).map(|(id, _)| *id).collect()
        };
        for id in gone {
            self.forget(id);
            let params = to_raw(&serde_json::json!({"requestId": id, "reason": "client went away"}));
            let _ = tx.try_send(Message::notification("notifications/cancelled", params));
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelParams {
    request_id: i64,
}

/// Replaces `params._meta.progressToken` with a token unique to this backend
/// session; returns `(gateway token, original token)`.
fn rewrite_progress_token(msg: &mut Message, backend: &str, id: i64) -> Option<(String, Value)> {
    let raw = msg.params.as_ref()?;
    if !raw.get().contains("progressToken") {
        return None;
    }
    let mut params: serde_json::Map<String, Value> = serde_json::from_str(raw.get()).ok()?;
    let meta = params.get_mut("_meta")?.as_object_mut()?;
    let original = meta.get("progressToken")?.clone();
    let gw = format!("warden-{backend}-{id}");
    meta.insert("progressToken".into(), Value::String(gw.clone()));
    msg.params = to_raw(&params);
    Some((gw, original))
}

async fn handshake(up: &ChannelUpstream, link: &mut Link) -> Result<Arc<RawValue>, UpstreamError> {
    let params = to_raw(&serde_json::json!({
        "protocolVersion": LEGACY_LATEST,
        "capabilities": {"sampling": {}, "elicitation": {}, "roots": {"listChanged": true}},
        "clientInfo": gateway_client_info(),
    }));
    let id = up.next_id.fetch_add(1, Ordering::Relaxed);
    link.tx
        .send(Message::request(Id::Num(id), "initialize", params))
        .await
        .map_err(|_| UpstreamError::Unavailable("channel closed during initialize".into()))?;
    let wait = async {
        while let Some(m) = link.rx.recv().await {
            if m.id == Some(Id::Num(id)) && m.method.is_none() {
                return Some(m);
            }
        }
        None
    };
    let resp = tokio::time::timeout(up.ready_timeout, wait)
        .await
        .map_err(|_| UpstreamError::Timeout)?
        .ok_or_else(|| UpstreamError::Unavailable("channel closed during initialize".into()))?;
    let result = resp.result.ok_or_else(|| UpstreamError::Protocol("initialize failed".into()))?;
    link.tx
        .send(Message::notification("notifications/initialized", None))
        .await
        .map_err(|_| UpstreamError::Unavailable("channel closed during initialize".into()))?;
    Ok(Arc::from(result))
}

/// Owns a channel upstream: dropping the last handle stops its supervisor.
pub struct ChannelHandle {
    inner: Arc<ChannelUpstream>,
    stop: watch::Sender<bool>,
}

impl std::ops::Deref for ChannelHandle {
    type Target = ChannelUpstream;
    fn deref(&self) -> &ChannelUpstream {
        &self.inner
    }
}

impl Drop for ChannelHandle {
    fn drop(&mut self) {
        let _ = self.stop.send_replace(true);
    }
}

impl std::fmt::Debug for ChannelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

/// Resolves when either signal says stop (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>, stop: &mut watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() || *stop.borrow() {
            return;
        }
        tokio::select! {
            r = shutdown.changed() => if r.is_err() { return },
            r = stop.changed() => if r.is_err() { return },
        }
    }
}

async fn supervise(
    up: Arc<ChannelUpstream>,
    connector: Box<dyn Connector>,
    mut shutdown: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *shutdown.borrow() || *stop.borrow() {
            up.fail_all("backend stopped");
            return;
        }
        let _ = up.state.send_replace(LinkState::Connecting);
        let attempt = async {
            let mut link = connector.connect().await?;
            let init = handshake(&up, &mut link).await?;
            Ok::<_, UpstreamError>((link, init))
        };
        match attempt.await {
            Ok((mut link, init)) => {
                *up.init_result.lock() = Some(init);
                *up.tx.lock() = Some(link.tx.clone());
                let _ = up.state.send_replace(LinkState::Ready);
                info!("backend ready");
                backoff = Duration::from_millis(100);
                let mut sweep = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tokio::select! {
                        m = link.rx.recv() => match m {
                            Some(m) => up.dispatch(m, &link.tx).await,
                            None => break,
                        },
                        _ = sweep.tick() => up.sweep_abandoned(&link.tx),
                        _ = stopped(&mut shutdown, &mut stop) => {
                            *up.tx.lock() = None;
                            up.fail_all("backend stopped");
                            return;
                        }
                    }
                }
                *up.tx.lock() = None;
                up.fail_all("backend exited");
                warn!("backend channel closed; restarting");
                let _ = up.state.send_replace(LinkState::Failed("backend exited".into()));
            }
            Err(e) => {
                warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "backend connect failed");
                let _ = up.state.send_replace(LinkState::Failed(e.to_string()));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped(&mut shutdown, &mut stop) => {
                up.fail_all("backend stopped");
                return;
            }
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
