//! Protocol versions, `_meta` keys and other constants of the two MCP eras.
//! See `docs/protocol-eras.md` for the rules behind them.

use serde_json::{Value, json};

/// The modern, stateless revision.
pub const MODERN: &str = "2026-07-28";
/// The newest legacy (initialize/session) revision.
pub const LEGACY_LATEST: &str = "2025-11-25";
/// Legacy revisions Warden speaks, newest first.
pub const LEGACY_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// Version assumed when a legacy request has no `MCP-Protocol-Version` header.
pub const LEGACY_DEFAULT: &str = "2025-03-26";
/// Every version Warden speaks, newest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// `_meta` key carrying the protocol version of a modern request.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key carrying the client's capabilities.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key carrying the client's info.
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// `_meta` key carrying the requested log level.
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// `_meta` key carrying server info on results.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
/// `_meta` key carrying the subscription id on listen notifications.
pub const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// HTTP header names.
pub mod header {
    /// Protocol version header.
    pub const PROTOCOL_VERSION: &str = "mcp-protocol-version";
    /// Legacy session header.
    pub const SESSION_ID: &str = "mcp-session-id";
    /// Modern method header.
    pub const METHOD: &str = "mcp-method";
    /// Modern name header.
    pub const NAME: &str = "mcp-name";
    /// Modern argument-mirroring header prefix.
    pub const PARAM_PREFIX: &str = "mcp-param-";
    /// SSE resumption.
    pub const LAST_EVENT_ID: &str = "last-event-id";
}

/// Whether `v` is a legacy version Warden speaks.
pub fn is_legacy_version(v: &str) -> bool {
    LEGACY_VERSIONS.contains(&v)
}

/// Methods removed in the modern era (404 / -32601 when sent modern).
pub const REMOVED_IN_MODERN: &[&str] = &[
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
    "notifications/initialized",
    "notifications/roots/list_changed",
];

/// Methods whose results must carry `ttlMs`/`cacheScope` in the modern era.
pub fn is_cacheable_method(method: &str) -> bool {
    matches!(
        method,
        "tools/list"
            | "prompts/list"
            | "resources/list"
            | "resources/templates/list"
            | "resources/read"
            | "server/discover"
    )
}

/// Which request parameter `Mcp-Name` mirrors for `method`, if any.
pub fn name_param(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// Warden's own implementation info, as a client of backends and a server to clients.
pub fn gateway_client_info() -> Value {
    json!({"name": "warden", "title": "Warden MCP gateway", "version": env!("CARGO_PKG_VERSION")})
}
