//! A deliberately small MCP client over raw HTTP, for asserting on the wire:
//! status codes, headers, SSE events, both eras.

use serde_json::{Value, json};

/// One HTTP exchange's outcome.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// JSON-RPC messages in the body (one for JSON, all events for SSE).
    pub messages: Vec<Value>,
    /// SSE event ids seen.
    pub event_ids: Vec<String>,
    /// Whether the body was SSE.
    pub sse: bool,
}

impl Reply {
    /// The last message (the response, normally).
    pub fn last(&self) -> &Value {
        self.messages.last().unwrap_or(&Value::Null)
    }

    /// `result` of the last message.
    pub fn result(&self) -> &Value {
        &self.last()["result"]
    }

    /// Messages whose method is `m`.
    pub fn notifications(&self, m: &str) -> Vec<&Value> {
        self.messages.iter().filter(|v| v["method"] == m).collect()
    }
}

/// Parses an SSE body into (messages, event ids).
pub fn parse_sse(body: &str) -> (Vec<Value>, Vec<String>) {
    let mut msgs = Vec::new();
    let mut ids = Vec::new();
    for event in body.replace("\r\n", "\n").split("\n\n") {
        let mut data = String::new();
        for line in event.lines() {
            if let Some(d) = line.strip_prefix("data:") {
                data.push_str(d.trim_start());
            } else if let Some(id) = line.strip_prefix("id:") {
                ids.push(id.trim().to_string());
            }
        }
        if !data.trim().is_empty()
            && let Ok(v) = serde_json::from_str(&data)
        {
            msgs.push(v);
        }
    }
    (msgs, ids)
}

/// A test client bound to one MCP endpoint URL.
#[derive(Clone)]
pub struct McpClient {
    /// HTTP client.
    pub http: reqwest::Client,
    /// Endpoint URL.
    pub url: String,
    /// Legacy session id, once initialized.
    pub session: Option<String>,
    next: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl McpClient {
    /// A client for `url` (no session yet).
    pub fn new(url: &str) -> McpClient {
        McpClient {
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            url: url.to_string(),
            session: None,
            next: Default::default(),
        }
    }

    fn id(&self) -> i64 {
        self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
    }

    /// POSTs a raw body with extra headers.
    pub async fn post_raw(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> Reply {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.body(body).send().await.expect("request");
        Self::read(resp).await
    }

    /// Reads a response fully.
    pub async fn read(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let sse = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"));
        let text = resp.text().await.unwrap_or_default();
        let (messages, event_ids) = if sse {
            parse_sse(&text)
        } else {
            (serde_json::from_str::<Value>(&text).map(|v| vec![v]).unwrap_or_default(), vec![])
        };
        Reply { status, headers, messages, event_ids, sse }
    }

    /// Legacy `initialize` + `notifications/initialized`; keeps the session id.
    pub async fn initialize(&mut self, capabilities: Value) -> Reply {
        let body = json!({"jsonrpc": "2.0", "id": self.id(), "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": capabilities,
            "clientInfo": {"name": "warden-tests", "version": "1"}}});
        let r = self.post_raw(serde_json::to_vec(&body).unwrap(), &[]).await;
        self.session = r.headers.get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let n = self.post_raw(serde_json::to_vec(&note).unwrap(), &[("mcp-protocol-version", "2025-11-25")]).await;
        assert_eq!(n.status, 202, "initialized notification");
        r
    }

    /// A legacy request inside the session.
    pub async fn request(&self, method: &str, params: Value) -> Reply {
        let body = json!({"jsonrpc": "2.0", "id": self.id(), "method": method, "params": params});
        self.post_raw(serde_json::to_vec(&body).unwrap(), &[("mcp-protocol-version", "2025-11-25")]).await
    }

    /// A modern (2026-07-28) request with correct headers and `_meta`.
    pub async fn modern(&self, method: &str, params: Value) -> Reply {
        self.modern_with_meta(method, params, json!({})).await
    }

    /// A modern request whose `_meta` also carries `extra` keys.
    pub async fn modern_with_meta(&self, method: &str, mut params: Value, extra: Value) -> Reply {
        let mut meta = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        });
        if let (Some(m), Some(e)) = (meta.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        params["_meta"] = meta;
        let name = params.get("name").or_else(|| params.get("uri")).and_then(Value::as_str).map(str::to_string);
        let body = json!({"jsonrpc": "2.0", "id": self.id(), "method": method, "params": params});
        let mut headers = vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", method)];
        if let Some(n) = name.as_deref()
            && matches!(method, "tools/call" | "prompts/get" | "resources/read")
        {
            headers.push(("mcp-name", n));
        }
        let client = McpClient { session: None, ..self.clone() };
        client.post_raw(serde_json::to_vec(&body).unwrap(), &headers).await
    }

    /// Starts a legacy POST and returns the open response, to read its SSE
    /// stream chunk by chunk.
    pub async fn post_streaming(&self, body: &Value) -> reqwest::Response {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25");
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        req.body(serde_json::to_vec(body).unwrap()).send().await.expect("request")
    }

    /// Names in a `tools/list`-style result under `key`.
    pub fn names(reply: &Reply, key: &str, field: &str) -> Vec<String> {
        reply.result()[key]
            .as_array()
            .map(|a| a.iter().filter_map(|t| t[field].as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }
}

/// Reads an open SSE response incrementally, for tests that must act in the
/// middle of a stream (answer a server-to-client request, then wait for the
/// result).
pub struct SseReader {
    resp: reqwest::Response,
    buf: String,
}

impl SseReader {
    /// Wraps an open response.
    pub fn new(resp: reqwest::Response) -> SseReader {
        SseReader { resp, buf: String::new() }
    }

    /// The first message so far or still to come that satisfies `pred`;
    /// panics after 10 s or when the stream ends first.
    pub async fn next_matching(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        let wait = async {
            loop {
                if let Some(m) = parse_sse(&self.buf).0.into_iter().find(|m| pred(m)) {
                    return m;
                }
                let chunk = self.resp.chunk().await.unwrap().expect("stream ended before the expected message");
                self.buf.push_str(&String::from_utf8_lossy(&chunk));
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), wait).await.expect("expected message within 10 s")
    }
}
