//! Streamable HTTP backends, either era.
//!
//! Legacy: each client session owns a backend session (opened by
//! [`HttpUpstream::open_session`], its id sealed into the client's session id).
//! Modern: no session; every request carries `_meta` and the mirrored headers.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use tracing::debug;
use url::Url;

use super::sse_client::event_stream;
use super::{BackendEras, CallContext, Reply, UpstreamError};
use crate::config::EraSetting;
use crate::mcp::jsonrpc::{Id, Kind, Message, to_raw};
use crate::mcp::modern::headers::encode_header_value;
use crate::mcp::modern::validate::ParamsView;
use crate::mcp::protocol::{
    LEGACY_LATEST, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_PROTOCOL_VERSION, MODERN, gateway_client_info,
    header, name_param,
};
use crate::mcp::session::BackendSession;

/// A Streamable HTTP backend.
pub struct HttpUpstream {
    name: String,
    url: Url,
    client: reqwest::Client,
    era_setting: EraSetting,
    eras: ArcSwap<BackendEras>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// A principal-independent credential (`secret`) sent on every request,
    /// probes and session management included.
    static_credential: Option<Arc<crate::credentials::Injected>>,
    timeout: Duration,
    max_message: usize,
    next_id: std::sync::atomic::AtomicI64,
}

impl std::fmt::Debug for HttpUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpUpstream").field("name", &self.name).field("url", &self.url.as_str()).finish()
    }
}

/// The wire format of one HTTP exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Era {
    Legacy,
    Modern,
}

/// What `initialize` (legacy) or `server/discover` (modern) told us.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The backend session (legacy) or a session-less marker (modern).
    pub session: BackendSession,
    /// The raw result: an `InitializeResult` or a `DiscoverResult`.
    pub result: Arc<RawValue>,
}

impl HttpUpstream {
    /// A backend at `url`.
    pub fn new(
        name: &str,
        url: Url,
        era: EraSetting,
        client: reqwest::Client,
        headers: Vec<(HeaderName, HeaderValue)>,
        timeout: Duration,
        max_message: usize,
    ) -> HttpUpstream {
        let initial = BackendEras { legacy: era != EraSetting::Modern, modern: era == EraSetting::Modern };
        HttpUpstream {
            name: name.to_string(),
            url,
            client,
            era_setting: era,
            eras: ArcSwap::from_pointee(initial),
            headers,
            static_credential: None,
            timeout,
            max_message,
            next_id: std::sync::atomic::AtomicI64::new(1),
        }
    }

    /// Sends `credential` on every request (a static `secret`).
    pub fn with_static_credential(mut self, credential: Option<Arc<crate::credentials::Injected>>) -> HttpUpstream {
        self.static_credential = credential;
        self
    }

    /// Adds the configured headers, the static credential and the call's
    /// credential and transaction token. The client's own `Authorization`,
    /// `DPoP`, cookies and API keys never reach here: requests are built
    /// from scratch.
    fn authorize(&self, mut req: reqwest::RequestBuilder, ctx: &CallContext) -> reqwest::RequestBuilder {
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        for c in self.static_credential.iter().chain(ctx.credential.iter()) {
            for (k, v) in &c.headers {
                req = req.header(k, v);
            }
            if !c.query.is_empty() {
                use secrecy::ExposeSecret;
                let q: Vec<(&str, &str)> = c.query.iter().map(|(k, v)| (k.as_str(), v.expose_secret())).collect();
                req = req.query(&q);
            }
        }
        if let Some(t) = &ctx.txn_token {
            req = req.header(&crate::credentials::txn::TXN_TOKEN, t);
        }
        req
    }

    /// The eras this backend speaks, as last probed.
    pub fn eras(&self) -> BackendEras {
        **self.eras.load()
    }

    /// Finds out the backend's era (for `era: auto`) and returns what it said
    /// about itself: the `server/discover` result for modern backends, or the
    /// `initialize` result of a throw-away probe session for legacy ones.
    pub async fn probe(&self) -> Result<Arc<RawValue>, UpstreamError> {
        if self.era_setting != EraSetting::Legacy {
            match self.discover().await {
                Ok((r, legacy_too)) => {
                    let legacy = legacy_too && self.era_setting == EraSetting::Auto;
                    self.eras.store(Arc::new(BackendEras { legacy, modern: true }));
                    return Ok(r);
                }
                Err(e) if self.era_setting == EraSetting::Modern => return Err(e),
                Err(e) => debug!(error = %e, "server/discover failed; trying legacy initialize"),
            }
        }
        self.eras.store(Arc::new(BackendEras { legacy: true, modern: false }));
        let opened = self
            .open_session(&json!({"sampling": {}, "elicitation": {}, "roots": {"listChanged": true}}), None, None)
            .await?;
        self.close_session(&opened.session).await;
        Ok(opened.result)
    }

    /// `server/discover`; returns the result and whether the backend also
    /// speaks a legacy version.
    async fn discover(&self) -> Result<(Arc<RawValue>, bool), UpstreamError> {
        let msg = Message::request(Id::Num(self.id()), "server/discover", to_raw(&json!({})));
        let reply = self.post(&CallContext::default(), self.modernize(msg, None), Era::Modern).await?;
        let resp = final_response(reply).await?;
        let result = resp.result.ok_or_else(|| UpstreamError::Protocol("server/discover returned an error".into()))?;
        let parsed: Map<String, Value> =
            serde_json::from_str(result.get()).map_err(|e| UpstreamError::Protocol(e.to_string()))?;
        let versions: Vec<&str> = parsed
            .get("supportedVersions")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !versions.contains(&MODERN) {
            return Err(UpstreamError::Protocol("backend does not support 2026-07-28".into()));
        }
        let legacy_too = versions.iter().any(|v| crate::mcp::protocol::is_legacy_version(v));
        Ok((Arc::from(result), legacy_too))
    }

    fn id(&self) -> i64 {
        self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Opens a legacy backend session for one client session.
    pub async fn open_session(
        &self,
        client_capabilities: &Value,
        client_info: Option<&Value>,
        credential: Option<Arc<crate::credentials::Injected>>,
    ) -> Result<Opened, UpstreamError> {
        let params = to_raw(&json!({
            "protocolVersion": LEGACY_LATEST,
            "capabilities": client_capabilities,
            "clientInfo": client_info.cloned().unwrap_or_else(gateway_client_info),
        }));
        let msg = Message::request(Id::Num(self.id()), "initialize", params);
        let open_ctx = CallContext { credential: credential.clone(), ..Default::default() };
        let (reply, session_id) = self.post_raw(&open_ctx, msg, Era::Legacy, None).await?;
        let resp = final_response(reply).await?;
        let result = resp.result.ok_or_else(|| UpstreamError::Protocol("initialize returned an error".into()))?;
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Init {
            protocol_version: String,
        }
        let init: Init = serde_json::from_str(result.get()).map_err(|e| UpstreamError::Protocol(e.to_string()))?;
        let session =
            BackendSession { backend: self.name.clone(), session_id, protocol_version: init.protocol_version };
        let ctx = CallContext { session: Some(session.clone()), credential, ..Default::default() };
        self.post(&ctx, Message::notification("notifications/initialized", None), Era::Legacy).await?;
        Ok(Opened { session, result: Arc::from(result) })
    }

    /// Ends a legacy backend session (best effort).
    pub async fn close_session(&self, session: &BackendSession) {
        let Some(sid) = &session.session_id else {
            return;
        };
        let req = self
            .authorize(self.client.delete(self.url.clone()), &CallContext::default())
            .header(header::SESSION_ID, sid)
            .header(header::PROTOCOL_VERSION, &session.protocol_version)
            .timeout(self.timeout);
        let _ = req.send().await;
    }

    /// Opens the legacy GET stream of a backend session.
    pub async fn listen(
        &self,
        ctx: &CallContext,
        session: &BackendSession,
        last_event_id: Option<&str>,
    ) -> Result<super::EventStream, UpstreamError> {
        let mut req =
            self.authorize(self.client.get(self.url.clone()), ctx).header(http::header::ACCEPT, "text/event-stream");
        if let Some(sid) = &session.session_id {
            req = req.header(header::SESSION_ID, sid);
        }
        req = req.header(header::PROTOCOL_VERSION, &session.protocol_version);
        if let Some(id) = last_event_id {
            req = req.header(header::LAST_EVENT_ID, id);
        }
        let resp = tokio::time::timeout(self.timeout, req.send())
            .await
            .map_err(|_| UpstreamError::Timeout)?
            .map_err(map_reqwest)?;
        match resp.status() {
            StatusCode::OK => Ok(event_stream(resp.bytes_stream(), self.max_message)),
            StatusCode::NOT_FOUND if session.session_id.is_some() => Err(UpstreamError::SessionExpired),
            s => Err(UpstreamError::Status(s.as_u16())),
        }
    }

    /// Sends one message: inside the legacy session of `ctx`, or as a modern
    /// request when `ctx` has none and the backend speaks the modern era.
    pub async fn send(&self, ctx: &CallContext, msg: Message) -> Result<Reply, UpstreamError> {
        let era = if ctx.session.is_none() && self.eras().modern { Era::Modern } else { Era::Legacy };
        match era {
            Era::Legacy => self.post(ctx, msg, Era::Legacy).await,
            Era::Modern => {
                if msg.kind().ok() == Some(Kind::Request) {
                    // A modern client's request already carries its `_meta`.
                    let has_meta = msg.params.as_ref().is_some_and(|p| p.get().contains(META_PROTOCOL_VERSION));
                    let msg = if has_meta { msg } else { self.modernize(msg, ctx.client_capabilities.as_ref()) };
                    self.post(ctx, msg, Era::Modern).await
                } else {
                    // Modern backends take no client notifications over HTTP
                    // (cancellation is closing the stream) and no responses.
                    Ok(Reply::Accepted)
                }
            }
        }
    }

    /// Adds the modern `_meta` keys a request needs, keeping any the client sent.
    pub fn modernize(&self, mut msg: Message, client_caps: Option<&Value>) -> Message {
        let mut params: Map<String, Value> = msg.params_object().unwrap_or_default();
        let meta = params.entry("_meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(META_PROTOCOL_VERSION.into(), Value::String(MODERN.into()));
            meta.entry(META_CLIENT_CAPABILITIES).or_insert_with(|| client_caps.cloned().unwrap_or_else(|| json!({})));
            meta.entry(META_CLIENT_INFO).or_insert_with(gateway_client_info);
        }
        msg.params = to_raw(&params);
        msg
    }

    async fn post(&self, ctx: &CallContext, msg: Message, era: Era) -> Result<Reply, UpstreamError> {
        self.post_raw(ctx, msg, era, None).await.map(|(r, _)| r)
    }

    /// POSTs one message; returns the reply and the `Mcp-Session-Id` the
    /// backend set, if any.
    async fn post_raw(
        &self,
        ctx: &CallContext,
        msg: Message,
        era: Era,
        extra: Option<&HeaderMap>,
    ) -> Result<(Reply, Option<String>), UpstreamError> {
        let body = Bytes::from(msg.to_bytes());
        let mut req = self
            .authorize(self.client.post(self.url.clone()), ctx)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json, text/event-stream");
        if let Some(extra) = extra {
            for (k, v) in extra {
                req = req.header(k, v);
            }
        }
        match era {
            Era::Legacy => {
                if let Some(s) = &ctx.session {
                    if let Some(sid) = &s.session_id {
                        req = req.header(header::SESSION_ID, sid);
                    }
                    req = req.header(header::PROTOCOL_VERSION, &s.protocol_version);
                }
            }
            Era::Modern => {
                req = req.header(header::PROTOCOL_VERSION, MODERN);
                for (k, v) in &ctx.param_headers {
                    req = req.header(k, v);
                }
                if let Some(m) = &msg.method {
                    req = req.header(header::METHOD, m.as_str());
                    if let Some(field) = name_param(m)
                        && let Ok(view) = ParamsView::parse(msg.params.as_deref())
                        && let Some(v) = view.named(field)
                    {
                        req = req.header(header::NAME, encode_header_value(v));
                    }
                }
            }
        }
        let is_request = msg.kind().ok() == Some(Kind::Request);
        let resp = tokio::time::timeout(self.timeout, req.body(body).send())
            .await
            .map_err(|_| UpstreamError::Timeout)?
            .map_err(map_reqwest)?;
        let session_id = resp.headers().get(header::SESSION_ID).and_then(|v| v.to_str().ok()).map(str::to_string);
        let status = resp.status();
        if status == StatusCode::NOT_FOUND && ctx.session.as_ref().is_some_and(|s| s.session_id.is_some()) {
            return Err(UpstreamError::SessionExpired);
        }
        if status == StatusCode::ACCEPTED || (!is_request && status.is_success()) {
            return Ok((Reply::Accepted, session_id));
        }
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("text/event-stream") && status.is_success() {
            return Ok((Reply::Stream(event_stream(resp.bytes_stream(), self.max_message)), session_id));
        }
        // JSON body: success, or a JSON-RPC error carried with a 4xx status
        // (modern servers answer -32601 with 404, -32022 with 400, …).
        let bytes = read_bounded(resp, self.max_message).await?;
        match Message::parse(&bytes) {
            Ok(m) => Ok((Reply::Single(m), session_id)),
            Err(_) if !status.is_success() => Err(UpstreamError::Status(status.as_u16())),
            Err(e) => Err(UpstreamError::Protocol(e.to_string())),
        }
    }
}

async fn read_bounded(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, UpstreamError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(map_reqwest)? {
        if out.len() + chunk.len() > max {
            return Err(UpstreamError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn map_reqwest(e: reqwest::Error) -> UpstreamError {
    // Without the URL: a `secret.query` credential is part of it.
    if e.is_timeout() { UpstreamError::Timeout } else { UpstreamError::Connect(e.without_url().to_string()) }
}

/// Waits for the final response in a reply (dropping other messages).
pub async fn final_response(reply: Reply) -> Result<Message, UpstreamError> {
    match reply {
        Reply::Single(m) => Ok(m),
        Reply::Accepted => Err(UpstreamError::Protocol("no response to a request".into())),
        Reply::Stream(mut rx) => {
            use futures::StreamExt;
            while let Some(ev) = rx.next().await {
                if let Some(m) = ev?.message
                    && m.kind().ok() == Some(Kind::Response)
                {
                    return Ok(m);
                }
            }
            Err(UpstreamError::Protocol("stream ended without a response".into()))
        }
    }
}
