//! Starting and stopping a whole gateway: listeners, admin, backends, and
//! configuration reloads. Used by the `warden` binary and by tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::config::{Config, ConfigError};
use crate::gateway::{BuildError, Gateway};
use crate::listener::{self, HttpSettings, ListenError};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Building the runtime failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A listener could not start.
    #[error(transparent)]
    Listen(#[from] ListenError),
}

/// A running gateway.
pub struct RunningGateway {
    /// The gateway.
    pub gateway: Arc<Gateway>,
    /// Bound address of each listener, by name.
    pub listeners: Vec<(String, SocketAddr)>,
    /// Bound admin address.
    pub admin: SocketAddr,
    tasks: JoinSet<()>,
}

impl RunningGateway {
    /// `http://addr` of the first listener.
    pub fn base_url(&self) -> String {
        self.listeners.first().map(|(_, a)| format!("http://{a}")).unwrap_or_default()
    }

    /// Stops accepting, drains in-flight requests (bounded by the drain
    /// timeout), and stops backends.
    pub async fn shutdown(mut self) {
        self.gateway.begin_shutdown();
        self.wait().await;
    }

    /// Waits until every listener has drained (after a shutdown signal), then
    /// stops the backends.
    pub async fn wait(&mut self) {
        while self.tasks.join_next().await.is_some() {}
        self.gateway.stop_backends();
    }
}

/// Starts a gateway for `config`: binds every listener and the admin
/// listener, then probes backends in the background.
pub async fn start(config: Config) -> Result<RunningGateway, StartError> {
    let gateway = Gateway::new(config.clone())?;
    let mut tasks = JoinSet::new();
    let mut listeners = Vec::new();
    let drain = config.limits.drain_timeout;
    for l in &config.listeners {
        let bound = listener::bind(l.address).await?;
        let mut l = l.clone();
        if l.address.port() == 0 {
            // Port 0 (tests): URLs and Host checks use the real port.
            l.address = bound.local_addr;
            l.address_text = bound.local_addr.to_string();
        }
        listeners.push((l.name.clone(), bound.local_addr));
        let tls = match &l.tls {
            Some(files) => {
                Some(listener::tls::server_config(files, l.http1, l.http2, gateway.http()).map_err(ListenError::from)?)
            }
            None => None,
        };
        let settings = HttpSettings { http1: l.http1, http2: l.http2, tls, drain };
        let gw = gateway.clone();
        let listener_cfg = Arc::new(l);
        let handler = move |req| {
            let gw = gw.clone();
            let l = listener_cfg.clone();
            async move { gw.handle(&l, req).await }
        };
        tasks.spawn(listener::serve(bound, settings, handler, gateway.shutdown_signal()));
    }
    let admin_bound = listener::bind(config.admin_address).await?;
    let admin = admin_bound.local_addr;
    let gw = gateway.clone();
    let admin_handler = move |req: hyper::Request<hyper::body::Incoming>| {
        let gw = gw.clone();
        async move { crate::admin::handle(&gw, &req) }
    };
    let admin_settings = HttpSettings { http1: true, http2: false, tls: None, drain: Duration::from_secs(1) };
    tasks.spawn(listener::serve(admin_bound, admin_settings, admin_handler, gateway.shutdown_signal()));
    let gw = gateway.clone();
    tokio::spawn(async move { gw.probe_backends().await });
    Ok(RunningGateway { gateway, listeners, admin, tasks })
}

/// Reloads `path` into `gateway`; an invalid file is logged and ignored.
pub async fn reload_from(gateway: &Gateway, path: &Path) -> Result<(), ConfigError> {
    let result = crate::config::load_file(path);
    let outcome = match result {
        Ok(cfg) => match gateway.reload(cfg).await {
            Ok(()) => {
                info!(path = %path.display(), "configuration reloaded");
                Ok(())
            }
            Err(e) => {
                error!(error = %e, "configuration valid but could not be applied; keeping the old one");
                Ok(())
            }
        },
        Err(e) => {
            error!(error = %e, "configuration reload refused; keeping the old one");
            Err(e)
        }
    };
    let label = crate::telemetry::ReloadLabels { result: if outcome.is_ok() { "ok".into() } else { "invalid".into() } };
    gateway.metrics.reloads.get_or_create(&label).inc();
    outcome
}

/// The files besides the config whose changes reload it: policy files (and
/// the directories they come from, for new `.cedar` files) and pin files,
/// absolute, as the config at start names them.
fn companion_files(config: &crate::config::Config) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let abs = |p: &Path| -> Option<PathBuf> {
        let parent = p.parent().filter(|x| !x.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Some(std::fs::canonicalize(parent).ok()?.join(p.file_name()?))
    };
    let mut files = Vec::new();
    for vs in &config.virtual_servers {
        if let Some(policy) = &vs.policy {
            files.extend(policy.files.iter().filter_map(|f| abs(f)));
        }
        if let Some(pinning) = &vs.pinning {
            files.extend(abs(&pinning.file));
        }
    }
    let mut dirs: Vec<PathBuf> = files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
    dirs.sort();
    dirs.dedup();
    (files, dirs)
}

/// Watches `path` (its directory, to survive editors that replace files),
/// and the policy and pin files the config names, and reloads on change,
/// debounced. Files a reload newly names are watched after a restart (or
/// reload with SIGHUP).
pub fn watch_config(gateway: Arc<Gateway>, path: PathBuf) -> Option<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(16);
    let target = path.clone();
    let file_name = path.file_name().map(|f| f.to_os_string());
    let (files, dirs) = companion_files(&gateway.runtime().config);
    let policy_dirs = dirs.clone();
    let mut watcher = match notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        // Only writes, creations and renames: a reload reads the file, and
        // reacting to reads (access events) would reload forever.
        let relevant = |k: &notify::EventKind| {
            matches!(
                k,
                notify::EventKind::Create(_)
                    | notify::EventKind::Remove(_)
                    | notify::EventKind::Modify(notify::event::ModifyKind::Data(_))
                    | notify::EventKind::Modify(notify::event::ModifyKind::Name(_))
                    | notify::EventKind::Modify(notify::event::ModifyKind::Any)
            )
        };
        let watched = |p: &PathBuf| {
            p.file_name().map(|f| f.to_os_string()) == file_name
                || files.contains(p)
                || (p.extension().is_some_and(|e| e == "cedar")
                    && p.parent().is_some_and(|d| policy_dirs.iter().any(|x| x == d)))
        };
        if let Ok(ev) = ev
            && relevant(&ev.kind)
            && ev.paths.iter().any(watched)
        {
            let _ = tx.try_send(());
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, "cannot watch the config file; use SIGHUP to reload");
            return None;
        }
    };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
        warn!(error = %e, "cannot watch the config directory; use SIGHUP to reload");
        return None;
    }
    for d in &dirs {
        if let Err(e) = watcher.watch(d, RecursiveMode::NonRecursive) {
            warn!(error = %e, dir = %d.display(), "cannot watch a policy or pin directory; use SIGHUP to reload");
        }
    }
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            while rx.try_recv().is_ok() {}
            let _ = reload_from(&gateway, &target).await;
        }
    });
    Some(watcher)
}
