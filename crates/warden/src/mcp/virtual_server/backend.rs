//! One backend as a virtual server sees it: its upstream, what it said about
//! itself when probed, its health, and the shared session used for callers
//! that have no backend session of their own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use serde_json::Value;
use serde_json::value::RawValue;

use super::RouteError;
use crate::mcp::session::BackendSession;
use crate::mcp::upstream::http::Opened;
use crate::mcp::upstream::{SessionMode, Upstream, UpstreamError};

/// After a failed open of the shared session, how long callers fail fast.
const SHARED_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Health as last observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendHealth {
    /// Not probed yet.
    Unknown = 0,
    /// Last probe or call succeeded.
    Up = 1,
    /// Last probe or connection failed.
    Down = 2,
}

/// A backend within a virtual server.
pub struct BackendHandle {
    /// Name (prefix).
    pub name: String,
    /// Position in the virtual server.
    pub index: usize,
    /// How it is reached.
    pub upstream: Upstream,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Last `initialize` / `server/discover` result.
    info: ArcSwapOption<Box<RawValue>>,
    health: AtomicU8,
    shared: tokio::sync::Mutex<Option<BackendSession>>,
    /// When opening the shared session last failed: callers queued behind a
    /// failing open fail at once instead of each waiting a full timeout.
    shared_failed_at: parking_lot::Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for BackendHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendHandle").field("name", &self.name).finish_non_exhaustive()
    }
}

impl BackendHandle {
    /// A handle over `upstream`.
    pub fn new(name: &str, index: usize, upstream: Upstream, timeout: Duration) -> BackendHandle {
        BackendHandle {
            name: name.to_string(),
            index,
            upstream,
            timeout,
            info: ArcSwapOption::empty(),
            health: AtomicU8::new(BackendHealth::Unknown as u8),
            shared: tokio::sync::Mutex::new(None),
            shared_failed_at: parking_lot::Mutex::new(None),
        }
    }

    /// Current health.
    pub fn health(&self) -> BackendHealth {
        match self.health.load(Ordering::Relaxed) {
            1 => BackendHealth::Up,
            2 => BackendHealth::Down,
            _ => BackendHealth::Unknown,
        }
    }

    /// Records health.
    pub fn set_health(&self, h: BackendHealth) {
        self.health.store(h as u8, Ordering::Relaxed);
    }

    /// Wraps an upstream error with this backend's name, noting ill health
    /// when the backend could not be reached at all.
    pub fn error(&self, source: UpstreamError) -> RouteError {
        if matches!(source, UpstreamError::Connect(_) | UpstreamError::Unavailable(_)) {
            self.set_health(BackendHealth::Down);
        }
        RouteError::Backend { backend: self.name.clone(), source }
    }

    /// What the backend said about itself (capabilities, instructions …), as JSON.
    pub fn info(&self) -> Option<Value> {
        let raw = self.info.load_full()?;
        serde_json::from_str(raw.get()).ok()
    }

    /// Probes the backend and records its self-description and health.
    pub async fn probe(&self) -> Result<(), UpstreamError> {
        let result: Result<Box<RawValue>, UpstreamError> = match &self.upstream {
            Upstream::Http(h) => tokio::time::timeout(self.timeout, h.probe())
                .await
                .unwrap_or(Err(UpstreamError::Timeout))
                .map(|r| r.to_owned_box()),
            Upstream::Channel(c) => {
                c.wait_ready().await?;
                c.init_result()
                    .map(|r| r.to_owned_box())
                    .ok_or_else(|| UpstreamError::Unavailable("not initialized".into()))
            }
        };
        match result {
            Ok(r) => {
                self.info.store(Some(Arc::new(r)));
                self.set_health(BackendHealth::Up);
                Ok(())
            }
            Err(e) => {
                self.set_health(BackendHealth::Down);
                Err(e)
            }
        }
    }

    /// Opens a backend session for one legacy client session.
    /// `credential` is the caller's upstream credential, for backends that
    /// want one on `initialize` too (per-user credentials).
    pub async fn open_client_session(
        &self,
        client_capabilities: &Value,
        credential: Option<Arc<crate::credentials::Injected>>,
    ) -> Result<Opened, UpstreamError> {
        match &self.upstream {
            Upstream::Http(h) if h.eras().legacy => {
                let opened = tokio::time::timeout(self.timeout, h.open_session(client_capabilities, None, credential))
                    .await
                    .unwrap_or(Err(UpstreamError::Timeout))?;
                self.info.store(Some(Arc::new(opened.result.to_owned_box())));
                self.set_health(BackendHealth::Up);
                Ok(opened)
            }
            _ => Err(UpstreamError::Protocol("backend has no per-client sessions".into())),
        }
    }

    /// Ends a legacy client's backend session.
    pub async fn close_client_session(&self, session: &BackendSession) {
        if let Upstream::Http(h) = &self.upstream {
            h.close_session(session).await;
        }
    }

    /// The backend session shared by callers without their own (modern
    /// clients of a legacy-only HTTP backend). `None` for backends that need none.
    pub async fn shared_session(
        &self,
        credential: Option<Arc<crate::credentials::Injected>>,
    ) -> Result<Option<BackendSession>, UpstreamError> {
        if self.upstream.session_mode(true) != SessionMode::Shared {
            return Ok(None);
        }
        let mut guard = self.shared.lock().await;
        if let Some(s) = guard.as_ref() {
            return Ok(Some(s.clone()));
        }
        if self.shared_failed_at.lock().is_some_and(|t| t.elapsed() < SHARED_RETRY_AFTER) {
            return Err(UpstreamError::Unavailable("backend session could not be opened".into()));
        }
        // The shared session declares what Warden can bridge for modern
        // clients (sampling, elicitation, roots become InputRequiredResult).
        let caps = serde_json::json!({"sampling": {}, "elicitation": {}, "roots": {"listChanged": true}});
        match self.open_client_session(&caps, credential).await {
            Ok(opened) => {
                *self.shared_failed_at.lock() = None;
                *guard = Some(opened.session.clone());
                Ok(Some(opened.session))
            }
            Err(e) => {
                *self.shared_failed_at.lock() = Some(std::time::Instant::now());
                Err(e)
            }
        }
    }

    /// Forgets the shared session (the backend expired it).
    pub async fn drop_shared_session(&self) {
        *self.shared.lock().await = None;
    }
}

trait ToOwnedBox {
    fn to_owned_box(&self) -> Box<RawValue>;
}

impl ToOwnedBox for RawValue {
    fn to_owned_box(&self) -> Box<RawValue> {
        self.to_owned()
    }
}
