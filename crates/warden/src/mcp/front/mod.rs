//! The MCP endpoint of a virtual server: HTTP in, era detection, validation,
//! sessions, then the virtual server; its outcome back out as JSON or SSE.
//!
//! Stages, in order: Origin/Host check → method → body limit → envelope →
//! era → (legacy) session or (modern) header validation → virtual server.

mod gate;
mod origin;
pub mod sse;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde_json::{Map, Value};

pub use gate::AuthGate;
pub use origin::origin_allowed;

use crate::config::{Limits, Listener};
use crate::error::{Body, json_response, rpc_error, status_only};
use crate::mcp::jsonrpc::{Kind, Message, code};
use crate::mcp::modern::validate::{ParamsView, validate_request};
use crate::mcp::protocol::{MODERN, REMOVED_IN_MODERN, header, is_legacy_version};
use crate::mcp::session::{SessionError, SessionSealer, SessionState};
use crate::mcp::virtual_server::{Access, Caller, Outcome, VirtualServer};
use crate::telemetry::AccessRecord;

/// What the endpoint needs besides the virtual server.
pub struct Front<'a> {
    /// The listener the request came in on.
    pub listener: &'a Listener,
    /// Session sealer.
    pub sealer: &'a SessionSealer,
    /// Limits.
    pub limits: &'a Limits,
    /// Authentication result.
    pub gate: &'a AuthGate,
    /// Rate limits of the virtual server, if any.
    pub limiter: Option<&'a crate::ratelimit::RateLimiter>,
}

fn header_str<'a, B>(req: &'a Request<B>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

impl Front<'_> {
    /// Serves one HTTP request to the virtual server's MCP endpoint.
    pub async fn serve<B>(&self, vs: &Arc<VirtualServer>, req: Request<B>, log: &mut AccessRecord) -> Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if !origin_allowed(self.listener, req.headers(), req.uri().authority().map(|a| a.as_str())) {
            log.outcome = "forbidden_origin";
            return rpc_error(StatusCode::FORBIDDEN, None, code::INVALID_REQUEST, "Origin not allowed", None);
        }
        let token_in_query = req.uri().query().is_some_and(|q| q.split('&').any(|kv| kv.starts_with("access_token=")));
        if token_in_query && req.method() != Method::POST {
            return self.gate.refuse_query_token(self.listener, None, log);
        }
        match *req.method() {
            Method::POST => self.post(vs, req, token_in_query, log).await,
            Method::GET => self.get(vs, &req, log).await,
            Method::DELETE => self.delete(vs, &req, log).await,
            _ => {
                let mut r = status_only(StatusCode::METHOD_NOT_ALLOWED);
                r.headers_mut().insert(http::header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
                r
            }
        }
    }

    /// The sealed session named by `Mcp-Session-Id`. `Err` means "unknown
    /// session" (forged, expired, or for another virtual server): 404.
    /// A session belongs to the principal that opened it: another principal
    /// presenting its id gets the same 404 as for a forged one.
    fn session<B>(
        &self,
        vs: &VirtualServer,
        req: &Request<B>,
        principal_key: &str,
    ) -> Result<Option<Arc<SessionState>>, UnknownSession> {
        let Some(id) = header_str(req, header::SESSION_ID) else { return Ok(None) };
        match self.sealer.open(id) {
            Ok(s) if s.virtual_server == vs.config.name && s.principal == principal_key => Ok(Some(s)),
            Ok(_)
            | Err(SessionError::Malformed | SessionError::Forged | SessionError::Expired | SessionError::Ended) => {
                Err(UnknownSession)
            }
        }
    }

    async fn get<B>(&self, vs: &VirtualServer, req: &Request<B>, log: &mut AccessRecord) -> Response<Body> {
        log.method = Some("GET stream".into());
        let principal = match self.gate.admit(self.listener, None, None, None, log) {
            Ok(p) => p,
            Err(r) => return *r,
        };
        let modern = header_str(req, header::PROTOCOL_VERSION) == Some(MODERN);
        let state = match self.session(vs, req, &principal.binding_key()) {
            Ok(Some(s)) if !modern => s,
            Ok(_) => return method_not_allowed(),
            Err(r) => return r.response(),
        };
        let accepts_sse = header_str(req, "accept").is_some_and(|a| a.contains("text/event-stream"));
        if !accepts_sse {
            return status_only(StatusCode::NOT_ACCEPTABLE);
        }
        let last = header_str(req, header::LAST_EVENT_ID);
        let rx = vs.listen_legacy(state, last).await;
        sse_response(rx)
    }

    async fn delete<B>(&self, vs: &VirtualServer, req: &Request<B>, log: &mut AccessRecord) -> Response<Body> {
        log.method = Some("DELETE session".into());
        let principal = match self.gate.admit(self.listener, None, None, None, log) {
            Ok(p) => p,
            Err(r) => return *r,
        };
        match self.session(vs, req, &principal.binding_key()) {
            Ok(Some(s)) => {
                self.sealer.end(&s);
                vs.end_session(&s).await;
                status_only(StatusCode::OK)
            }
            Ok(None) => method_not_allowed(),
            Err(r) => r.response(),
        }
    }

    async fn post<B>(
        &self,
        vs: &Arc<VirtualServer>,
        req: Request<B>,
        token_in_query: bool,
        log: &mut AccessRecord,
    ) -> Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let ct_ok = header_str(&req, "content-type").is_some_and(|c| c.trim_start().starts_with("application/json"));
        if !ct_ok {
            return rpc_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                code::INVALID_REQUEST,
                "Content-Type must be application/json",
                None,
            );
        }
        let (parts, body) = req.into_parts();
        let mut limit = usize::try_from(self.limits.max_request_body).unwrap_or(usize::MAX);
        if self.gate.failed() || token_in_query {
            // A refused caller's body is read only to answer with its id.
            limit = limit.min(gate::UNAUTHENTICATED_BODY_LIMIT as usize);
        }
        let bytes = match Limited::new(body, limit).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
                if token_in_query {
                    return self.gate.refuse_query_token(self.listener, None, log);
                }
                if self.gate.failed() {
                    return self.gate.refusal(self.listener, log);
                }
                log.outcome = "body_too_large";
                return rpc_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    None,
                    code::INVALID_REQUEST,
                    "Request body too large",
                    None,
                );
            }
            Err(_) => return status_only(StatusCode::BAD_REQUEST),
        };
        let msg = match Message::parse(&bytes) {
            Ok(m) => m,
            Err(_) if token_in_query => return self.gate.refuse_query_token(self.listener, None, log),
            Err(_) if self.gate.failed() => {
                return self.gate.refusal(self.listener, log);
            }
            Err(e) => {
                log.outcome = "invalid_jsonrpc";
                return rpc_error(StatusCode::BAD_REQUEST, None, e.code(), "Invalid JSON-RPC message", None);
            }
        };
        let req = Request::from_parts(parts, ());
        log.method = msg.method.clone();
        // A borrowed look at the few params fields the front needs; the full
        // params are parsed only where they are used (modern validation,
        // initialize, routing).
        let peek = match ParamsView::parse(msg.params.as_deref()) {
            Ok(p) => p,
            // With authentication on, the tool name the scope check reads must
            // be the one routing uses: params that do not parse strictly
            // (duplicate or mistyped `name`/`uri`) are refused, not guessed.
            Err(r) if self.gate.is_on() => {
                log.outcome = "invalid_params";
                let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
                return rpc_error(status, msg.id, r.code, r.message, r.data);
            }
            Err(_) => ParamsView::default(),
        };
        log.name = peek.name.as_deref().or(peek.uri.as_deref()).map(|s| s.chars().take(128).collect());
        if token_in_query {
            return self.gate.refuse_query_token(self.listener, msg.id, log);
        }
        let principal =
            match self.gate.admit(self.listener, msg.method.as_deref(), peek.name.as_deref(), msg.id.clone(), log) {
                Ok(p) => p,
                Err(r) => return *r,
            };
        // Computed once: sessions, parked calls and rate limits all key on it.
        let key = principal.binding_key();
        // Stage: rate limits, once the caller, method and tool are known.
        if let (Some(limiter), Some(method), Ok(Kind::Request)) = (self.limiter, msg.method.as_deref(), msg.kind()) {
            let tool = if method == "tools/call" { peek.name.as_deref() } else { None };
            let backend = peek.name.as_deref().or(peek.uri.as_deref()).and_then(|n| vs.backend_for(Some(method), n));
            let ctx = crate::ratelimit::LimitContext {
                principal_key: &key,
                virtual_server: &vs.config.name,
                backend: backend.as_deref(),
                method,
                tool,
            };
            if let Some(secs) = limiter.check(&ctx).await.retry_after_secs() {
                log.outcome = "rate_limited";
                return rate_limited(msg.id, secs);
            }
        }
        let header_version = header_str(&req, header::PROTOCOL_VERSION);
        let modern = peek.has_modern_version()
            || header_version.is_some_and(|v| !is_legacy_version(v))
            || (msg.method.as_deref() == Some("server/discover"));
        log.era = if modern { "modern" } else { "legacy" };
        let access =
            Access { principal, context: policy_context(vs, &req, log.era), request_id: log.request_id.clone() };
        if modern {
            self.post_modern(vs, &req, msg, key, &access, log).await
        } else {
            self.post_legacy(vs, &req, msg, &key, &access, log).await
        }
    }

    async fn post_modern(
        &self,
        vs: &Arc<VirtualServer>,
        req: &Request<()>,
        msg: Message,
        principal_key: String,
        access: &Access,
        log: &mut AccessRecord,
    ) -> Response<Body> {
        let kind = msg.kind().ok();
        if kind != Some(Kind::Request) {
            // Modern clients send no notifications or responses over HTTP
            // (cancellation is closing the stream); accept and drop them.
            return status_only(StatusCode::ACCEPTED);
        }
        let method = msg.method.clone().unwrap_or_default();
        let params = match ParamsView::parse(msg.params.as_deref()) {
            Ok(p) => p,
            Err(r) => {
                let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
                return rpc_error(status, msg.id, r.code, r.message, r.data);
            }
        };
        if let Err(r) = validate_request(req.headers(), &method, &params) {
            log.outcome = "header_mismatch";
            return rpc_error(
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
                msg.id,
                r.code,
                r.message,
                r.data,
            );
        }
        if REMOVED_IN_MODERN.contains(&method.as_str()) {
            log.outcome = "method_not_found";
            return rpc_error(StatusCode::NOT_FOUND, msg.id, code::METHOD_NOT_FOUND, "Method not found", None);
        }
        let caps = params.capabilities();
        let param_headers = req
            .headers()
            .iter()
            .filter(|(k, _)| k.as_str().starts_with(header::PARAM_PREFIX))
            .take(64)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let wants_logs = params.wants_logs();
        drop(params);
        let caller = Caller::Modern { client_capabilities: caps, param_headers, wants_logs, principal: principal_key };
        let method = msg.method.clone();
        let outcome = vs.handle(&caller, access, msg).await;
        self.respond(outcome, true, method.as_deref(), log)
    }

    async fn post_legacy(
        &self,
        vs: &Arc<VirtualServer>,
        req: &Request<()>,
        msg: Message,
        principal_key: &str,
        access: &Access,
        log: &mut AccessRecord,
    ) -> Response<Body> {
        if msg.method.as_deref() == Some("initialize") && msg.kind().ok() == Some(Kind::Request) {
            let params: Map<String, Value> = msg.params_object().unwrap_or_default();
            let (mut state, result) = vs.initialize(&params, access).await;
            state.principal = principal_key.to_string();
            let sid = self.sealer.seal(&state);
            let body = match crate::mcp::jsonrpc::to_raw(&result) {
                Some(r) => Message::response(msg.id, r).to_bytes(),
                None => Message::error(msg.id, code::INTERNAL_ERROR, "Internal error", None).to_bytes(),
            };
            let mut r = json_response(StatusCode::OK, body);
            if let Ok(v) = HeaderValue::from_str(&sid) {
                r.headers_mut().insert(header::SESSION_ID, v);
            }
            return r;
        }
        if let Some(v) = header_str(req, header::PROTOCOL_VERSION)
            && !is_legacy_version(v)
        {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                msg.id,
                code::INVALID_REQUEST,
                "Unsupported protocol version",
                None,
            );
        }
        let state = match self.session(vs, req, principal_key) {
            Ok(Some(s)) => s,
            Ok(None) => {
                log.outcome = "missing_session";
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    msg.id,
                    code::INVALID_REQUEST,
                    "Mcp-Session-Id header is required",
                    None,
                );
            }
            Err(r) => {
                log.outcome = "unknown_session";
                return r.response();
            }
        };
        let method = msg.method.clone();
        let outcome = vs.handle(&Caller::Legacy(state), access, msg).await;
        self.respond(outcome, false, method.as_deref(), log)
    }

    fn respond(&self, outcome: Outcome, modern: bool, method: Option<&str>, log: &mut AccessRecord) -> Response<Body> {
        match outcome {
            Outcome::Accepted => status_only(StatusCode::ACCEPTED),
            Outcome::StepUp { id, scopes } => {
                let name = log.name.clone();
                self.gate.step_up(self.listener, scopes, method, name.as_deref(), id, log)
            }
            Outcome::Response(m) => {
                let code = m.error_code();
                let status = match code {
                    Some(c) if modern => modern_error_status(c),
                    _ => StatusCode::OK,
                };
                if let Some(c) = code {
                    log.outcome = match c {
                        crate::mcp::jsonrpc::code::BACKEND_ERROR => "backend_error",
                        crate::mcp::jsonrpc::code::FORBIDDEN => "policy_denied",
                        _ => "rpc_error",
                    };
                }
                json_response(status, m.to_bytes())
            }
            Outcome::Stream(rx) => sse_response(rx),
        }
    }
}

/// The request's surroundings for policy: time, client address, era, and
/// the headers the virtual server's policy schema exposes (nothing is copied
/// when it exposes none).
fn policy_context(vs: &VirtualServer, req: &Request<()>, era: &str) -> crate::policy::RequestContext {
    let mut ctx = crate::mcp::virtual_server::now_context();
    // Also for transaction tokens (`rctx.req_ip`).
    ctx.client_address = req.extensions().get::<Arc<crate::auth::ConnInfo>>().and_then(|c| c.peer).map(|a| a.ip());
    let Some(policy) = vs.config.policy.as_ref() else { return ctx };
    ctx.era = era.to_string();
    if let Some(engine) = &policy.engine {
        for name in &engine.extensions().headers {
            if let Some(v) = req.headers().get(name.as_str()).and_then(|v| v.to_str().ok()) {
                ctx.headers.insert(name.clone(), v.chars().take(1024).collect());
            }
        }
    }
    ctx
}

/// A session id Warden cannot use.
struct UnknownSession;

impl UnknownSession {
    fn response(self) -> Response<Body> {
        rpc_error(StatusCode::NOT_FOUND, None, code::INVALID_REQUEST, "Session not found", None)
    }
}

/// The HTTP status a modern-era JSON-RPC error travels with (2026-07-28).
fn modern_error_status(c: i64) -> StatusCode {
    match c {
        code::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        code::HEADER_MISMATCH | code::MISSING_CAPABILITY | code::UNSUPPORTED_VERSION => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    }
}

/// 429 with `Retry-After` and a JSON-RPC error naming the wait (no rule internals).
fn rate_limited(id: Option<crate::mcp::jsonrpc::Id>, retry_after_secs: u64) -> Response<Body> {
    let data = serde_json::json!({ "retryAfterSeconds": retry_after_secs });
    let mut r = rpc_error(StatusCode::TOO_MANY_REQUESTS, id, code::RATE_LIMITED, "Rate limit exceeded", Some(data));
    if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
        r.headers_mut().insert(http::header::RETRY_AFTER, v);
    }
    r
}

fn method_not_allowed() -> Response<Body> {
    let mut r = status_only(StatusCode::METHOD_NOT_ALLOWED);
    r.headers_mut().insert(http::header::ALLOW, HeaderValue::from_static("POST"));
    r
}

fn sse_response(rx: tokio::sync::mpsc::Receiver<crate::mcp::virtual_server::ClientEvent>) -> Response<Body> {
    let mut r = Response::new(BodyExt::boxed_unsync(sse::sse_body(rx)));
    let h = r.headers_mut();
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}
