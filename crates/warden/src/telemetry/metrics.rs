//! Prometheus metrics. Every metric name lives in [`names`].

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Metric names (without the `warden_` prefix the registry adds).
pub mod names {
    /// Requests by virtual server, backend, MCP method and outcome.
    pub const REQUESTS: &str = "requests";
    /// Time to response head, by virtual server and MCP method.
    pub const REQUEST_DURATION: &str = "request_duration_seconds";
    /// 1 when the backend answered its last probe or call, else 0.
    pub const BACKEND_UP: &str = "backend_up";
    /// Config reloads by result.
    pub const CONFIG_RELOADS: &str = "config_reloads";
    /// Policy decisions by virtual server, action and decision.
    pub const POLICY_DECISIONS: &str = "policy_decisions";
    /// Tools whose definition changed since approval, by virtual server and tool.
    pub const TOOL_PIN_MISMATCH: &str = "tool_pin_mismatch";
    /// Tools pinning currently hides and blocks, by virtual server.
    pub const TOOL_PIN_BLOCKED: &str = "tool_pin_blocked";
    /// Rate-limit decisions made by the fallback because Redis failed, by virtual server.
    pub const RATELIMIT_FALLBACKS: &str = "ratelimit_fallbacks";
    /// Upstream credentials obtained for calls, by virtual server, backend, kind and outcome.
    pub const UPSTREAM_CREDENTIALS: &str = "upstream_credentials";
    /// Requests to the token service, by endpoint and HTTP status.
    pub const TOKEN_SERVICE_REQUESTS: &str = "token_service_requests";
}

/// Labels of an upstream credential lookup.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CredentialLabels {
    /// Virtual server.
    pub virtual_server: String,
    /// Backend.
    pub backend: String,
    /// `exchange`, `externalExchange`, `idJag`, `oauthClient`.
    pub kind: String,
    /// `ok`, `error` or `consent_required`.
    pub outcome: String,
}

/// Labels of a token-service request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenServiceLabels {
    /// `token`, `authorize`, `register`, `jwks`, `metadata`, `upstream_callback` or `other`.
    pub endpoint: String,
    /// HTTP status code.
    pub status: String,
}

/// Labels of a policy decision.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    /// Virtual server.
    pub virtual_server: String,
    /// Cedar action (MCP method).
    pub action: String,
    /// `allow` or `deny`.
    pub decision: String,
}

/// Labels of a pinned tool.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PinLabels {
    /// Virtual server.
    pub virtual_server: String,
    /// Exposed tool name.
    pub tool: String,
}

/// Labels naming a virtual server.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VsLabels {
    /// Virtual server.
    pub virtual_server: String,
}

/// A client-sent method as a metric label: known methods by name, else `other`.
pub fn metric_method(m: &str) -> &str {
    if KNOWN_METHODS.contains(&m) { m } else { "other" }
}

/// Labels of a request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Virtual server.
    pub virtual_server: String,
    /// Backend or `-`.
    pub backend: String,
    /// MCP method or `-`.
    pub method: String,
    /// `ok` or reason.
    pub outcome: String,
}

/// Labels of a latency observation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DurationLabels {
    /// Virtual server.
    pub virtual_server: String,
    /// MCP method or `-`.
    pub method: String,
}

/// Labels of a backend.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    /// Virtual server.
    pub virtual_server: String,
    /// Backend.
    pub backend: String,
}

/// Labels of a reload.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `ok` or `invalid`.
    pub result: String,
}

/// MCP methods recorded by name in metrics; any other is `other`.
const KNOWN_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
    "subscriptions/listen",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/roots/list_changed",
    "GET stream",
    "DELETE session",
];

/// All metrics of one gateway.
pub struct Metrics {
    registry: Registry,
    /// Requests.
    pub requests: Family<RequestLabels, Counter>,
    /// Latency.
    pub duration: Family<DurationLabels, Histogram>,
    /// Backend health.
    pub backend_up: Family<BackendLabels, Gauge>,
    /// Reloads.
    pub reloads: Family<ReloadLabels, Counter>,
    /// Policy decisions.
    pub policy_decisions: Family<PolicyLabels, Counter>,
    /// Pinned tools seen changed (counted once per change).
    pub pin_mismatches: Family<PinLabels, Counter>,
    /// Tools pinning blocks.
    pub pin_blocked: Family<VsLabels, Gauge>,
    /// Rate-limit fallbacks (copied from the limiters at scrape time).
    pub ratelimit_fallbacks: Family<VsLabels, Counter>,
    /// Upstream credentials.
    pub upstream_credentials: Family<CredentialLabels, Counter>,
    /// Token-service requests.
    pub token_service_requests: Family<TokenServiceLabels, Counter>,
    /// The limiter totals already copied, per virtual server.
    fallbacks_seen: parking_lot::Mutex<std::collections::HashMap<String, u64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("warden");
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<DurationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
        });
        let backend_up = Family::<BackendLabels, Gauge>::default();
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            names::REQUESTS,
            "MCP requests by virtual server, backend, method and outcome",
            requests.clone(),
        );
        registry.register(
            names::REQUEST_DURATION,
            "Time until the response head, by virtual server and method",
            duration.clone(),
        );
        registry.register(names::BACKEND_UP, "Whether the backend answered its last probe or call", backend_up.clone());
        registry.register(names::CONFIG_RELOADS, "Configuration reloads by result", reloads.clone());
        let policy_decisions = Family::<PolicyLabels, Counter>::default();
        let pin_mismatches = Family::<PinLabels, Counter>::default();
        let pin_blocked = Family::<VsLabels, Gauge>::default();
        registry.register(
            names::POLICY_DECISIONS,
            "Policy decisions by virtual server, action and decision",
            policy_decisions.clone(),
        );
        registry.register(
            names::TOOL_PIN_MISMATCH,
            "Pinned tools whose definition changed since approval (once per change)",
            pin_mismatches.clone(),
        );
        registry.register(names::TOOL_PIN_BLOCKED, "Tools hidden and blocked by pinning", pin_blocked.clone());
        let ratelimit_fallbacks = Family::<VsLabels, Counter>::default();
        registry.register(
            names::RATELIMIT_FALLBACKS,
            "Rate-limit decisions taken by the configured fallback because Redis failed or was slow",
            ratelimit_fallbacks.clone(),
        );
        let upstream_credentials = Family::<CredentialLabels, Counter>::default();
        registry.register(
            names::UPSTREAM_CREDENTIALS,
            "Per-call upstream credentials by virtual server, backend, kind and outcome (ok, error, consent_required)",
            upstream_credentials.clone(),
        );
        let token_service_requests = Family::<TokenServiceLabels, Counter>::default();
        registry.register(
            names::TOKEN_SERVICE_REQUESTS,
            "Requests to the token service by endpoint and HTTP status",
            token_service_requests.clone(),
        );
        Metrics {
            registry,
            upstream_credentials,
            token_service_requests,
            requests,
            duration,
            backend_up,
            reloads,
            policy_decisions,
            pin_mismatches,
            pin_blocked,
            ratelimit_fallbacks,
            fallbacks_seen: Default::default(),
        }
    }
}

impl Metrics {
    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Brings `warden_ratelimit_fallbacks_total` up to a limiter's running
    /// total for `virtual_server` (a limiter rebuilt by a reload starts again
    /// from zero: its whole total is new).
    pub fn sync_fallbacks(&self, virtual_server: &str, total: u64) {
        let mut seen = self.fallbacks_seen.lock();
        let last = seen.entry(virtual_server.to_string()).or_insert(0);
        let delta = if total >= *last { total - *last } else { total };
        *last = total;
        if delta > 0 {
            let labels = VsLabels { virtual_server: virtual_server.to_string() };
            self.ratelimit_fallbacks.get_or_create(&labels).inc_by(delta);
        }
    }

    /// Records a token-service request by its path (known endpoints only
    /// become label values).
    pub fn observe_token_service(&self, path: &str, status: u16) {
        let endpoint = match path {
            "/oauth/token" => "token",
            "/oauth/authorize" => "authorize",
            "/oauth/register" => "register",
            "/oauth/jwks" => "jwks",
            "/.well-known/oauth-authorization-server" | "/.well-known/openid-configuration" => "metadata",
            p if p.starts_with("/oauth/upstream/") => "upstream",
            _ => "other",
        };
        let labels = TokenServiceLabels { endpoint: endpoint.into(), status: status.to_string() };
        self.token_service_requests.get_or_create(&labels).inc();
    }

    /// Records a finished request.
    pub fn observe(&self, rec: &super::AccessRecord) {
        let vs = rec.virtual_server.clone().unwrap_or_else(|| "-".into());
        // Methods come from clients: only known ones become label values.
        let method = match rec.method.as_deref() {
            Some(m) if KNOWN_METHODS.contains(&m) => m.to_string(),
            Some(_) => "other".to_string(),
            None => "-".to_string(),
        };
        self.requests
            .get_or_create(&RequestLabels {
                virtual_server: vs.clone(),
                backend: rec.backend.clone().unwrap_or_else(|| "-".into()),
                method: method.clone(),
                outcome: rec.outcome.to_string(),
            })
            .inc();
        self.duration.get_or_create(&DurationLabels { virtual_server: vs, method }).observe(rec.elapsed_secs());
    }
}
