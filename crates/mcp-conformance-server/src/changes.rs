//! List-change announcements for `subscriptions/listen` streams (2026-07-28).
//!
//! A listen stream is served by one request's handler while the change that triggers a
//! notification arrives on another request (another handler on the stateless path), so
//! changes go through one process-wide broadcast channel.

use tokio::sync::broadcast;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListChange {
    /// The tool list.
    Tools,
    /// The prompt list.
    Prompts,
}

/// The broadcast every listen stream subscribes to.
#[derive(Debug, Clone)]
pub struct ListChanges(broadcast::Sender<ListChange>);

impl Default for ListChanges {
    fn default() -> Self {
        // Changes are rare; a listener that lags behind 16 of them misses the oldest.
        Self(broadcast::channel(16).0)
    }
}

impl ListChanges {
    /// Tells every open listen stream that `change` happened.
    pub fn announce(&self, change: ListChange) {
        // No receiver means no listen stream is open: nothing to tell.
        let _ = self.0.send(change);
    }

    /// A receiver for changes announced from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ListChange> {
        self.0.subscribe()
    }
}
