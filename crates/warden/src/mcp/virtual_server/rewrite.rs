//! Rewriting what backends return into what clients of the virtual server
//! see: prefixed names and URIs, curation, and modern-era result fields.

use serde_json::{Map, Value};

use crate::config::Curation;
use crate::mcp::names::Naming;
use crate::mcp::protocol::is_cacheable_method;

/// Adds the fields every modern result needs when a backend left them out:
/// `resultType` and, for lists and reads, `ttlMs: 0` / `cacheScope: private`
/// (the safe defaults: never served from a shared cache).
pub fn decorate_modern(result: &mut Map<String, Value>, method: &str) {
    result.entry("resultType").or_insert_with(|| Value::String("complete".into()));
    if is_cacheable_method(method) {
        result.entry("ttlMs").or_insert(Value::from(0));
        result.entry("cacheScope").or_insert_with(|| Value::String("private".into()));
    }
}

/// Whether a raw result needs [`decorate_modern`] (cheap textual test first).
pub fn needs_modern_decoration(raw: &str, method: &str) -> bool {
    !raw.contains("\"resultType\"") || (is_cacheable_method(method) && !raw.contains("\"cacheScope\""))
}

/// Prefixes resource URIs inside content blocks (tool results, prompt messages,
/// resource contents) so that the client can read them through Warden.
pub fn expose_content_uris(v: &mut Value, naming: Naming, backend: &str) {
    match v {
        Value::Object(map) => {
            let ty = map.get("type").and_then(Value::as_str).map(str::to_string);
            if ty.as_deref() == Some("resource_link")
                && let Some(Value::String(uri)) = map.get_mut("uri")
            {
                *uri = naming.expose_uri(backend, uri);
            }
            if ty.as_deref() == Some("resource")
                && let Some(Value::String(uri)) = map.get_mut("resource").and_then(|r| r.get_mut("uri"))
            {
                *uri = naming.expose_uri(backend, uri);
            }
            for key in ["content", "contents", "messages"] {
                if let Some(inner) = map.get_mut(key) {
                    if key == "contents"
                        && let Value::Array(items) = inner
                    {
                        for item in items.iter_mut() {
                            if let Some(Value::String(uri)) = item.get_mut("uri") {
                                *uri = naming.expose_uri(backend, uri);
                            }
                        }
                        continue;
                    }
                    expose_content_uris(inner, naming, backend);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                expose_content_uris(item, naming, backend);
            }
        }
        _ => {}
    }
}

/// The list key of a list method's result.
pub fn list_key(method: &str) -> &'static str {
    match method {
        "tools/list" => "tools",
        "prompts/list" => "prompts",
        "resources/list" => "resources",
        _ => "resourceTemplates",
    }
}

/// The name clients use for `backend`'s tool `name` (prefixed, renamed),
/// or `None` when curation hides it.
pub fn exposed_tool_name(name: &str, naming: Naming, backend: &str, curation: &Curation) -> Option<String> {
    let exposed = naming.expose_name(backend, name);
    if !curation.allows(&exposed) {
        return None;
    }
    Some(curation.rename.get(&exposed).cloned().unwrap_or(exposed))
}

/// Rewrites one list item from `backend` for the client; `None` hides it.
pub fn expose_item(method: &str, mut item: Value, naming: Naming, backend: &str, curation: &Curation) -> Option<Value> {
    let obj = item.as_object_mut()?;
    match method {
        "tools/list" => {
            let final_name = exposed_tool_name(obj.get("name")?.as_str()?, naming, backend, curation)?;
            if let Some(d) = curation.descriptions.get(&final_name) {
                obj.insert("description".into(), Value::String(d.clone()));
            }
            obj.insert("name".into(), Value::String(final_name));
        }
        "prompts/list" => {
            let name = obj.get("name")?.as_str()?;
            let exposed = naming.expose_name(backend, name);
            obj.insert("name".into(), Value::String(exposed));
        }
        "resources/list" => {
            let uri = obj.get("uri")?.as_str()?;
            let exposed = naming.expose_uri(backend, uri);
            obj.insert("uri".into(), Value::String(exposed));
        }
        _ => {
            let uri = obj.get("uriTemplate")?.as_str()?;
            let exposed = naming.expose_uri(backend, uri);
            obj.insert("uriTemplate".into(), Value::String(exposed));
        }
    }
    Some(item)
}

/// Resolves a client-visible tool name to `(backend index or None, original
/// name)`, honouring renames and refusing curated-out tools.
pub fn resolve_tool<'a>(name: &'a str, naming: Naming, curation: &'a Curation) -> Option<(Option<&'a str>, &'a str)> {
    if curation.rename.contains_key(name) && !curation.rename_back.contains_key(name) {
        // Renamed away: the old name is no longer visible.
        return None;
    }
    let exposed: &str = curation.rename_back.get(name).map(String::as_str).unwrap_or(name);
    if !curation.allows(exposed) {
        return None;
    }
    naming.split_name(exposed)
}
