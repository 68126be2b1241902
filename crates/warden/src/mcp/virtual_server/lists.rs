//! Merged lists: every backend asked at once, every page fetched, names
//! prefixed and curated. A backend that fails or times out is left out and
//! named in `_meta["dev.warden/unavailableBackends"]`; it never fails the list.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::rewrite::{expose_item, exposed_tool_name, list_key};
use super::{Access, BackendHandle, Caller, Outcome, RouteError, VirtualServer};
use crate::mcp::jsonrpc::{Id, Message, code, to_raw};
use crate::mcp::upstream::http::final_response;
use crate::mcp::upstream::{CallContext, UpstreamError};

/// Most pages fetched from one backend for one list.
const MAX_PAGES: usize = 100;
/// `_meta` key naming backends missing from a merged list.
pub const META_UNAVAILABLE: &str = "dev.warden/unavailableBackends";

/// The capability a list method needs.
pub fn capability_of(method: &str) -> &'static str {
    match method {
        "tools/list" | "tools/call" => "tools",
        "prompts/list" | "prompts/get" => "prompts",
        _ => "resources",
    }
}

pub(super) struct Page {
    pub(super) items: Vec<Value>,
    ttl_ms: Option<u64>,
    public: bool,
}

impl VirtualServer {
    /// Whether backend `b` (as last probed) offers `capability`. Unknown
    /// backends are asked anyway.
    fn offers(b: &BackendHandle, capability: &str) -> bool {
        match b.info() {
            Some(info) => info.get("capabilities").and_then(|c| c.get(capability)).is_some(),
            None => true,
        }
    }

    pub(super) async fn list(
        &self,
        caller: &Caller,
        access: &Access,
        method: &str,
        id: Option<Id>,
        permitted_by: Vec<String>,
    ) -> Result<Outcome, RouteError> {
        let capability = capability_of(method);
        let asked: Vec<&Arc<BackendHandle>> = self.backends.iter().filter(|b| Self::offers(b, capability)).collect();
        if asked.is_empty() {
            return Err(RouteError::MethodNotFound(method.to_string()));
        }
        let results =
            futures::future::join_all(asked.iter().map(|b| self.list_backend_as(caller, Some(access), b, method)))
                .await;
        let key = list_key(method);
        let mut items = Vec::new();
        let mut unavailable = Vec::new();
        let mut ttl: Option<u64> = None;
        let mut public = true;
        for (b, r) in asked.iter().zip(results) {
            match r {
                Ok(page) => {
                    if method == "tools/list" {
                        self.record_tools(b, &page.items);
                    }
                    for item in page.items {
                        if let Some(v) = expose_item(method, item, self.naming, &b.name, &self.config.curation) {
                            items.push((b.name.clone(), v));
                        }
                    }
                    ttl = Some(ttl.map_or(page.ttl_ms.unwrap_or(0), |t| t.min(page.ttl_ms.unwrap_or(0))));
                    public &= page.public;
                }
                Err(e) => {
                    tracing::warn!(error = %e, backend = %b.name, method, "backend left out of merged list");
                    unavailable.push(b.name.clone());
                    public = false;
                }
            }
        }
        if self.authz().is_some() {
            // What is shown depends on who asks: never a shared cache entry.
            public = false;
        }
        let items = self.filter_list(access, method, permitted_by, items).await;
        let mut result = Map::new();
        result.insert(key.into(), Value::Array(items));
        if !unavailable.is_empty() {
            result.insert("_meta".into(), json!({ META_UNAVAILABLE: unavailable }));
        }
        if caller.is_modern() {
            result.insert("resultType".into(), json!("complete"));
            result.insert("ttlMs".into(), json!(if unavailable.is_empty() { ttl.unwrap_or(0) } else { 0 }));
            result.insert("cacheScope".into(), json!(if public { "public" } else { "private" }));
        }
        Ok(Outcome::Response(match to_raw(&result) {
            Some(r) => Message::response(id, r),
            None => Message::error(id, code::INTERNAL_ERROR, "Internal error", None),
        }))
    }

    /// Lists one backend for Warden itself (catalog refresh, pinning): only
    /// a static credential is sent, since no principal's call is behind it.
    pub(super) async fn list_backend(
        &self,
        caller: &Caller,
        b: &Arc<BackendHandle>,
        method: &str,
    ) -> Result<Page, RouteError> {
        self.list_backend_as(caller, None, b, method).await
    }

    /// Lists one backend, as `access` when it is a client's call.
    pub(super) async fn list_backend_as(
        &self,
        caller: &Caller,
        access: Option<&Access>,
        b: &Arc<BackendHandle>,
        method: &str,
    ) -> Result<Page, RouteError> {
        let mut ctx = self.call_context_as(caller, b, access).await?;
        if let Some(access) = access {
            self.upstream_auth(&mut ctx, b, access, method, None).await?;
        }
        let key = list_key(method);
        let mut page = Page { items: Vec::new(), ttl_ms: None, public: true };
        let mut cursor: Option<String> = None;
        let mut retried = false;
        let mut pages = 0;
        while pages < MAX_PAGES {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let msg = Message::request(self.upstream_id(), method, to_raw(&params));
            let reply = async {
                let r = b.upstream.send(&ctx, msg).await?;
                final_response(r).await
            };
            let resp = match tokio::time::timeout(b.timeout, reply).await.unwrap_or(Err(UpstreamError::Timeout)) {
                Err(UpstreamError::SessionExpired) if !retried => {
                    retried = true;
                    let fresh = match caller {
                        Caller::Legacy(state) => {
                            CallContext { session: Some(self.reopen(state, b, access).await?), ..Default::default() }
                        }
                        Caller::Modern { .. } => {
                            b.drop_shared_session().await;
                            self.call_context_as(caller, b, access).await?
                        }
                    };
                    ctx = CallContext { session: fresh.session, ..ctx };
                    continue;
                }
                other => other.map_err(|e| b.error(e))?,
            };
            pages += 1;
            if resp.error_code() == Some(code::METHOD_NOT_FOUND) {
                return Ok(page);
            }
            let Some(result) = resp.result else {
                return Err(b.error(UpstreamError::Protocol(format!("{method} failed"))));
            };
            let mut obj: Map<String, Value> =
                serde_json::from_str(result.get()).map_err(|e| b.error(UpstreamError::Protocol(e.to_string())))?;
            if let Some(Value::Array(items)) = obj.remove(key) {
                page.items.extend(items);
            }
            if let Some(t) = obj.get("ttlMs").and_then(Value::as_u64) {
                page.ttl_ms = Some(page.ttl_ms.map_or(t, |p| p.min(t)));
            }
            page.public &= obj.get("cacheScope").and_then(Value::as_str) == Some("public");
            cursor = obj.get("nextCursor").and_then(Value::as_str).map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        Ok(page)
    }

    /// Every tool each backend lists now, as (name clients use, backend,
    /// definition as the backend sent it): what `warden tools pin` approves.
    /// A backend that cannot be listed is an error naming it.
    pub async fn tool_definitions(&self) -> Result<Vec<(String, String, Value)>, String> {
        let caller = Caller::Modern {
            client_capabilities: json!({}),
            param_headers: Vec::new(),
            wants_logs: false,
            principal: String::new(),
        };
        let mut out = Vec::new();
        for b in &self.backends {
            if !Self::offers(b, "tools") {
                continue;
            }
            let page = self.list_backend(&caller, b, "tools/list").await.map_err(|e| e.to_string())?;
            for item in page.items {
                let name = item.get("name").and_then(Value::as_str);
                if let Some(name) = name.and_then(|n| exposed_tool_name(n, self.naming, &b.name, &self.config.curation))
                {
                    out.push((name, b.name.clone(), item));
                }
            }
        }
        Ok(out)
    }
}
