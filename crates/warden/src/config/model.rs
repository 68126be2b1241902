//! The validated configuration: what the rest of Warden reads.
//!
//! Built once from [`RawConfig`] by [`Config::from_raw`], which collects every
//! problem (each naming its key path) instead of stopping at the first.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use globset::GlobSet;
use http::{HeaderName, HeaderValue};
use url::Url;

use super::auth::{AuthSettings, ClientAuthSettings, validate_auth, validate_client_auth};
use super::raw::{AccessLogOutput, EraSetting, HttpProtocol, RawConfig, RawListener};

/// Default listen address when the config names none.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default admin address.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:9901";

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listeners, at least one.
    pub listeners: Vec<Listener>,
    /// Admin listener address.
    pub admin_address: SocketAddr,
    /// Session sealing settings.
    pub sessions: SessionSettings,
    /// Size and time limits.
    pub limits: Limits,
    /// Virtual servers, at least one.
    pub virtual_servers: Vec<Arc<VirtualServerConfig>>,
    /// Access log destination.
    pub access_log: AccessLogOutput,
    /// The audit trail (absent: no audit file).
    pub audit: Option<super::policy::AuditSettings>,
    /// Warden's token service (on with `tokenService` or `devIdentityProvider`).
    pub token_service: Option<Arc<super::token::TokenServiceSettings>>,
    /// The development identity provider.
    pub dev_idp: Option<Arc<super::token::DevIdpSettings>>,
}

/// A validated listener.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    /// Name for logs and metrics.
    pub name: String,
    /// Bound address.
    pub address: SocketAddr,
    /// The address as written (host name kept for URLs).
    pub address_text: String,
    /// Serve HTTP/1.1.
    pub http1: bool,
    /// Serve HTTP/2.
    pub http2: bool,
    /// TLS files, if TLS is on.
    pub tls: Option<TlsFiles>,
    /// Public base URL, if configured.
    pub public_url: Option<Url>,
    /// Extra accepted `Origin` values.
    pub allowed_origins: Vec<String>,
}

impl Listener {
    /// The base URL clients use for this listener (no trailing slash).
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.as_str().trim_end_matches('/').to_string(),
            None => {
                let scheme = if self.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{}", self.address_text)
            }
        }
    }
}

/// TLS certificate and key files.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    /// Certificate chain PEM.
    pub cert_file: PathBuf,
    /// Private key PEM.
    pub key_file: PathBuf,
    /// Client-certificate verification (mTLS).
    pub client_auth: Option<ClientAuthSettings>,
}

/// Session sealing settings.
#[derive(Clone)]
pub struct SessionSettings {
    /// The 32-byte sealing key, when configured.
    pub key: Option<Arc<secrecy::SecretBox<[u8; 32]>>>,
    /// Lifetime of a sealed session id.
    pub max_lifetime: Duration,
}

impl std::fmt::Debug for SessionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSettings")
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .field("max_lifetime", &self.max_lifetime)
            .finish()
    }
}

/// Size and time limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Max request body bytes.
    pub max_request_body: u64,
    /// Max single upstream message bytes.
    pub max_upstream_message: u64,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Default request timeout.
    pub request_timeout: Duration,
    /// Drain time at shutdown.
    pub drain_timeout: Duration,
}

/// A validated virtual server.
#[derive(Debug, Clone)]
pub struct VirtualServerConfig {
    /// Unique name.
    pub name: String,
    /// Path, starting with `/`, no trailing slash.
    pub path: String,
    /// Listener names, or all.
    pub listeners: Option<Vec<String>>,
    /// Backends, at least one.
    pub backends: Vec<BackendConfig>,
    /// Curation rules.
    pub curation: Curation,
    /// Instructions override.
    pub instructions: Option<String>,
    /// Authentication (absent: everyone is anonymous).
    pub auth: Option<Arc<AuthSettings>>,
    /// Rate limits (absent: none).
    pub rate_limits: Option<Arc<crate::ratelimit::RateLimits>>,
    /// Authorization policy (absent: every authenticated request is allowed).
    pub policy: Option<Arc<super::policy::PolicySettings>>,
    /// Tool-definition pinning (absent: off).
    pub pinning: Option<Arc<crate::pinning::PinningSettings>>,
    /// Transaction tokens for backends (absent: none).
    pub transaction_tokens: Option<super::token::TransactionTokenSettings>,
}

/// A validated backend.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendConfig {
    /// Unique name within the virtual server.
    pub name: String,
    /// How to reach it.
    pub kind: BackendKind,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Extra headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The credential Warden sends (default none).
    pub credential: super::token::CredentialSettings,
}

/// How a backend is reached.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendKind {
    /// Streamable HTTP.
    StreamableHttp {
        /// Endpoint URL.
        url: Url,
        /// Era selection.
        era: EraSetting,
    },
    /// Legacy HTTP+SSE.
    Sse {
        /// SSE endpoint URL.
        url: Url,
    },
    /// Child process on stdio.
    Stdio {
        /// Program.
        command: String,
        /// Arguments.
        args: Vec<String>,
        /// Extra environment.
        env: Vec<(String, String)>,
        /// Working directory.
        working_dir: Option<PathBuf>,
    },
    /// Built-in demo server.
    Builtin(BuiltinDemo),
}

/// The built-in demonstration servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinDemo {
    /// Time and arithmetic tools.
    Clock,
    /// A small note store with tools, resources and prompts.
    Notes,
}

/// Curation rules of a virtual server.
#[derive(Debug, Clone, Default)]
pub struct Curation {
    /// Allow-list (absent: all).
    pub allow: Option<GlobSet>,
    /// Deny-list.
    pub deny: Option<GlobSet>,
    /// exposed name → new name.
    pub rename: HashMap<String, String>,
    /// new name → exposed name.
    pub rename_back: HashMap<String, String>,
    /// Description overrides by final name.
    pub descriptions: HashMap<String, String>,
}

impl Curation {
    /// Whether the exposed (prefixed, not yet renamed) tool name is visible.
    pub fn allows(&self, exposed: &str) -> bool {
        self.allow.as_ref().is_none_or(|g| g.is_match(exposed))
            && !self.deny.as_ref().is_some_and(|g| g.is_match(exposed))
    }
}

impl Config {
    /// Validates a raw config, returning every problem found; relative
    /// paths are relative to the working directory.
    pub fn from_raw(raw: RawConfig) -> Result<Config, Vec<String>> {
        Config::from_raw_in(raw, std::path::Path::new(""))
    }

    /// Validates a raw config; relative policy, pin and audit paths are
    /// relative to `base` (the config file's directory).
    pub fn from_raw_in(raw: RawConfig, base: &std::path::Path) -> Result<Config, Vec<String>> {
        let mut p = Problems::default();
        let listeners = validate_listeners(&raw.listeners, &mut p);
        let admin_text =
            raw.admin.as_ref().and_then(|a| a.address.clone()).unwrap_or_else(|| DEFAULT_ADMIN.to_string());
        let admin_address = resolve(&admin_text, "admin.address", &mut p);
        let sessions = validate_sessions(&raw, &mut p);
        let limits = validate_limits(&raw);
        let listener_names: HashSet<&str> = listeners.iter().map(|l| l.name.as_str()).collect();
        let mut vs_names = HashSet::new();
        let mut vs_paths = HashSet::new();
        let mut virtual_servers = Vec::new();
        if raw.virtual_servers.is_empty() {
            p.push("virtualServers", "at least one virtual server is required");
        }
        for (i, vs) in raw.virtual_servers.iter().enumerate() {
            let at = format!("virtualServers[{i}]");
            if vs.name.trim().is_empty() {
                p.push(format!("{at}.name"), "must not be empty");
            } else if !vs_names.insert(vs.name.clone()) {
                p.push(format!("{at}.name"), format!("duplicate virtual server name {:?}", vs.name));
            }
            let path = vs.path.trim_end_matches('/').to_string();
            if !vs.path.starts_with('/') {
                p.push(format!("{at}.path"), "must start with '/'");
            } else if path.is_empty() {
                p.push(format!("{at}.path"), "must not be '/' alone (use e.g. /mcp)");
            } else if path.contains(['?', '#', '*', ' '])
                || path.starts_with("/.well-known")
                || path.contains(crate::auth::metadata::AS_SEGMENT.trim_end_matches('/'))
            {
                p.push(
                    format!("{at}.path"),
                    "must be a plain path (no query, fragment, wildcard, /.well-known or /authorization-server)",
                );
            }
            // Each (listener, path) pair must be unique; listeners absent means all.
            for l in vs.listeners.clone().unwrap_or_else(|| listeners.iter().map(|l| l.name.clone()).collect()) {
                if !vs_paths.insert((l.clone(), path.clone())) {
                    p.push(format!("{at}.path"), format!("path {path:?} is already used on listener {l:?}"));
                }
            }
            if let Some(ls) = &vs.listeners {
                for (j, l) in ls.iter().enumerate() {
                    if !listener_names.contains(l.as_str()) {
                        p.push(format!("{at}.listeners[{j}]"), format!("unknown listener {l:?}"));
                    }
                }
            }
            if vs.backends.is_empty() {
                p.push(format!("{at}.backends"), "at least one backend is required");
            }
            let mut names = HashSet::new();
            let mut backends = Vec::new();
            for (j, b) in vs.backends.iter().enumerate() {
                let bat = format!("{at}.backends[{j}]");
                if !names.insert(b.name.clone()) {
                    p.push(format!("{bat}.name"), format!("duplicate backend name {:?}", b.name));
                }
                if let Some(b) = super::backend::validate_backend(b, &bat, &limits, base, &mut p) {
                    backends.push(b);
                }
            }
            let curation = super::backend::validate_curation(vs.curation.as_ref(), &format!("{at}.curation"), &mut p);
            let auth = vs.auth.as_ref().map(|a| Arc::new(validate_auth(a, &format!("{at}.auth"), &mut p)));
            let rate_limits = vs.rate_limits.as_ref().and_then(|r| {
                match crate::ratelimit::validate(r, &format!("{at}.rateLimits")) {
                    Ok(l) => Some(Arc::new(l)),
                    Err(errors) => {
                        p.0.extend(errors);
                        None
                    }
                }
            });
            let policy = vs
                .policy
                .as_ref()
                .and_then(|r| super::policy::validate_policy(r, base, &format!("{at}.policy"), &mut p).map(Arc::new));
            let pinning = vs
                .pinning
                .as_ref()
                .and_then(|r| super::policy::validate_pinning(r, base, &format!("{at}.pinning"), &mut p).map(Arc::new));
            virtual_servers.push(Arc::new(VirtualServerConfig {
                name: vs.name.clone(),
                path,
                listeners: vs.listeners.clone(),
                backends,
                curation,
                instructions: vs.instructions.clone(),
                auth,
                rate_limits,
                policy,
                pinning,
                transaction_tokens: vs.transaction_tokens.as_ref().map(super::credential::validate_transaction_tokens),
            }));
        }
        let audit = raw.audit.as_ref().and_then(|a| super::policy::validate_audit(a, base, &mut p));
        let dev_idp = raw.dev_identity_provider.as_ref().map(|d| Arc::new(super::idp::validate_dev_idp(d, &mut p)));
        let token_service = match (&raw.token_service, &dev_idp) {
            (None, None) => None,
            (ts, _) => super::token::validate_token_service(
                &ts.clone().unwrap_or_default(),
                listeners.first().map(Listener::base_url),
                base,
                &mut p,
            )
            .map(Arc::new),
        };
        let needs_service = virtual_servers.iter().any(|vs| {
            vs.transaction_tokens.is_some()
                || vs.backends.iter().any(|b| {
                    matches!(
                        b.credential,
                        super::token::CredentialSettings::Exchange { .. }
                            | super::token::CredentialSettings::ExternalExchange(_)
                            | super::token::CredentialSettings::IdJag(_)
                    )
                })
        });
        if token_service.is_some() {
            for (i, vs) in virtual_servers.iter().enumerate() {
                if vs.path == "/oauth" || vs.path.starts_with("/oauth/") {
                    p.push(format!("virtualServers[{i}].path"), "/oauth/… belongs to the token service");
                }
            }
        }
        if needs_service && token_service.is_none() {
            p.push(
                "tokenService",
                "required by `credential: exchange`, `externalExchange`, `idJag` and `transactionTokens`",
            );
        }
        if p.0.is_empty() {
            Ok(Config {
                listeners,
                admin_address: admin_address.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9901))),
                sessions,
                limits,
                virtual_servers,
                access_log: raw.access_log.unwrap_or_default(),
                audit,
                token_service,
                dev_idp,
            })
        } else {
            Err(p.0)
        }
    }
}

#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<String>);

impl Problems {
    pub(super) fn push(&mut self, path: impl AsRef<str>, msg: impl AsRef<str>) {
        self.0.push(format!("{}: {}", path.as_ref(), msg.as_ref()));
    }
}

fn resolve(text: &str, at: &str, p: &mut Problems) -> Option<SocketAddr> {
    match text.to_socket_addrs() {
        Ok(mut it) => match it.next() {
            Some(a) => Some(a),
            None => {
                p.push(at, format!("{text:?} resolves to no address"));
                None
            }
        },
        Err(e) => {
            p.push(at, format!("invalid address {text:?} (expected host:port): {e}"));
            None
        }
    }
}

fn validate_listeners(raw: &[RawListener], p: &mut Problems) -> Vec<Listener> {
    let mut out = Vec::new();
    let mut names = HashSet::new();
    if raw.is_empty() {
        p.push("listeners", "at least one listener is required");
    }
    for (i, l) in raw.iter().enumerate() {
        let at = format!("listeners[{i}]");
        let name = l.name.clone().unwrap_or_else(|| format!("listener-{i}"));
        if !names.insert(name.clone()) {
            p.push(format!("{at}.name"), format!("duplicate listener name {name:?}"));
        }
        let address = resolve(&l.address, &format!("{at}.address"), p);
        let protocols = l.protocols.clone().unwrap_or_else(|| vec![HttpProtocol::Http1, HttpProtocol::Http2]);
        if protocols.is_empty() {
            p.push(format!("{at}.protocols"), "at least one protocol is required");
        }
        let tls = l.tls.as_ref().map(|t| {
            for (key, file) in [("certFile", &t.cert_file), ("keyFile", &t.key_file)] {
                if !std::path::Path::new(file).is_file() {
                    p.push(format!("{at}.tls.{key}"), format!("file {file:?} does not exist"));
                }
            }
            let client_auth =
                t.client_auth.as_ref().map(|c| validate_client_auth(c, &format!("{at}.tls.clientAuth"), p));
            TlsFiles { cert_file: t.cert_file.clone().into(), key_file: t.key_file.clone().into(), client_auth }
        });
        let public_url = l.public_url.as_ref().and_then(|u| match Url::parse(u) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
            Ok(_) => {
                p.push(format!("{at}.publicUrl"), "must be an http or https URL");
                None
            }
            Err(e) => {
                p.push(format!("{at}.publicUrl"), format!("invalid URL: {e}"));
                None
            }
        });
        if let Some(address) = address {
            out.push(Listener {
                name,
                address,
                address_text: l.address.clone(),
                http1: protocols.contains(&HttpProtocol::Http1),
                http2: protocols.contains(&HttpProtocol::Http2),
                tls,
                public_url,
                allowed_origins: l.allowed_origins.clone(),
            });
        }
    }
    out
}

fn validate_sessions(raw: &RawConfig, p: &mut Problems) -> SessionSettings {
    use base64::Engine;
    let s = raw.sessions.as_ref();
    let key = s.and_then(|s| s.key.as_deref()).filter(|k| !k.trim().is_empty()).and_then(|k| {
        let k = k.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(k)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(k.trim_end_matches('=')));
        match bytes {
            Ok(b) => match <[u8; 32]>::try_from(b.as_slice()) {
                Ok(arr) => Some(Arc::new(secrecy::SecretBox::new(Box::new(arr)))),
                Err(_) => {
                    p.push("sessions.key", format!("must decode to 32 bytes, got {}", b.len()));
                    None
                }
            },
            Err(_) => {
                p.push("sessions.key", "is not valid base64");
                None
            }
        }
    });
    SessionSettings {
        key,
        max_lifetime: s.and_then(|s| s.max_lifetime).map(|d| d.0).unwrap_or(Duration::from_secs(24 * 3600)),
    }
}

fn validate_limits(raw: &RawConfig) -> Limits {
    let l = raw.limits.as_ref();
    Limits {
        max_request_body: l.and_then(|l| l.max_request_body).map(|b| b.0).unwrap_or(4 << 20),
        max_upstream_message: l.and_then(|l| l.max_upstream_message).map(|b| b.0).unwrap_or(16 << 20),
        connect_timeout: l.and_then(|l| l.connect_timeout).map(|d| d.0).unwrap_or(Duration::from_secs(5)),
        request_timeout: l.and_then(|l| l.request_timeout).map(|d| d.0).unwrap_or(Duration::from_secs(60)),
        drain_timeout: l.and_then(|l| l.drain_timeout).map(|d| d.0).unwrap_or(Duration::from_secs(10)),
    }
}
