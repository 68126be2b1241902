//! The token-service part of the configuration file as users write it:
//! Warden's own issuer (`tokenService`), the development identity provider
//! (`devIdentityProvider`), and the credential each backend receives
//! (`virtualServers[].backends[].credential`). Validated in [`super::token`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::raw_auth::{RawJwtProvider, RawSpiffeAuth};
use super::raw_policy::RawPolicy;
use super::units::HumanDuration;

/// Warden's token service: its own issuer, signing keys, the RFC 8693 token
/// endpoint and the clients allowed to use it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTokenService {
    /// The `iss` of tokens Warden mints, and the base of its endpoints
    /// (`/oauth/token`, `/oauth/jwks`, `/.well-known/oauth-authorization-server`).
    /// Default: the first listener's public URL.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Signing keys: generated and persisted in `dir`, or loaded from `files`.
    #[serde(default)]
    pub keys: Option<RawSigningKeys>,
    /// Longest lifetime of a minted token; default `5m`. A minted token
    /// never outlives the token it was exchanged for.
    #[serde(default)]
    pub token_lifetime: Option<HumanDuration>,
    /// Clients allowed to call the token endpoint, and how each authenticates.
    #[serde(default)]
    pub clients: Vec<RawTokenClient>,
    /// Issuers whose JWT access tokens and ID tokens are accepted as
    /// `subject_token` or `actor_token` (Warden's own tokens always are).
    #[serde(default)]
    pub subject_issuers: Vec<RawJwtProvider>,
    /// SPIFFE trust domains whose JWT-SVIDs are accepted as subject/actor
    /// tokens and as `jwt-spiffe` client assertions.
    #[serde(default)]
    pub spiffe: Option<RawSpiffeAuth>,
    /// Cedar policy deciding who may exchange what, for which audience and
    /// scopes (action `token/exchange`); default deny once present. Absent:
    /// a client may exchange only for the audiences and scopes listed on it.
    #[serde(default)]
    pub policy: Option<RawPolicy>,
}

/// Signing keys of the token service.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSigningKeys {
    /// Directory where generated keys are kept (created, mode 0700; keys
    /// 0600). Replicas that share it share keys. Absent and no `files`: keys
    /// live in memory and tokens end at restart.
    #[serde(default)]
    pub dir: Option<String>,
    /// PEM files (PKCS#8) of keys to sign with, newest last; no rotation.
    #[serde(default)]
    pub files: Vec<String>,
    /// Algorithm of generated keys: `ES256` (default) or `EdDSA`.
    #[serde(default)]
    pub algorithm: Option<SigningAlgorithm>,
    /// Generated keys are replaced this often; default `24h`.
    #[serde(default)]
    pub rotate_every: Option<HumanDuration>,
    /// A new key is published this long before it signs, and an old one stays
    /// published this long after; default `1h` (at least the token lifetime).
    #[serde(default)]
    pub overlap: Option<HumanDuration>,
}

/// Signature algorithms of Warden's own keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
pub enum SigningAlgorithm {
    /// ECDSA P-256 with SHA-256.
    #[default]
    ES256,
    /// Ed25519.
    EdDSA,
}

/// A client of the token endpoint. Exactly one authentication method.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTokenClient {
    /// `client_id`.
    pub id: String,
    /// `client_secret_basic`/`client_secret_post`: `sha256:<64 hex>` of the secret.
    #[serde(default)]
    pub secret_hash: Option<String>,
    /// `private_key_jwt` (RFC 7523): the client's public keys, inline JWKS.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// `private_key_jwt`: the client's JWKS URL.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// `private_key_jwt`: the client's JWKS in a file.
    #[serde(default)]
    pub jwks_file: Option<String>,
    /// `jwt-spiffe` client assertion or an mTLS X.509-SVID: the SPIFFE ID
    /// the client must present.
    #[serde(default)]
    pub spiffe_id: Option<String>,
    /// `tls_client_auth` (RFC 8705) with an ordinary certificate: its
    /// SHA-256 thumbprint (`x5t#S256`, base64url).
    #[serde(default)]
    pub certificate_thumbprint: Option<String>,
    /// Audiences this client may ask for (used when no `policy` is set).
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Scopes this client may ask for (used when no `policy` is set).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// May this client ask for impersonation (no `act`)? Policy can still
    /// refuse. Default false.
    #[serde(default)]
    pub may_impersonate: bool,
}

/// The embedded development identity provider: a login page for the users
/// listed here, authorization code + PKCE, client ID metadata documents,
/// dynamic registration and client credentials, all under the token
/// service's issuer. For development only: its state is in memory, per
/// process (docs/dev-idp.md). Protect a virtual server with it by listing
/// the issuer in `auth.jwt` (`jwksUrl: <issuer>/oauth/jwks`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawDevIdp {
    /// Users who can sign in (passwords in plain text: development only).
    #[serde(default)]
    pub users: Vec<RawDevUser>,
    /// Pre-registered clients (agents use client credentials; apps use
    /// authorization code with a redirect URI).
    #[serde(default)]
    pub clients: Vec<RawDevClient>,
    /// Accept RFC 7591 dynamic client registration; default true.
    #[serde(default)]
    pub dynamic_registration: Option<bool>,
    /// Accept Client ID Metadata Documents (an `https` URL as `client_id`, or
    /// a loopback `http` URL); default true.
    #[serde(default)]
    pub client_id_metadata_documents: Option<bool>,
    /// Lifetime of access tokens it issues; default `1h`.
    #[serde(default)]
    pub access_token_lifetime: Option<HumanDuration>,
    /// Lifetime of refresh tokens; default `24h`.
    #[serde(default)]
    pub refresh_token_lifetime: Option<HumanDuration>,
}

/// A development user.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawDevUser {
    /// Login name, and the `sub` of its tokens.
    pub username: String,
    /// Password (plain text; development only).
    pub password: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Groups (`groups` claim).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Roles (`roles` claim).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Scopes the user may be granted; default: every scope asked for that
    /// the resource supports.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Extra claims put in the user's tokens (they cannot replace `iss`,
    /// `sub`, `aud`, `exp`, `iat`, `nbf`, `jti`, `scope`, `client_id`,
    /// `cnf`, `act`, `may_act`).
    #[serde(default)]
    pub claims: BTreeMap<String, serde_json::Value>,
}

/// A pre-registered development client.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawDevClient {
    /// `client_id` (not a URL, which names a metadata document, nor `dcr-…`).
    pub id: String,
    /// Client secret (plain text; development only), sent with HTTP Basic or
    /// `client_secret_post`. Absent: a public client.
    #[serde(default)]
    pub secret: Option<String>,
    /// Exact redirect URIs for authorization code: https, loopback http, or
    /// a reverse-domain private scheme (`com.example.app:/cb`).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Scopes it may get with client credentials (as an agent; needs
    /// `secret`). The token's `sub` is the client id.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Transaction tokens (draft-ietf-oauth-transaction-tokens) for a virtual
/// server's backends: a `Txn-Token` header with the principal, the
/// delegation chain and the request context.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTransactionTokens {
    /// The trust domain named in `aud`; default the token service issuer.
    #[serde(default)]
    pub audience: Option<String>,
    /// Lifetime; default `60s`.
    #[serde(default)]
    pub lifetime: Option<HumanDuration>,
}

/// The credential Warden sends to one backend. The client's own token is
/// never forwarded; without this block the backend gets no credential.
/// Written as a single-key map (`{exchange: {…}}`) or, for
/// `passthroughForbidden`, a plain string.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase", remote = "Self")]
pub enum RawCredential {
    /// A token minted by Warden's token service for this backend alone.
    Exchange(RawExchangeCredential),
    /// RFC 8693 token exchange at an external authorization server.
    ExternalExchange(RawExternalExchange),
    /// Cross-domain: an ID-JAG redeemed with the JWT-bearer grant.
    IdJag(RawIdJag),
    /// A static credential from an environment variable or file.
    Secret(RawSecretCredential),
    /// Warden is the OAuth client of the upstream server, per user.
    OauthClient(super::raw_oauth_client::RawOAuthClientCredential),
    /// No credential (the default, written out).
    PassthroughForbidden,
}

/// [`RawCredential`] through its derived (remote = `Self`) deserializer.
struct PlainCredential(RawCredential);

impl<'de> Deserialize<'de> for PlainCredential {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawCredential::deserialize(d).map(PlainCredential)
    }
}

impl<'de> Deserialize<'de> for RawCredential {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // YAML trees hold enums as tags; configs write them as single-key maps.
        serde_norway::with::singleton_map_recursive::deserialize::<PlainCredential, D>(d).map(|p| p.0)
    }
}

impl Serialize for RawCredential {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawCredential::serialize(self, s)
    }
}

/// `exchange`: a delegated token from Warden's own token service.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawExchangeCredential {
    /// `aud` of the minted token; default the backend URL.
    #[serde(default)]
    pub audience: Option<String>,
    /// Scopes to ask for (intersected with the caller's); default the caller's.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Lifetime; default the token service's `tokenLifetime`.
    #[serde(default)]
    pub lifetime: Option<HumanDuration>,
    /// Impersonation (no `act`), only where the token service policy allows
    /// it; default false (delegation).
    #[serde(default)]
    pub impersonate: bool,
}

/// How Warden authenticates itself to an external authorization server.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum RawClientCredentials {
    /// `private_key_jwt` with a PEM key.
    PrivateKeyJwt {
        /// PKCS#8 PEM file.
        key_file: String,
        /// `ES256`, `EdDSA`, `RS256`, ….
        algorithm: String,
        /// `kid` header.
        #[serde(default)]
        kid: Option<String>,
    },
    /// A JWT-SVID from the SPIFFE Workload API as `jwt-spiffe` assertion.
    JwtSvid {
        /// Workload API socket, or `env` (`SPIFFE_ENDPOINT_SOCKET`).
        #[serde(default)]
        workload_api: Option<String>,
    },
    /// `client_secret_basic` from an environment variable.
    SecretEnv(String),
}

/// `externalExchange`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawExternalExchange {
    /// The external AS's token endpoint.
    pub token_endpoint: String,
    /// Its issuer (the `aud` of client assertions); default the endpoint's origin.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Warden's client id there.
    pub client_id: String,
    /// How Warden authenticates.
    pub client_auth: RawClientCredentials,
    /// `audience` to ask for.
    #[serde(default)]
    pub audience: Option<String>,
    /// `resource` to ask for.
    #[serde(default)]
    pub resource: Option<String>,
    /// Scopes to ask for.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// `idJag`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawIdJag {
    /// The external (resource) authorization server's issuer: the ID-JAG's `aud`.
    pub authorization_server: String,
    /// Its token endpoint, where the ID-JAG is redeemed.
    pub token_endpoint: String,
    /// Warden's client id at that server.
    pub client_id: String,
    /// How Warden authenticates there.
    pub client_auth: RawClientCredentials,
    /// `resource` (the MCP server or API) named in the ID-JAG.
    #[serde(default)]
    pub resource: Option<String>,
    /// Scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// `secret`: one of `header`, `query`, `basic`, from `env` or `file`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSecretCredential {
    /// Environment variable holding the secret.
    #[serde(default)]
    pub env: Option<String>,
    /// File holding the secret (trailing newline dropped).
    #[serde(default)]
    pub file: Option<String>,
    /// Send it in this header (e.g. `Authorization`, `X-Api-Key`).
    #[serde(default)]
    pub header: Option<String>,
    /// Text before the secret in the header, e.g. `"Bearer "`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Send it as this query parameter instead.
    #[serde(default)]
    pub query: Option<String>,
    /// Send HTTP Basic with this user name and the secret as password.
    #[serde(default)]
    pub basic_username: Option<String>,
}
