//! `initialize` (legacy clients) and `server/discover` (modern clients):
//! the virtual server describes itself as the merge of its backends.

use serde_json::{Map, Value, json};

use super::{Access, VirtualServer};
use crate::mcp::jsonrpc::{Id, Message, code, to_raw};
use crate::mcp::protocol::{LEGACY_LATEST, META_SERVER_INFO, SUPPORTED_VERSIONS, is_legacy_version};
use crate::mcp::session::{SessionState, now_secs, random_id};
use crate::mcp::upstream::UpstreamError;

/// Merges backend capabilities: a feature is offered when any backend offers
/// it; `listChanged` and `subscribe` likewise.
pub fn merge_capabilities(infos: &[Value]) -> Value {
    let mut out = Map::new();
    for info in infos {
        let Some(caps) = info.get("capabilities").and_then(Value::as_object) else {
            continue;
        };
        for key in ["tools", "prompts", "resources", "logging", "completions"] {
            let Some(c) = caps.get(key) else { continue };
            let entry = out.entry(key).or_insert_with(|| json!({}));
            for flag in ["listChanged", "subscribe"] {
                if c.get(flag).and_then(Value::as_bool) == Some(true)
                    && let Some(e) = entry.as_object_mut()
                {
                    e.insert(flag.into(), Value::Bool(true));
                }
            }
        }
    }
    Value::Object(out)
}

impl VirtualServer {
    fn server_info(&self) -> Value {
        json!({"name": format!("warden/{}", self.config.name), "title": "Warden MCP gateway", "version": env!("CARGO_PKG_VERSION")})
    }

    fn instructions(&self, infos: &[(String, Value)]) -> Option<String> {
        if let Some(i) = &self.config.instructions {
            return Some(i.clone());
        }
        let parts: Vec<String> = infos
            .iter()
            .filter_map(|(name, info)| {
                let text = info.get("instructions")?.as_str()?;
                Some(if self.backends.len() > 1 { format!("[{name}] {text}") } else { text.to_string() })
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("\n\n"))
    }

    async fn backend_infos(&self) -> Vec<(String, Value)> {
        // Backends never probed yet are probed now, all at once.
        let unprobed = self.backends.iter().filter(|b| b.info().is_none()).map(|b| b.probe());
        futures::future::join_all(unprobed).await;
        self.backends.iter().filter_map(|b| Some((b.name.clone(), b.info()?))).collect()
    }

    /// Serves a legacy `initialize`: opens a session on every backend that
    /// needs one (concurrently; a backend that fails is opened later, on first
    /// use) and returns the state to seal plus the merged result.
    pub async fn initialize(&self, params: &Map<String, Value>, access: &Access) -> (SessionState, Value) {
        let requested = params.get("protocolVersion").and_then(Value::as_str).unwrap_or(LEGACY_LATEST);
        let version = if is_legacy_version(requested) { requested } else { LEGACY_LATEST };
        let caps = params.get("capabilities").cloned().unwrap_or_else(|| json!({}));
        let opens = self
            .backends
            .iter()
            .filter(|b| b.upstream.session_mode(false) == crate::mcp::upstream::SessionMode::PerClient)
            .map(|b| {
                let caps = caps.clone();
                async move {
                    let cred = self.lookup_credential(b, access, super::credential::Count::None).await.ok().flatten();
                    (b.name.clone(), b.open_client_session(&caps, cred).await)
                }
            });
        let mut sessions = Vec::new();
        for (name, r) in futures::future::join_all(opens).await {
            match r {
                Ok(opened) => sessions.push(opened.session),
                Err(e) => {
                    tracing::warn!(backend = %name, error = %e, "backend session not opened at initialize")
                }
            }
        }
        let infos = self.backend_infos().await;
        let values: Vec<Value> = infos.iter().map(|(_, v)| v.clone()).collect();
        let mut result = json!({
            "protocolVersion": version,
            "capabilities": merge_capabilities(&values),
            "serverInfo": self.server_info(),
        });
        if let (Some(i), Some(obj)) = (self.instructions(&infos), result.as_object_mut()) {
            obj.insert("instructions".into(), Value::String(i));
        }
        let state = SessionState {
            id: random_id(),
            virtual_server: self.config.name.clone(),
            protocol_version: version.to_string(),
            issued_at: now_secs(),
            backends: sessions,
            client_capabilities: caps,
            principal: String::new(),
        };
        (state, result)
    }

    /// Serves `server/discover`.
    pub(super) async fn discover(&self, id: Option<Id>) -> Message {
        let infos = self.backend_infos().await;
        let values: Vec<Value> = infos.iter().map(|(_, v)| v.clone()).collect();
        let mut result = json!({
            "resultType": "complete",
            "supportedVersions": SUPPORTED_VERSIONS,
            "capabilities": merge_capabilities(&values),
            "ttlMs": 0,
            "cacheScope": "private",
            "_meta": { META_SERVER_INFO: self.server_info() },
        });
        if let (Some(i), Some(obj)) = (self.instructions(&infos), result.as_object_mut()) {
            obj.insert("instructions".into(), Value::String(i));
        }
        match to_raw(&result) {
            Some(r) => Message::response(id, r),
            None => Message::error(id, code::INTERNAL_ERROR, "Internal error", None),
        }
    }

    /// The merged capabilities as last probed (for routing decisions).
    pub fn capabilities(&self) -> Value {
        let values: Vec<Value> = self.backends.iter().filter_map(|b| b.info()).collect();
        merge_capabilities(&values)
    }

    /// Probes every backend once; returns how many answered.
    pub async fn probe_all(&self) -> usize {
        let rs = futures::future::join_all(self.backends.iter().map(|b| async move {
            let r = b.probe().await;
            if let Err(e) = &r {
                tracing::warn!(backend = %b.name, error = %e, "backend probe failed");
            }
            r
        }))
        .await;
        rs.iter().filter(|r: &&Result<(), UpstreamError>| r.is_ok()).count()
    }
}
