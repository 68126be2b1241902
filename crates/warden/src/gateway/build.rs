//! Building a [`Runtime`] from a [`Config`], reusing what a reload keeps.

use std::collections::HashMap;
use std::sync::Arc;

use crate::credentials::txn::TxnTokens;
use crate::credentials::{BackendCredential, BackendFacts};
use crate::token::TokenService;

use tokio::sync::watch;

use super::Runtime;
use crate::auth::{AuthShared, Authenticator};
use crate::config::{BackendConfig, BackendKind, Config};
use crate::mcp::session::SessionSealer;
use crate::mcp::upstream::Upstream;
use crate::mcp::upstream::builtin::BuiltinConnector;
use crate::mcp::upstream::channel::{ChannelUpstream, Connector};
use crate::mcp::upstream::http::HttpUpstream;
use crate::mcp::upstream::sse_legacy::SseConnector;
use crate::mcp::upstream::stdio::StdioConnector;
use crate::mcp::virtual_server::{AuditSink, Authz, BackendHandle, VirtualServer};
use crate::ratelimit::RateLimiter;

/// Why a runtime could not be built from a valid config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The HTTP client could not be built (TLS roots).
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
    /// A rate-limit store could not be set up.
    #[error("virtual server {0}: rate limits: {1}")]
    RateLimits(String, String),
    /// The audit file could not be opened (or its last record is damaged).
    #[error("audit file: {0}")]
    Audit(String),
    /// The token service could not load or generate its keys.
    #[error("token service: {0}")]
    TokenService(String),
    /// A backend's upstream credential could not be set up (a secret that
    /// cannot be read, a key file that is not a key …). Names no secret.
    #[error("virtual server {0}, backend {1}: credential: {2}")]
    Credential(String, String, String),
}

/// The HTTP client used for all HTTP backends.
pub fn http_client(config: &Config) -> Result<reqwest::Client, BuildError> {
    reqwest::Client::builder()
        .connect_timeout(config.limits.connect_timeout)
        .tcp_nodelay(true)
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| BuildError::HttpClient(e.to_string()))
}

fn make_upstream(
    b: &BackendConfig,
    config: &Config,
    http: &reqwest::Client,
    shutdown: &watch::Sender<bool>,
    credential: Option<&Arc<BackendCredential>>,
) -> Upstream {
    let max = usize::try_from(config.limits.max_upstream_message).unwrap_or(usize::MAX);
    let ready_timeout = config.limits.connect_timeout.max(std::time::Duration::from_secs(10));
    let channel = |connector: Box<dyn Connector>| {
        Upstream::Channel(ChannelUpstream::start(&b.name, connector, ready_timeout, shutdown.subscribe()))
    };
    match &b.kind {
        BackendKind::StreamableHttp { url, era } => Upstream::Http(Arc::new(
            HttpUpstream::new(&b.name, url.clone(), *era, http.clone(), b.headers.clone(), b.timeout, max)
                .with_static_credential(credential.and_then(|c| c.static_part())),
        )),
        BackendKind::Sse { url } => channel(Box::new(SseConnector {
            url: url.clone(),
            client: http.clone(),
            headers: b.headers.clone(),
            max_message: max,
            connect_timeout: config.limits.connect_timeout,
            request_timeout: b.timeout,
        })),
        BackendKind::Stdio { command, args, env, working_dir } => channel(Box::new(StdioConnector {
            command: command.clone(),
            args: args.clone(),
            env: env.clone(),
            working_dir: working_dir.clone(),
            max_message: max,
        })),
        BackendKind::Builtin(which) => channel(Box::new(BuiltinConnector::new(*which))),
    }
}

/// Builds the runtime; with `old`, unchanged backends keep their upstream.
pub fn runtime(
    config: &Config,
    old: Option<&Runtime>,
    http: &reqwest::Client,
    shutdown: &watch::Sender<bool>,
    auth_shared: &AuthShared,
    metrics: &Arc<crate::telemetry::Metrics>,
) -> Result<Runtime, BuildError> {
    let audit = match (&config.audit, old) {
        (None, _) => None,
        (Some(a), Some(o)) if o.config.audit.as_ref().is_some_and(|x| x.file == a.file) && o.audit.is_some() => {
            o.audit.clone()
        }
        (Some(a), _) => Some(crate::audit::AuditLog::open(&a.file).map_err(|e| BuildError::Audit(e.to_string()))?),
    };
    let mut keep: HashMap<(String, String), (BackendConfig, Upstream)> = HashMap::new();
    let mut keep_credential: HashMap<(String, String), (BackendConfig, Arc<BackendCredential>)> = HashMap::new();
    if let Some(old) = old {
        for vs in &old.virtual_servers {
            for (b, bc) in vs.backends.iter().zip(&vs.config.backends) {
                let key = (vs.config.name.clone(), b.name.clone());
                if let Some(c) = vs.credential(b.index).filter(|c| c.is_stateful()) {
                    keep_credential.insert(key.clone(), (bc.clone(), c.clone()));
                }
                keep.insert(key, (bc.clone(), b.upstream.clone()));
            }
        }
    }
    // Built before the virtual servers: `exchange`, `externalExchange`,
    // `idJag` and transaction tokens mint with it.
    let token_service = token_service(config, old)?;
    let gateway_base = config.listeners.first().map(|l| l.base_url()).unwrap_or_default();
    let mut virtual_servers = Vec::new();
    for vs in &config.virtual_servers {
        let mut backends = Vec::new();
        let mut credentials = Vec::new();
        for (i, bc) in vs.backends.iter().enumerate() {
            let kept = keep_credential
                .remove(&(vs.name.clone(), bc.name.clone()))
                .filter(|(old_cfg, _)| old_cfg == bc)
                .map(|(_, c)| c);
            let credential = match kept {
                Some(c) => Some(c),
                None => {
                    let facts = BackendFacts {
                        name: &bc.name,
                        url: match &bc.kind {
                            BackendKind::StreamableHttp { url, .. } | BackendKind::Sse { url } => Some(url),
                            _ => None,
                        },
                        gateway_base: &gateway_base,
                    };
                    BackendCredential::build(&bc.credential, token_service.as_ref(), http, facts)
                        .map_err(|e| BuildError::Credential(vs.name.clone(), bc.name.clone(), e.to_string()))?
                }
            };
            let reused =
                keep.remove(&(vs.name.clone(), bc.name.clone())).filter(|(old_cfg, _)| old_cfg == bc).map(|(_, up)| up);
            let upstream = reused.unwrap_or_else(|| make_upstream(bc, config, http, shutdown, credential.as_ref()));
            backends.push(Arc::new(BackendHandle::new(&bc.name, i, upstream, bc.timeout)));
            credentials.push(credential);
        }
        let txn = match (&vs.transaction_tokens, &token_service) {
            (Some(t), Some(ts)) => Some(TxnTokens::new(ts.clone(), t, &vs.name)),
            _ => None,
        };
        let authz = (vs.policy.is_some() || vs.pinning.is_some()).then(|| {
            let sink = audit
                .clone()
                .map(|log| AuditSink { log, arguments: config.audit.as_ref().is_some_and(|a| a.arguments) });
            Authz::new(vs.policy.clone(), http, sink, metrics.clone())
        });
        virtual_servers.push(Arc::new(VirtualServer::new(vs.clone(), backends).with_authz(authz).with_credentials(
            credentials,
            txn,
            metrics.clone(),
        )));
    }
    let same_key = old.is_some_and(|o| {
        use secrecy::ExposeSecret;
        match (&o.config.sessions.key, &config.sessions.key) {
            (Some(a), Some(b)) => a.expose_secret() == b.expose_secret(),
            (None, None) => true,
            _ => false,
        }
    }) && old.is_some_and(|o| o.config.sessions.max_lifetime == config.sessions.max_lifetime);
    let sealer = match old {
        Some(o) if same_key => o.sealer.clone(),
        _ => {
            if config.sessions.key.is_none() {
                tracing::warn!(
                    "no session key configured (sessions.key / WARDEN_SESSION_KEY): using a random key; \
                     replicas will not share sessions and sessions end at restart"
                );
            }
            Arc::new(SessionSealer::new(config.sessions.key.as_deref(), config.sessions.max_lifetime))
        }
    };
    let authenticators =
        config.virtual_servers.iter().map(|vs| Authenticator::build(vs, auth_shared, http).map(Arc::new)).collect();
    // Buckets of an unchanged `rateLimits` block survive a reload (a reload
    // must not hand every caller a fresh burst).
    let mut limiters = Vec::new();
    for vs in &config.virtual_servers {
        let kept = old.and_then(|o| {
            let i = o.virtual_servers.iter().position(|x| x.config.name == vs.name)?;
            let same = limits_fingerprint(o.virtual_servers[i].config.rate_limits.as_deref())
                == limits_fingerprint(vs.rate_limits.as_deref());
            if same { o.limiters.get(i).cloned().flatten() } else { None }
        });
        let limiter = match (kept, &vs.rate_limits) {
            (Some(l), Some(_)) => Some(l),
            (_, Some(rl)) => Some(Arc::new(
                RateLimiter::new(rl.as_ref().clone())
                    .map_err(|e| BuildError::RateLimits(vs.name.clone(), e.to_string()))?,
            )),
            (_, None) => None,
        };
        limiters.push(limiter);
    }
    Ok(Runtime {
        config: Arc::new(config.clone()),
        sealer,
        virtual_servers,
        authenticators,
        limiters,
        audit,
        token_service,
    })
}

/// The token service: the old one's keys when `tokenService.keys` and the
/// issuer did not change (a reload must not invalidate minted tokens).
fn token_service(config: &Config, old: Option<&Runtime>) -> Result<Option<Arc<TokenService>>, BuildError> {
    let Some(settings) = &config.token_service else { return Ok(None) };
    let kept = old
        .and_then(|o| o.token_service.as_ref())
        .filter(|t| t.settings.keys == settings.keys && t.settings.issuer == settings.issuer);
    let ts = match kept {
        Some(t) => TokenService::reloaded(settings.clone(), t),
        None => TokenService::start(settings.clone()).map_err(|e| BuildError::TokenService(e.to_string()))?,
    };
    Ok(Some(ts))
}

/// What decides whether a limiter can be kept: the rules and the store,
/// including the Redis URL (redacted in `Debug`).
fn limits_fingerprint(rl: Option<&crate::ratelimit::RateLimits>) -> String {
    use secrecy::ExposeSecret;
    match rl {
        None => String::new(),
        Some(rl) => match &rl.store {
            crate::ratelimit::Store::Redis(r) => format!("{rl:?}|{}", r.url.expose_secret()),
            crate::ratelimit::Store::Local => format!("{rl:?}"),
        },
    }
}
