//! The `notes` demo: a small in-memory note store with tools, resources,
//! a resource template and a prompt. Adding a note announces
//! `notifications/resources/list_changed`.

use std::collections::BTreeMap;

use futures::FutureExt;
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::{Demo, DemoError, Notifier, not_found, text_result, tool_error};
use crate::mcp::jsonrpc::code;

pub(crate) struct Notes {
    notes: Mutex<BTreeMap<String, String>>,
}

impl Default for Notes {
    fn default() -> Self {
        let mut m = BTreeMap::new();
        m.insert("welcome".to_string(), "Warden fronts your MCP servers. Try the notes__add_note tool.".to_string());
        Notes { notes: Mutex::new(m) }
    }
}

const MAX_NOTES: usize = 1000;
const MAX_TEXT: usize = 16 * 1024;

fn valid_title(t: &str) -> bool {
    !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Notes {
    fn tools() -> Value {
        json!({"tools": [
            {
                "name": "add_note",
                "title": "Add a note",
                "description": "Stores a note under a title (letters, digits, - and _; at most 64).",
                "inputSchema": {"type": "object", "properties": {
                    "title": {"type": "string"}, "text": {"type": "string"}
                }, "required": ["title", "text"]},
                "annotations": {"readOnlyHint": false, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false}
            },
            {
                "name": "search_notes",
                "title": "Search notes",
                "description": "Lists the titles of notes whose text contains the query (case-insensitive).",
                "inputSchema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
                "annotations": {"readOnlyHint": true, "openWorldHint": false}
            }
        ]})
    }

    async fn call(&self, params: Value, notify: Notifier) -> Result<Value, DemoError> {
        let name = params.get("name").and_then(Value::as_str).unwrap_or_default();
        let args = params.get("arguments").cloned().unwrap_or(json!({}));
        match name {
            "add_note" => {
                let (Some(title), Some(text)) =
                    (args.get("title").and_then(Value::as_str), args.get("text").and_then(Value::as_str))
                else {
                    return Ok(tool_error("`title` and `text` must be strings"));
                };
                if !valid_title(title) || text.len() > MAX_TEXT {
                    return Ok(tool_error("invalid title or text too long"));
                }
                let added = {
                    let mut notes = self.notes.lock();
                    if notes.len() >= MAX_NOTES && !notes.contains_key(title) {
                        return Ok(tool_error("the note store is full"));
                    }
                    notes.insert(title.to_string(), text.to_string()).is_none()
                };
                if added {
                    notify.notify("notifications/resources/list_changed", json!({})).await;
                }
                Ok(text_result(format!("saved note://{title}")))
            }
            "search_notes" => {
                let q = args.get("query").and_then(Value::as_str).unwrap_or_default().to_lowercase();
                let hits: Vec<String> = self
                    .notes
                    .lock()
                    .iter()
                    .filter(|(_, t)| t.to_lowercase().contains(&q))
                    .map(|(k, _)| k.clone())
                    .collect();
                Ok(text_result(if hits.is_empty() { "no match".to_string() } else { hits.join("\n") }))
            }
            other => Err((code::INVALID_PARAMS, format!("unknown tool: {other}"))),
        }
    }

    /// Lists notes as resources, `PAGE` at a time (the cursor is the offset),
    /// so that clients and Warden exercise MCP pagination.
    fn resources(&self, params: &Value) -> Result<Value, DemoError> {
        const PAGE: usize = 10;
        let start = match params.get("cursor").and_then(Value::as_str) {
            None => 0,
            Some(c) => c.parse::<usize>().map_err(|_| (code::INVALID_PARAMS, "invalid cursor".to_string()))?,
        };
        let notes = self.notes.lock();
        let list: Vec<Value> = notes
            .keys()
            .skip(start)
            .take(PAGE)
            .map(|k| json!({"uri": format!("note://{k}"), "name": k, "mimeType": "text/plain"}))
            .collect();
        let mut out = json!({"resources": list});
        if start + PAGE < notes.len() {
            out["nextCursor"] = json!((start + PAGE).to_string());
        }
        Ok(out)
    }

    fn read(&self, params: &Value) -> Result<Value, DemoError> {
        let uri = params.get("uri").and_then(Value::as_str).unwrap_or_default();
        let title = uri.strip_prefix("note://").unwrap_or_default();
        match self.notes.lock().get(title) {
            Some(text) => Ok(json!({"contents": [{"uri": uri, "mimeType": "text/plain", "text": text}]})),
            None => Err((code::RESOURCE_NOT_FOUND, format!("no such note: {uri}"))),
        }
    }

    fn prompt(&self, params: &Value) -> Result<Value, DemoError> {
        match params.get("name").and_then(Value::as_str) {
            Some("summarize_notes") => {
                let style = params.pointer("/arguments/style").and_then(Value::as_str).unwrap_or("brief");
                let all: Vec<String> = self.notes.lock().iter().map(|(k, v)| format!("- {k}: {v}")).collect();
                Ok(json!({
                    "description": "Summarize the stored notes",
                    "messages": [{"role": "user", "content": {"type": "text",
                        "text": format!("Summarize these notes in a {style} style:\n{}", all.join("\n"))}}]
                }))
            }
            other => Err((code::INVALID_PARAMS, format!("unknown prompt: {}", other.unwrap_or("")))),
        }
    }
}

impl Demo for Notes {
    fn server_name(&self) -> &'static str {
        "warden-demo-notes"
    }
    fn instructions(&self) -> &'static str {
        "Demo backend: store and search short notes; each note is a resource note://TITLE."
    }
    fn capabilities(&self) -> Value {
        json!({"tools": {}, "resources": {"listChanged": true}, "prompts": {}, "logging": {}})
    }
    fn handle<'a>(
        &'a self,
        method: &'a str,
        params: Value,
        notify: Notifier,
    ) -> futures::future::BoxFuture<'a, Result<Value, DemoError>> {
        async move {
            match method {
                "tools/list" => Ok(Self::tools()),
                "tools/call" => self.call(params, notify).await,
                "resources/list" => self.resources(&params),
                "resources/templates/list" => Ok(json!({"resourceTemplates": [
                    {"uriTemplate": "note://{title}", "name": "note", "description": "A note by title", "mimeType": "text/plain"}
                ]})),
                "resources/read" => self.read(&params),
                "prompts/list" => Ok(json!({"prompts": [{
                    "name": "summarize_notes",
                    "description": "Asks the model to summarize every stored note.",
                    "arguments": [{"name": "style", "description": "brief or detailed", "required": false}]
                }]})),
                "prompts/get" => self.prompt(&params),
                other => Err(not_found(other)),
            }
        }
        .boxed()
    }
}
