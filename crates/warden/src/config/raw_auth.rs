//! The identity part of the configuration file as users write it: who may
//! call a virtual server (`virtualServers[].auth`) and which client
//! certificates a TLS listener asks for (`listeners[].tls.clientAuth`).
//! Validated in [`super::auth`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::units::HumanDuration;

/// Authentication of one virtual server.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAuth {
    /// `required` (default): every call needs a valid credential. `optional`:
    /// calls without credentials run as the anonymous principal (a later
    /// policy decides); a credential that is present must still be valid.
    #[serde(default)]
    pub mode: Option<AuthMode>,
    /// The canonical resource URL of this virtual server (RFC 8707), which
    /// tokens must name in `aud`. Default: the listener's public URL (or
    /// `http(s)://address`) followed by the virtual server's path.
    #[serde(default)]
    pub resource: Option<String>,
    /// `authorization_servers` in the Protected Resource Metadata. Default:
    /// the issuers of `jwt` providers, in order.
    #[serde(default)]
    pub authorization_servers: Option<Vec<String>>,
    /// Scopes: advertised, required for every call, and required per method or tool.
    #[serde(default)]
    pub scopes: Option<RawScopes>,
    /// JWT access-token issuers accepted, any number.
    #[serde(default)]
    pub jwt: Vec<RawJwtProvider>,
    /// DPoP proof of possession (RFC 9449).
    #[serde(default)]
    pub dpop: Option<RawDpop>,
    /// Refuse tokens that are not bound to a key (DPoP `cnf.jkt`) or to the
    /// client certificate (`cnf.x5t#S256`). Default false.
    #[serde(default)]
    pub require_bound_tokens: bool,
    /// Workload identity from SPIFFE: X.509-SVIDs on mTLS connections and JWT-SVIDs.
    #[serde(default)]
    pub spiffe: Option<RawSpiffeAuth>,
    /// API keys, for clients that can do nothing better. Keys are stored as
    /// SHA-256 hashes (`warden apikey` prints a new key and its hash).
    #[serde(default)]
    pub api_keys: Vec<RawApiKey>,
    /// Header carrying an API key; default `X-API-Key`.
    #[serde(default)]
    pub api_key_header: Option<String>,
    /// JSON-RPC methods served without credentials, e.g. `ping`. The metadata
    /// and health paths never need credentials.
    #[serde(default)]
    pub exempt_methods: Vec<String>,
    /// Serve RFC 8414 authorization-server metadata at
    /// `/.well-known/oauth-authorization-server/...` for each `jwt` issuer that
    /// publishes only OpenID discovery, and list Warden's copy in the
    /// Protected Resource Metadata. Default false.
    #[serde(default)]
    pub serve_authorization_server_metadata: bool,
}

/// Authentication modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AuthMode {
    /// A valid credential is needed.
    #[default]
    Required,
    /// No credential: the anonymous principal.
    Optional,
}

/// Scope rules.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawScopes {
    /// `scopes_supported` in the metadata; default: every scope named below.
    #[serde(default)]
    pub supported: Option<Vec<String>>,
    /// Scopes every call needs.
    #[serde(default)]
    pub required: Vec<String>,
    /// Extra scopes by JSON-RPC method, e.g. `tools/call: [mcp:tools]`.
    #[serde(default)]
    pub methods: BTreeMap<String, Vec<String>>,
    /// Extra scopes for `tools/call` by glob over the exposed tool name, e.g.
    /// `"*__delete_*": [mcp:admin]`.
    #[serde(default)]
    pub tools: BTreeMap<String, Vec<String>>,
}

/// One JWT issuer.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawJwtProvider {
    /// A name for logs and the principal; default: the issuer.
    #[serde(default)]
    pub name: Option<String>,
    /// The `iss` value tokens carry, exactly.
    pub issuer: String,
    /// Where the signing keys are. Default (none of `jwksUrl`, `jwks`,
    /// `jwksFile`): OpenID/OAuth discovery from the issuer.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Inline JWKS (`{"keys": [...]}`).
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// JWKS in a file.
    #[serde(default)]
    pub jwks_file: Option<String>,
    /// Accepted `aud` values; default: the virtual server's resource URL.
    #[serde(default)]
    pub audiences: Option<Vec<String>>,
    /// Accepted signature algorithms; default every asymmetric one
    /// (RS/PS/ES 256–384, EdDSA). HMAC and `none` are never accepted.
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// Allowed clock difference for `exp`, `nbf`, `iat`; default `60s`.
    #[serde(default)]
    pub clock_skew: Option<HumanDuration>,
    /// Claims that must be present: `true` = present, a string or list = one of these values.
    #[serde(default)]
    pub required_claims: BTreeMap<String, serde_json::Value>,
    /// Where principal attributes come from.
    #[serde(default)]
    pub claims: Option<RawClaimMapping>,
    /// How often keys are refetched in the background; default `5m`.
    #[serde(default)]
    pub refresh_interval: Option<HumanDuration>,
    /// Least time between refetches triggered by an unknown `kid`; default `30s`.
    #[serde(default)]
    pub min_refetch_interval: Option<HumanDuration>,
}

/// Claim names (dotted paths allowed, e.g. `realm_access.roles`) for principal attributes.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawClaimMapping {
    /// Subject; default `sub`.
    #[serde(default)]
    pub subject: Option<String>,
    /// Tenant; default `tid` (then `tenant`).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Groups; default `groups`.
    #[serde(default)]
    pub groups: Option<String>,
    /// Roles; default `roles`.
    #[serde(default)]
    pub roles: Option<String>,
    /// Scopes (space-separated string or list); default `scope` (then `scp`).
    #[serde(default)]
    pub scopes: Option<String>,
    /// OAuth client id; default `client_id` (then `azp`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Agent id, for tokens issued to agents; default `agent_id`.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Extra attributes copied onto the principal: attribute name → claim.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// DPoP settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawDpop {
    /// `accepted` (default when this block is present): DPoP-bound tokens are
    /// checked, Bearer tokens still work. `required`: Bearer is refused. `off`.
    #[serde(default)]
    pub mode: Option<DpopMode>,
    /// Accepted proof algorithms; default ES256, ES384, RS256, PS256, EdDSA.
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// How far a proof's `iat` may be from now; default `60s`. Proof `jti`s
    /// are remembered this long (twice, to cover skew in both directions).
    #[serde(default)]
    pub max_age: Option<HumanDuration>,
    /// Require server-issued nonces (`use_dpop_nonce`). Default false.
    #[serde(default)]
    pub nonce: bool,
}

/// DPoP modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DpopMode {
    /// DPoP not accepted.
    Off,
    /// DPoP and Bearer.
    #[default]
    Accepted,
    /// DPoP only.
    Required,
}

/// SPIFFE workload identity accepted by a virtual server.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSpiffeAuth {
    /// Accept the X.509-SVID of an mTLS connection as the workload principal
    /// (the listener verifies it; see `listeners[].tls.clientAuth`). Default true.
    #[serde(default)]
    pub x509: Option<bool>,
    /// Trust domains whose workloads may call; default: all trusted by the listener or listed below.
    #[serde(default)]
    pub allowed_trust_domains: Option<Vec<String>>,
    /// JWT-SVID validation: trust bundles per trust domain. JWT-SVIDs are
    /// accepted when at least one is listed.
    #[serde(default)]
    pub trust_domains: Vec<RawTrustDomain>,
    /// Accepted JWT-SVID audiences; default: the virtual server's resource URL.
    #[serde(default)]
    pub audiences: Option<Vec<String>>,
}

/// Where a trust domain's bundle comes from (exactly one source).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTrustDomain {
    /// The trust domain, e.g. `example.org`.
    pub name: String,
    /// A SPIFFE bundle (JWKS with `spiffe_*` fields) in a file; a PEM file of
    /// CA certificates is also accepted for X.509 authorities.
    #[serde(default)]
    pub bundle_file: Option<String>,
    /// A SPIFFE bundle endpoint (`https_web` profile).
    #[serde(default)]
    pub bundle_url: Option<String>,
    /// The SPIFFE Workload API socket (`unix:///path` or a plain path), or
    /// `env` for the socket named by `SPIFFE_ENDPOINT_SOCKET`.
    #[serde(default)]
    pub workload_api: Option<String>,
}

/// One API key.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawApiKey {
    /// Unique name (logged; the key never is).
    pub name: String,
    /// Who the key belongs to: becomes the principal's subject.
    pub owner: String,
    /// `sha256:<64 hex>` of the key.
    pub hash: String,
    /// Scopes the key grants.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Tenant of the owner.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Expiry, RFC 3339 (e.g. `2027-01-31T00:00:00Z`).
    #[serde(default)]
    pub expires_at: Option<String>,
    /// A revoked key is refused.
    #[serde(default)]
    pub revoked: bool,
}

/// Client-certificate verification of a TLS listener (mTLS).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawClientAuth {
    /// `optional` (default): a certificate is verified when sent. `required`:
    /// connections without a valid certificate are refused.
    #[serde(default)]
    pub mode: Option<ClientAuthMode>,
    /// PEM files of CAs for ordinary (non-SPIFFE) client certificates.
    #[serde(default)]
    pub ca_files: Vec<String>,
    /// SPIFFE trust domains: an X.509-SVID is verified only against the bundle
    /// of the trust domain in its SPIFFE ID.
    #[serde(default)]
    pub trust_domains: Vec<RawTrustDomain>,
}

/// Whether a client certificate is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ClientAuthMode {
    /// Verified when present.
    #[default]
    Optional,
    /// Needed.
    Required,
}
