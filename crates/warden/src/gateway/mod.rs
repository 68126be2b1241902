//! The running gateway: the current configuration's virtual servers and
//! backends behind an `ArcSwap`, so a reload swaps them atomically while
//! in-flight requests finish on the state they started with.

mod build;
mod route;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use tokio::sync::watch;

pub use build::BuildError;

use crate::auth::{AuthShared, Authenticator};
use crate::config::Config;
use crate::mcp::session::SessionSealer;
use crate::mcp::virtual_server::VirtualServer;
use crate::ratelimit::RateLimiter;
use crate::telemetry::Metrics;

/// Everything derived from one configuration.
pub struct Runtime {
    /// The configuration.
    pub config: Arc<Config>,
    /// Session sealer (same key across reloads unless the key changed).
    pub sealer: Arc<SessionSealer>,
    /// Virtual servers with the listeners they are served on.
    pub virtual_servers: Vec<Arc<VirtualServer>>,
    /// The authenticator of each virtual server (same order), if it has `auth`.
    pub authenticators: Vec<Option<Arc<Authenticator>>>,
    /// The rate limiter of each virtual server (same order), if it has `rateLimits`.
    pub limiters: Vec<Option<Arc<RateLimiter>>>,
    /// The audit trail, if configured (the same appender across reloads
    /// while the file stays the same: one chain, one writer).
    pub audit: Option<crate::audit::AuditLog>,
    /// Warden's token service, when configured (its keys survive reloads
    /// while `tokenService.keys` is unchanged).
    pub token_service: Option<Arc<crate::token::TokenService>>,
}

impl Runtime {
    /// The virtual server at `path` on `listener`.
    pub fn route(&self, listener: &str, path: &str) -> Option<&Arc<VirtualServer>> {
        self.route_index(listener, path).map(|i| &self.virtual_servers[i])
    }

    /// The index of the virtual server at `path` on `listener`.
    pub fn route_index(&self, listener: &str, path: &str) -> Option<usize> {
        let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
        self.virtual_servers.iter().position(|vs| {
            vs.config.path == path && vs.config.listeners.as_ref().is_none_or(|ls| ls.iter().any(|l| l == listener))
        })
    }

    /// The authenticator of virtual server `index`.
    pub fn authenticator(&self, index: usize) -> Option<&Arc<Authenticator>> {
        self.authenticators.get(index).and_then(Option::as_ref)
    }
}

/// The gateway.
pub struct Gateway {
    runtime: ArcSwap<Runtime>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    http: reqwest::Client,
    auth_shared: AuthShared,
    /// Turns true when listeners must stop accepting and drain.
    shutdown_tx: watch::Sender<bool>,
    /// Turns true when backends (child processes, channels) must stop: after
    /// the listeners drained, so in-flight calls can finish.
    backends_tx: watch::Sender<bool>,
    ready: AtomicBool,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

impl Gateway {
    /// Builds the gateway for `config` and starts its backends.
    pub fn new(config: Config) -> Result<Arc<Gateway>, BuildError> {
        let (shutdown_tx, _) = watch::channel(false);
        let (backends_tx, _) = watch::channel(false);
        let http = build::http_client(&config)?;
        let metrics = Arc::new(Metrics::default());
        let auth_shared = AuthShared::default();
        let runtime = build::runtime(&config, None, &http, &backends_tx, &auth_shared, &metrics)?;
        Ok(Arc::new(Gateway {
            runtime: ArcSwap::from_pointee(runtime),
            metrics,
            http,
            auth_shared,
            shutdown_tx,
            backends_tx,
            ready: AtomicBool::new(false),
        }))
    }

    /// The HTTP client for outbound calls (backends, JWKS, bundles).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The current runtime.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// A receiver that turns true at shutdown.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown_tx.subscribe()
    }

    /// Starts shutdown: listeners stop accepting and drain in-flight requests.
    pub fn begin_shutdown(&self) {
        let _ = self.shutdown_tx.send_replace(true);
    }

    /// Stops backends (child processes, channels); call after draining.
    pub fn stop_backends(&self) {
        let _ = self.backends_tx.send_replace(true);
        if let Some(audit) = &self.runtime().audit
            && let Err(e) = audit.flush()
        {
            tracing::error!(error = %e, "audit trail not flushed at shutdown");
        }
    }

    /// Whether every backend has been probed once.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Probes all backends of the current runtime and marks readiness.
    pub async fn probe_backends(&self) {
        let rt = self.runtime();
        futures::future::join_all(rt.virtual_servers.iter().map(|vs| vs.probe_all())).await;
        self.update_backend_gauges();
        self.ready.store(true, Ordering::Relaxed);
    }

    /// Copies backend health into the `backend_up` gauge.
    pub fn update_backend_gauges(&self) {
        use crate::mcp::virtual_server::BackendHealth;
        let rt = self.runtime();
        for vs in &rt.virtual_servers {
            for b in &vs.backends {
                let labels =
                    crate::telemetry::BackendLabels { virtual_server: vs.config.name.clone(), backend: b.name.clone() };
                self.metrics.backend_up.get_or_create(&labels).set(i64::from(b.health() == BackendHealth::Up));
            }
        }
    }

    /// Applies a new configuration: backends whose settings did not change are
    /// kept (with their processes and sessions), the rest are started anew.
    pub async fn reload(&self, config: Config) -> Result<(), BuildError> {
        let old = self.runtime();
        if old.config.listeners != config.listeners || old.config.admin_address != config.admin_address {
            tracing::warn!("listener or admin address changes take effect after a restart");
        }
        let runtime =
            build::runtime(&config, Some(&old), &self.http, &self.backends_tx, &self.auth_shared, &self.metrics)?;
        let fresh: Vec<_> = runtime.virtual_servers.clone();
        self.runtime.store(Arc::new(runtime));
        drop(old);
        self.auth_shared.retain_used();
        futures::future::join_all(fresh.iter().map(|vs| vs.probe_all())).await;
        self.update_backend_gauges();
        self.ready.store(true, Ordering::Relaxed);
        Ok(())
    }
}
