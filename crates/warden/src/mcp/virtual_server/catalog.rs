//! The tool catalog: the latest definition of every tool, by the name clients
//! use, kept for policy (annotations and input schema type the call) and for
//! pinning (the definition's hash against the approved one).
//!
//! Filled by every `tools/list` Warden merges; a `tools/call` for a tool the
//! catalog does not know, or knows for longer than [`FRESH_FOR`], lists that
//! backend's tools first (one listing at a time per backend). A tool the
//! backend does not list is unknown, and a listing that fails fails the call:
//! Warden never decides on a definition it has not seen.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use serde_json::Value;

use crate::pinning::{PinVerdict, PinningSettings};

/// How long a definition is trusted for a call without listing again.
pub const FRESH_FOR: Duration = Duration::from_secs(60);

/// Most tools remembered per virtual server.
const MAX_TOOLS: usize = 20_000;

/// One tool as last listed.
#[derive(Debug)]
pub struct CatalogTool {
    /// Backend name.
    pub backend: String,
    /// The tool's `annotations` (or `Null`).
    pub annotations: Value,
    /// The tool's `inputSchema` (or `Null`).
    pub input_schema: Value,
    /// The pin verdict (`None` without pinning).
    pub pin: Option<PinVerdict>,
    /// Whether pinning lets the tool be offered and called.
    pub served: bool,
}

#[derive(Default)]
struct Entry {
    tools: HashMap<String, Arc<CatalogTool>>,
    /// When each backend (by index) was last listed completely.
    listed: HashMap<usize, Instant>,
}

/// The tool catalog of one virtual server.
#[derive(Default)]
pub struct Catalog {
    inner: RwLock<Entry>,
    /// One refresh per backend at a time.
    refreshing: parking_lot::Mutex<HashMap<usize, Arc<tokio::sync::Mutex<()>>>>,
}

impl Catalog {
    /// The tool `name` if its backend was listed less than [`FRESH_FOR`] ago:
    /// `Some(None)` when the fresh listing does not have it, `None` when a
    /// listing is needed.
    pub fn lookup(&self, name: &str, backend: usize) -> Option<Option<Arc<CatalogTool>>> {
        let e = self.inner.read();
        let fresh = e.listed.get(&backend).is_some_and(|t| t.elapsed() < FRESH_FOR);
        fresh.then(|| e.tools.get(name).cloned())
    }

    /// The tool `name`, however old (for list filtering right after a listing).
    pub fn get(&self, name: &str) -> Option<Arc<CatalogTool>> {
        self.inner.read().tools.get(name).cloned()
    }

    /// The lock serializing listings of backend `backend`.
    pub fn refresh_lock(&self, backend: usize) -> Arc<tokio::sync::Mutex<()>> {
        self.refreshing.lock().entry(backend).or_default().clone()
    }

    /// Replaces backend `index`'s tools with a complete listing: pairs of
    /// (name clients use, definition as the backend sent it).
    pub fn replace(
        &self,
        index: usize,
        backend: &str,
        tools: Vec<(String, &Value)>,
        pinning: Option<&PinningSettings>,
        on_changed: &dyn Fn(&str, &PinVerdict),
    ) {
        let mut fresh = HashMap::with_capacity(tools.len());
        // Verdicts already reported, so a change is alerted once, not at every listing.
        let before: HashMap<String, Option<PinVerdict>> = {
            let e = self.inner.read();
            tools.iter().filter_map(|(n, _)| e.tools.get(n).map(|t| (n.clone(), t.pin.clone()))).collect()
        };
        for (name, def) in tools {
            let pin = pinning.map(|s| crate::pinning::verdict(s, &name, def));
            let served = match (&pin, pinning) {
                (Some(v), Some(s)) => crate::pinning::is_served(s, v),
                _ => true,
            };
            if let Some(v @ PinVerdict::Changed { .. }) = &pin
                && before.get(&name) != Some(&pin)
            {
                on_changed(&name, v);
            }
            let tool = CatalogTool {
                backend: backend.to_string(),
                annotations: def.get("annotations").cloned().unwrap_or(Value::Null),
                input_schema: def.get("inputSchema").cloned().unwrap_or(Value::Null),
                pin,
                served,
            };
            fresh.insert(name, Arc::new(tool));
        }
        let mut e = self.inner.write();
        e.tools.retain(|_, t| t.backend != backend);
        if e.tools.len() + fresh.len() > MAX_TOOLS {
            e.tools.clear();
            e.listed.clear();
        }
        e.tools.extend(fresh);
        e.listed.insert(index, Instant::now());
    }

    /// How many known tools pinning blocks.
    pub fn blocked(&self) -> usize {
        self.inner.read().tools.values().filter(|t| !t.served).count()
    }
}
