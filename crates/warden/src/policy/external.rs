//! An external policy decision point (PDP), asked once per MCP request, after
//! the local Cedar policies.
//!
//! Two conventions are supported, both a single JSON `POST` to a configured URL:
//!
//! - **OPA** ([data API]): the body is `{"input": <input>}`, sent to a rule's
//!   URL such as `http://127.0.0.1:8181/v1/data/warden/allow`. A `200` answer
//!   `{"result": true|false}` or `{"result": {"allow": bool, "reason": "…"}}`
//!   decides; a body without `result` (OPA's answer for an undefined rule) is a
//!   deny, not an error. Any other status or shape is an error.
//! - **HTTP** (in the style of Envoy's [ext_authz] HTTP service): the body is
//!   the input document itself. Any `2xx` allows; `401` and `403` deny, with the
//!   reason taken from a JSON body's `reason` string when there is one. Any
//!   other status is an error.
//!
//! The input document ([`ExternalDecider::input`]):
//!
//! ```json
//! {
//!   "principal": { "kind": "user", "subject": "alice", "groups": [..], .. },
//!   "action": "tools/call",
//!   "resource": { "type": "Tool", "id": "hr__get_time_off", "backend": "hr",
//!                 "annotations": {..}, "labels": {..} },
//!   "context": { "args": {..} | null, "time": { "epoch": 1700000000 },
//!                "clientAddress": "10.0.0.7" | null, "era": "modern", "headers": {..} }
//! }
//! ```
//!
//! `resource.type` is `Tool`, `Resource` (its `id` is the URI, and it also has
//! a `name`), `Prompt` or `VirtualServer` (no `backend`, empty `labels`).
//!
//! Failures (connection refused, timeout, bad status, body over 64 KiB,
//! invalid JSON, unexpected shape) never pass silently: the decision follows
//! `on_error` (deny unless configured otherwise), carries the error text, and a
//! warning is logged (never with the configured header values). The timeout
//! covers the whole exchange. A `401`/`403` from an HTTP-style PDP is a deny
//! even if its body cannot be read in time: a failure never turns a deny into
//! an allow.
//!
//! Answers (allow and deny, never errors) may be cached for `cache_ttl`, keyed
//! by the SHA-256 of the input document without `context.time`, so that the
//! same caller making the same call within the TTL is not asked again. The
//! cache is bounded: when full, expired entries are dropped, and if it is still
//! full it is cleared. Concurrent identical misses each ask the PDP.
//!
//! Why hand-rolled: both conventions are a single JSON POST and a few lines of
//! answer parsing over the shared `reqwest` client; no crate implements them
//! (OPA's SDKs embed or manage OPA itself, and ext_authz clients are gRPC/Envoy
//! specific), and owning the code keeps the timeout, size cap, cache and
//! failure policy explicit.
//!
//! [data API]: https://www.openpolicyagent.org/docs/latest/rest-api/#get-a-document-with-input
//! [ext_authz]: https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/http/ext_authz/v3/ext_authz.proto

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use super::entities::{PolicyRequest, Target};

/// Largest PDP response body read, in bytes.
const MAX_BODY: usize = 64 * 1024;
/// Longest reason kept from a PDP answer, in characters.
const MAX_REASON: usize = 1024;

/// Validated settings of the external PDP.
#[derive(Clone)]
pub struct ExternalSettings {
    /// Where to POST (http or https).
    pub url: url::Url,
    /// Which convention the PDP speaks.
    pub style: ExternalStyle,
    /// Bound on the whole exchange.
    pub timeout: Duration,
    /// What to decide when the PDP fails.
    pub on_error: OnError,
    /// How long answers are reused; zero disables the cache.
    pub cache_ttl: Duration,
    /// Bound on the number of cached answers; zero disables the cache.
    pub max_cache_entries: usize,
    /// Extra request headers (e.g. `Authorization`); their values are never logged.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl fmt::Debug for ExternalSettings {
    // Header values may be credentials: only their names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalSettings")
            .field("url", &redacted_url(&self.url))
            .field("style", &self.style)
            .field("timeout", &self.timeout)
            .field("on_error", &self.on_error)
            .field("cache_ttl", &self.cache_ttl)
            .field("max_cache_entries", &self.max_cache_entries)
            .field("headers", &self.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

/// The PDP's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalStyle {
    /// OPA data API: `{"input": ..}` in, `{"result": ..}` out.
    Opa,
    /// ext_authz-like: the input in, the status out (2xx allow, 401/403 deny).
    Http,
}

/// The decision when the PDP fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Fail closed (default).
    Deny,
    /// Fail open.
    Allow,
}

/// The PDP's verdict on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalDecision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The PDP's reason, when it gave one.
    pub reason: Option<String>,
    /// Whether the answer came from the cache.
    pub cached: bool,
    /// Set when the PDP failed and `on_error` decided.
    pub error: Option<String>,
}

/// Why asking the PDP failed.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    /// The input could not be serialized.
    #[error("cannot serialize the input: {0}")]
    Serialize(#[source] serde_json::Error),
    /// The request could not be sent or the connection failed.
    #[error("request failed: {0}")]
    Request(#[source] reqwest::Error),
    /// No complete answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A status the protocol does not define.
    #[error("unexpected status {0}")]
    Status(u16),
    /// The body could not be read.
    #[error("cannot read the answer: {0}")]
    Body(#[source] reqwest::Error),
    /// The body exceeds the cap.
    #[error("answer larger than {MAX_BODY} bytes")]
    BodyTooLarge,
    /// The body is not JSON.
    #[error("answer is not JSON: {0}")]
    InvalidJson(#[source] serde_json::Error),
    /// The body is JSON of an unexpected shape.
    #[error("unexpected answer: {0}")]
    Shape(&'static str),
}

/// An allow or deny from the PDP (what the cache holds).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    allowed: bool,
    reason: Option<String>,
}

struct CacheEntry {
    answer: Answer,
    expires: Instant,
}

type CacheKey = [u8; 32];

/// Asks the external PDP, with a bounded answer cache.
pub struct ExternalDecider {
    settings: ExternalSettings,
    client: reqwest::Client,
    cache: Mutex<HashMap<CacheKey, CacheEntry>>,
}

impl fmt::Debug for ExternalDecider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalDecider").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl ExternalDecider {
    /// A decider for `settings`, sending with `client`.
    pub fn new(settings: ExternalSettings, client: reqwest::Client) -> ExternalDecider {
        ExternalDecider { settings, client, cache: Mutex::new(HashMap::new()) }
    }

    /// The JSON document sent to the PDP for `req` (see the module docs). Pure.
    pub fn input(req: &PolicyRequest) -> Value {
        let principal = crate::audit::principal_json(&req.principal);
        let labels = |l: &std::collections::BTreeMap<String, String>| {
            Value::Object(l.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
        };
        let resource = match &req.target {
            Target::Tool(t) => json!({
                "type": "Tool",
                "id": t.name,
                "backend": t.backend,
                "annotations": t.annotations,
                "labels": labels(&t.labels),
            }),
            Target::Resource(r) => json!({
                "type": "Resource",
                "id": r.uri,
                "name": r.name,
                "backend": r.backend,
                "labels": labels(&r.labels),
            }),
            Target::Prompt(p) => json!({
                "type": "Prompt",
                "id": p.name,
                "backend": p.backend,
                "labels": labels(&p.labels),
            }),
            Target::VirtualServer(name) => json!({
                "type": "VirtualServer",
                "id": name,
                "labels": {},
            }),
        };
        let headers: Map<String, Value> =
            req.context.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        json!({
            "principal": principal,
            "action": req.action,
            "resource": resource,
            "context": {
                "args": req.args,
                "time": { "epoch": req.context.epoch },
                "clientAddress": req.context.client_address.map(|a| a.to_string()),
                "era": req.context.era,
                "headers": headers,
            },
        })
    }

    /// Asks the PDP about `req` (or answers from the cache).
    pub async fn decide(&self, req: &PolicyRequest) -> ExternalDecision {
        let mut input = Self::input(req);
        let key = if self.caching() { cache_key(&mut input) } else { None };
        if let Some(k) = &key
            && let Some(answer) = self.lookup(k)
        {
            return ExternalDecision { allowed: answer.allowed, reason: answer.reason, cached: true, error: None };
        }
        match self.ask(&input).await {
            Ok(answer) => {
                if let Some(k) = key {
                    self.store(k, answer.clone());
                }
                ExternalDecision { allowed: answer.allowed, reason: answer.reason, cached: false, error: None }
            }
            Err(e) => {
                let allowed = self.settings.on_error == OnError::Allow;
                tracing::warn!(
                    pdp = %redacted_url(&self.settings.url),
                    style = ?self.settings.style,
                    action = %req.action,
                    principal = %req.principal.log_label(),
                    error = %e,
                    on_error = ?self.settings.on_error,
                    "external policy decision point failed"
                );
                ExternalDecision { allowed, reason: None, cached: false, error: Some(e.to_string()) }
            }
        }
    }

    fn caching(&self) -> bool {
        !self.settings.cache_ttl.is_zero() && self.settings.max_cache_entries > 0
    }

    fn lookup(&self, key: &CacheKey) -> Option<Answer> {
        let mut cache = self.cache.lock();
        let entry = cache.get(key)?;
        if entry.expires > Instant::now() {
            return Some(entry.answer.clone());
        }
        cache.remove(key);
        None
    }

    fn store(&self, key: CacheKey, answer: Answer) {
        let now = Instant::now();
        let Some(expires) = now.checked_add(self.settings.cache_ttl) else { return };
        let mut cache = self.cache.lock();
        if cache.len() >= self.settings.max_cache_entries && !cache.contains_key(&key) {
            cache.retain(|_, e| e.expires > now);
            if cache.len() >= self.settings.max_cache_entries {
                cache.clear();
            }
        }
        cache.insert(key, CacheEntry { answer, expires });
    }

    /// One exchange with the PDP, bounded by the timeout.
    async fn ask(&self, input: &Value) -> Result<Answer, ExternalError> {
        let s = &self.settings;
        let deadline = tokio::time::Instant::now() + s.timeout;
        let body = match s.style {
            ExternalStyle::Opa => serde_json::to_vec(&json!({ "input": input })),
            ExternalStyle::Http => serde_json::to_vec(input),
        }
        .map_err(ExternalError::Serialize)?;
        let mut request = self
            .client
            .post(s.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json");
        for (name, value) in &s.headers {
            let mut value = value.clone();
            value.set_sensitive(true);
            request = request.header(name.clone(), value);
        }
        let response = tokio::time::timeout_at(deadline, request.body(body).send())
            .await
            .map_err(|_| ExternalError::Timeout(s.timeout))?
            .map_err(|e| ExternalError::Request(e.without_url()))?;
        let status = response.status();
        match s.style {
            ExternalStyle::Opa => {
                if status != http::StatusCode::OK {
                    return Err(ExternalError::Status(status.as_u16()));
                }
                let body = tokio::time::timeout_at(deadline, read_capped(response))
                    .await
                    .map_err(|_| ExternalError::Timeout(s.timeout))??;
                opa_answer(&body)
            }
            ExternalStyle::Http => {
                if status.is_success() {
                    Ok(Answer { allowed: true, reason: None })
                } else if status == http::StatusCode::UNAUTHORIZED || status == http::StatusCode::FORBIDDEN {
                    // A deny stays a deny even when its body is unreadable.
                    let reason = match tokio::time::timeout_at(deadline, read_capped(response)).await {
                        Ok(Ok(body)) => serde_json::from_slice::<Value>(&body)
                            .ok()
                            .and_then(|v| v.get("reason").and_then(Value::as_str).map(bounded_reason)),
                        _ => None,
                    };
                    Ok(Answer { allowed: false, reason })
                } else {
                    Err(ExternalError::Status(status.as_u16()))
                }
            }
        }
    }
}

/// The cache key: SHA-256 of `input` without `context.time` (restored after).
fn cache_key(input: &mut Value) -> Option<CacheKey> {
    let context = input.get_mut("context").and_then(Value::as_object_mut)?;
    let time = context.remove("time");
    let bytes = serde_json::to_vec(&*input);
    if let (Some(time), Some(context)) = (time, input.get_mut("context").and_then(Value::as_object_mut)) {
        context.insert("time".into(), time);
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes.ok()?);
    CacheKey::try_from(digest.as_ref()).ok()
}

/// The response body, at most [`MAX_BODY`] bytes.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, ExternalError> {
    if response.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(ExternalError::BodyTooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| ExternalError::Body(e.without_url()))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ExternalError::BodyTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads an OPA data API answer.
fn opa_answer(body: &[u8]) -> Result<Answer, ExternalError> {
    let value: Value = serde_json::from_slice(body).map_err(ExternalError::InvalidJson)?;
    let object = value.as_object().ok_or(ExternalError::Shape("not a JSON object"))?;
    match object.get("result") {
        // An undefined rule: no decision, which is a deny.
        None => Ok(Answer { allowed: false, reason: Some("result undefined".into()) }),
        Some(Value::Bool(allowed)) => Ok(Answer { allowed: *allowed, reason: None }),
        Some(Value::Object(result)) => {
            let allowed = result
                .get("allow")
                .and_then(Value::as_bool)
                .ok_or(ExternalError::Shape("`result` is an object without a boolean `allow`"))?;
            let reason = result.get("reason").and_then(Value::as_str).map(bounded_reason);
            Ok(Answer { allowed, reason })
        }
        Some(_) => Err(ExternalError::Shape("`result` is neither a boolean nor an object")),
    }
}

/// A PDP reason, cut to [`MAX_REASON`] characters.
fn bounded_reason(reason: &str) -> String {
    reason.chars().take(MAX_REASON).collect()
}

/// The URL without credentials or query (for logs).
fn redacted_url(url: &url::Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

#[cfg(test)]
#[path = "external_tests.rs"]
mod tests;
