//! The configuration file as users write it: plain serde structs.
//!
//! Every struct denies unknown keys and uses camelCase. Doc comments on fields
//! become descriptions in the JSON Schema printed by `warden schema`.
//! Nothing here is validated beyond types; see [`super::model`] for that.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::raw_auth::{RawAuth, RawClientAuth};
use super::units::{ByteSize, HumanDuration};

/// The whole Warden configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawConfig {
    /// Where Warden accepts MCP clients. At least one.
    #[serde(default)]
    pub listeners: Vec<RawListener>,
    /// The admin listener: `/healthz`, `/readyz`, `/metrics`.
    #[serde(default)]
    pub admin: Option<RawAdmin>,
    /// How legacy MCP sessions are sealed into `Mcp-Session-Id`.
    #[serde(default)]
    pub sessions: Option<RawSessions>,
    /// Request size and time limits, applied to every virtual server.
    #[serde(default)]
    pub limits: Option<RawLimits>,
    /// Virtual MCP servers: each is one URL path that merges several backends.
    #[serde(default)]
    pub virtual_servers: Vec<RawVirtualServer>,
    /// Where the JSON access log goes: `stdout` (default), `stderr` or `off`.
    #[serde(default)]
    pub access_log: Option<AccessLogOutput>,
    /// The audit trail of authorization decisions (hash-chained JSON lines).
    #[serde(default)]
    pub audit: Option<super::raw_policy::RawAudit>,
    /// Warden's token service: its own issuer and keys, RFC 8693 token
    /// exchange, the credentials minted for backends.
    #[serde(default)]
    pub token_service: Option<super::raw_token::RawTokenService>,
    /// The embedded development identity provider (login page, PKCE,
    /// client registration). Turns the token service on. Development only.
    #[serde(default)]
    pub dev_identity_provider: Option<super::raw_token::RawDevIdp>,
}

/// Access log destinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccessLogOutput {
    /// One JSON line per request on standard output.
    #[default]
    Stdout,
    /// The same on standard error.
    Stderr,
    /// No access log.
    Off,
}

/// One listening socket.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawListener {
    /// A name for logs and metrics; defaults to `listener-N`.
    #[serde(default)]
    pub name: Option<String>,
    /// `host:port` to bind, e.g. `127.0.0.1:8080`. Use a loopback address unless
    /// clients on other machines must reach Warden.
    pub address: String,
    /// HTTP versions served: `http1`, `http2` (both by default; HTTP/2 needs TLS
    /// with ALPN or prior knowledge in clear text).
    #[serde(default)]
    pub protocols: Option<Vec<HttpProtocol>>,
    /// Serve TLS with these PEM files.
    #[serde(default)]
    pub tls: Option<RawTls>,
    /// The public base URL clients use (e.g. `https://mcp.example.com`), when it
    /// differs from `http(s)://address` (a load balancer in front).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Extra `Origin` values accepted besides the listener's own host. Requests
    /// with any other `Origin` get 403 (DNS-rebinding protection).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

/// HTTP protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HttpProtocol {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2.
    Http2,
}

/// TLS server settings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTls {
    /// PEM file with the certificate chain, leaf first.
    pub cert_file: String,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// Verify client certificates (mTLS): CAs and SPIFFE trust domains.
    #[serde(default)]
    pub client_auth: Option<RawClientAuth>,
}

/// Admin listener.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAdmin {
    /// `host:port` to bind; default `127.0.0.1:9901`. Keep it off public networks.
    #[serde(default)]
    pub address: Option<String>,
}

/// Session sealing.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSessions {
    /// 32-byte key, base64 (standard or URL-safe). Every replica behind one load
    /// balancer needs the same key. Empty or absent: a random key per process.
    #[serde(default)]
    pub key: Option<String>,
    /// How long a session id stays valid after `initialize`; default `24h`.
    /// Sessions are sealed, not stored, so this is a lifetime, not an idle time.
    #[serde(default)]
    pub max_lifetime: Option<HumanDuration>,
}

/// Limits.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawLimits {
    /// Largest request body accepted (`413` beyond); default `4MiB`.
    #[serde(default)]
    pub max_request_body: Option<ByteSize>,
    /// Largest single upstream message accepted; default `16MiB`.
    #[serde(default)]
    pub max_upstream_message: Option<ByteSize>,
    /// Time to connect to an HTTP backend; default `5s`.
    #[serde(default)]
    pub connect_timeout: Option<HumanDuration>,
    /// Time an upstream request may take before the client gets an error; default `60s`.
    #[serde(default)]
    pub request_timeout: Option<HumanDuration>,
    /// Time given to in-flight requests at shutdown; default `10s`.
    #[serde(default)]
    pub drain_timeout: Option<HumanDuration>,
}

/// A virtual MCP server.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawVirtualServer {
    /// Unique name, used in logs and metrics.
    pub name: String,
    /// URL path, e.g. `/mcp` or `/mcp/finance`.
    pub path: String,
    /// Listener names this virtual server is served on; all when absent.
    #[serde(default)]
    pub listeners: Option<Vec<String>>,
    /// The MCP servers merged behind this path. With one backend, names pass
    /// through unchanged; with several, each name is prefixed `backend__name`.
    pub backends: Vec<RawBackend>,
    /// Which tools, prompts and resources are exposed, and how they are named.
    #[serde(default)]
    pub curation: Option<RawCuration>,
    /// Text returned as `instructions` to clients; default merges the backends'.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Who may call: JWT access tokens, DPoP, SPIFFE workload identity, API keys.
    /// Absent: no authentication (every caller is anonymous).
    #[serde(default)]
    pub auth: Option<RawAuth>,
    /// Token-bucket rate limits per principal, tool, backend or virtual
    /// server; local, or global across replicas through Redis.
    #[serde(default)]
    pub rate_limits: Option<crate::ratelimit::RawRateLimits>,
    /// Cedar authorization of every request (default deny once present), list
    /// filtering, argument rules, an optional external decision point.
    #[serde(default)]
    pub policy: Option<super::raw_policy::RawPolicy>,
    /// Tool-definition pinning: tools whose definition changed since an
    /// operator approved them are hidden and blocked.
    #[serde(default)]
    pub pinning: Option<super::raw_policy::RawPinning>,
    /// Send a transaction token (`Txn-Token` header) with every backend request.
    #[serde(default)]
    pub transaction_tokens: Option<super::raw_token::RawTransactionTokens>,
}

/// One upstream MCP server. Exactly one of `url`, `stdio`, `builtin`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawBackend {
    /// Unique within its virtual server: lowercase letters, digits and single
    /// hyphens, starting with a letter (it becomes a name prefix).
    pub name: String,
    /// Absolute `http(s)` URL of a Streamable HTTP (or legacy HTTP+SSE) endpoint.
    #[serde(default)]
    pub url: Option<String>,
    /// Transport at `url`: `streamableHttp` (default) or `sse` (the 2024-11-05
    /// HTTP+SSE transport, `url` being its SSE endpoint).
    #[serde(default)]
    pub transport: Option<HttpTransport>,
    /// Protocol era the backend speaks: `auto` (default: tries `server/discover`,
    /// then `initialize`), `legacy` or `modern`.
    #[serde(default)]
    pub era: Option<EraSetting>,
    /// A local MCP server started as a child process speaking JSON-RPC on stdio.
    #[serde(default)]
    pub stdio: Option<RawStdio>,
    /// A built-in demonstration server: `clock` or `notes`.
    #[serde(default)]
    pub builtin: Option<String>,
    /// Per-request timeout for this backend; defaults to `limits.requestTimeout`.
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    /// Extra HTTP headers sent to the backend on every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The credential Warden sends this backend (the client's token never
    /// is): `exchange`, `externalExchange`, `idJag`, `secret`, `oauthClient`
    /// or `passthroughForbidden` (the default: none).
    #[serde(default)]
    pub credential: Option<super::raw_token::RawCredential>,
}

/// HTTP transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum HttpTransport {
    /// Streamable HTTP (2025-03-26 and later).
    StreamableHttp,
    /// HTTP+SSE (2024-11-05).
    Sse,
}

/// Backend protocol era selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum EraSetting {
    /// Probe the backend.
    Auto,
    /// Initialize handshake and sessions (2025-11-25 and earlier).
    Legacy,
    /// Stateless requests (2026-07-28).
    Modern,
}

/// A child-process backend.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawStdio {
    /// Program to run (looked up in `PATH`).
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory.
    #[serde(default)]
    pub working_dir: Option<String>,
}

/// What a virtual server exposes.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCuration {
    /// Tools exposed: glob patterns over the exposed (prefixed) names. Absent: all.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Tools hidden, after `allow`: glob patterns over the exposed names.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Renames: exposed name → new name.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// Description overrides, by the final (renamed) name.
    #[serde(default)]
    pub descriptions: BTreeMap<String, String>,
}
