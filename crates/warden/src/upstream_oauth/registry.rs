//! Every live `oauthClient` backend by its stable id, so that the callback
//! (which only has `state`, prefixed with the id) finds its backend. Weak
//! references: a backend dropped at a configuration reload disappears.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Weak};

use parking_lot::RwLock;

use super::{OAuthClientCredential, UpstreamOAuthError};

/// The `oauthClient` backends of this process.
#[derive(Debug, Default)]
pub struct Registry(RwLock<HashMap<String, Weak<OAuthClientCredential>>>);

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);

/// The process-wide registry.
pub fn registry() -> &'static Registry {
    &REGISTRY
}

impl Registry {
    /// Registers `c` (replacing a previous backend with the same id).
    pub fn insert(&self, c: &Arc<OAuthClientCredential>) {
        let mut m = self.0.write();
        m.retain(|_, w| w.strong_count() > 0);
        m.insert(c.id().to_string(), Arc::downgrade(c));
    }

    /// The backend with `id`.
    pub fn get(&self, id: &str) -> Option<Arc<OAuthClientCredential>> {
        self.0.read().get(id).and_then(Weak::upgrade)
    }

    /// A live backend whose client metadata document is at `url` (the
    /// document depends only on that URL and its redirect URI, so any of
    /// them answers).
    pub fn by_metadata_url(&self, url: &str) -> Option<Arc<OAuthClientCredential>> {
        self.0.read().values().filter_map(Weak::upgrade).find(|c| c.client_metadata_url() == url)
    }

    /// Routes a callback query to the backend named in its `state`.
    pub async fn callback(&self, query: &str) -> Result<(), UpstreamOAuthError> {
        let form = crate::token::http::Form::parse(query.as_bytes());
        let state = form.one("state").ok().flatten().ok_or_else(|| UpstreamOAuthError::Callback("no state".into()))?;
        let id = state.split_once('.').map(|(id, _)| id).unwrap_or_default();
        let backend = self.get(id).ok_or_else(|| UpstreamOAuthError::Callback("unknown or expired state".into()))?;
        backend.callback(query).await
    }
}
