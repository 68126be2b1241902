//! Validation of the identity configuration into the model the
//! authenticator reads. Every problem is reported with its key path.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use globset::{Glob, GlobMatcher};
use http::HeaderName;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use url::Url;

use super::model::Problems;
pub use super::raw_auth::{AuthMode, ClientAuthMode, DpopMode};
use super::raw_auth::{
    RawApiKey, RawAuth, RawClaimMapping, RawClientAuth, RawDpop, RawJwtProvider, RawScopes, RawSpiffeAuth,
    RawTrustDomain,
};

/// Asymmetric algorithms accepted for access tokens by default.
pub const DEFAULT_TOKEN_ALGS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
/// Algorithms accepted for DPoP proofs by default.
pub const DEFAULT_DPOP_ALGS: [Algorithm; 5] =
    [Algorithm::ES256, Algorithm::ES384, Algorithm::RS256, Algorithm::PS256, Algorithm::EdDSA];

/// Authentication of one virtual server.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthSettings {
    /// Required or optional.
    pub mode: AuthMode,
    /// Explicit canonical resource URL (else derived per listener).
    pub resource: Option<String>,
    /// Explicit `authorization_servers`.
    pub authorization_servers: Option<Vec<String>>,
    /// Scope rules.
    pub scopes: ScopeRules,
    /// JWT providers.
    pub jwt: Vec<JwtProviderSettings>,
    /// DPoP.
    pub dpop: DpopSettings,
    /// Only bound tokens.
    pub require_bound_tokens: bool,
    /// SPIFFE workload identity.
    pub spiffe: Option<SpiffeSettings>,
    /// API keys.
    pub api_keys: Vec<ApiKeySettings>,
    /// API key header.
    pub api_key_header: HeaderName,
    /// Methods served without credentials.
    pub exempt_methods: BTreeSet<String>,
    /// Serve RFC 8414 metadata for OIDC-only issuers.
    pub serve_as_metadata: bool,
}

/// Scope rules of a virtual server.
#[derive(Debug, Clone, Default)]
pub struct ScopeRules {
    /// Advertised scopes.
    pub supported: Vec<String>,
    /// Needed by every call.
    pub required: Vec<String>,
    /// Needed by method.
    pub methods: Vec<(String, Vec<String>)>,
    /// Needed by tool (glob over exposed name).
    pub tools: Vec<(GlobMatcher, Vec<String>)>,
}

impl PartialEq for ScopeRules {
    fn eq(&self, o: &Self) -> bool {
        let globs = |t: &[(GlobMatcher, Vec<String>)]| -> Vec<(String, Vec<String>)> {
            t.iter().map(|(g, s)| (g.glob().glob().to_string(), s.clone())).collect()
        };
        self.supported == o.supported
            && self.required == o.required
            && self.methods == o.methods
            && globs(&self.tools) == globs(&o.tools)
    }
}

impl ScopeRules {
    /// Every scope a call of `method` (on tool `name`) needs, in a stable order.
    pub fn needed(&self, method: &str, name: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = self.required.clone();
        let mut add = |s: &[String]| {
            for x in s {
                if !out.contains(x) {
                    out.push(x.clone());
                }
            }
        };
        for (m, s) in &self.methods {
            if m == method {
                add(s);
            }
        }
        if method == "tools/call"
            && let Some(n) = name
        {
            for (g, s) in &self.tools {
                if g.is_match(n) {
                    add(s);
                }
            }
        }
        out
    }
}

/// Where a provider's keys come from.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    /// Discovery from the issuer.
    Discovery,
    /// A JWKS URL.
    Url(Url),
    /// Fixed keys (inline or file).
    Static(JwkSet),
}

/// A validated JWT provider.
#[derive(Debug, Clone, PartialEq)]
pub struct JwtProviderSettings {
    /// Name.
    pub name: String,
    /// Issuer.
    pub issuer: String,
    /// Keys.
    pub keys: KeySource,
    /// Accepted audiences (absent: the resource URL).
    pub audiences: Option<Vec<String>>,
    /// Accepted algorithms (asymmetric only).
    pub algorithms: Vec<Algorithm>,
    /// Clock skew.
    pub clock_skew: Duration,
    /// Required claims.
    pub required_claims: Vec<(String, ClaimRequirement)>,
    /// Claim mapping.
    pub mapping: ClaimMapping,
    /// Background refresh period.
    pub refresh_interval: Duration,
    /// Least time between unknown-`kid` refetches.
    pub min_refetch_interval: Duration,
}

/// What a required claim must hold.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimRequirement {
    /// Present (any value).
    Present,
    /// Equal to (or, for list claims, containing) one of these.
    OneOf(Vec<serde_json::Value>),
}

/// Claim names for principal attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimMapping {
    /// Subject.
    pub subject: String,
    /// Tenant (candidates in order).
    pub tenant: Vec<String>,
    /// Groups.
    pub groups: String,
    /// Roles.
    pub roles: String,
    /// Scopes (candidates in order).
    pub scopes: Vec<String>,
    /// Client id (candidates in order).
    pub client_id: Vec<String>,
    /// Agent id.
    pub agent_id: String,
    /// Extra attributes.
    pub attributes: Vec<(String, String)>,
}

/// DPoP settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DpopSettings {
    /// Mode.
    pub mode: DpopMode,
    /// Accepted algorithms.
    pub algorithms: Vec<Algorithm>,
    /// `iat` window.
    pub max_age: Duration,
    /// Server nonces.
    pub nonce: bool,
}

/// SPIFFE settings of a virtual server.
#[derive(Debug, Clone, PartialEq)]
pub struct SpiffeSettings {
    /// Accept X.509-SVIDs from the connection.
    pub x509: bool,
    /// Allowed trust domains (absent: any trusted).
    pub allowed_trust_domains: Option<Vec<String>>,
    /// JWT-SVID bundle sources.
    pub trust_domains: Vec<TrustDomainSource>,
    /// JWT-SVID audiences (absent: the resource URL).
    pub audiences: Option<Vec<String>>,
}

/// A trust domain and its bundle source.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustDomainSource {
    /// Trust domain name.
    pub name: String,
    /// Source.
    pub source: BundleLocation,
}

/// Where a bundle is.
#[derive(Debug, Clone, PartialEq)]
pub enum BundleLocation {
    /// A file (SPIFFE bundle JSON or PEM).
    File(PathBuf),
    /// A bundle endpoint.
    Url(Url),
    /// The Workload API at this socket address.
    WorkloadApi(String),
}

/// A validated API key.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeySettings {
    /// Name.
    pub name: String,
    /// Owner.
    pub owner: String,
    /// SHA-256 of the key.
    pub hash: [u8; 32],
    /// Scopes.
    pub scopes: Vec<String>,
    /// Tenant.
    pub tenant: Option<String>,
    /// Expiry.
    pub expires_at: Option<SystemTime>,
    /// Revoked.
    pub revoked: bool,
}

/// mTLS settings of a listener.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientAuthSettings {
    /// Optional or required.
    pub mode: ClientAuthMode,
    /// CA files for non-SPIFFE certificates.
    pub ca_files: Vec<PathBuf>,
    /// SPIFFE trust domains.
    pub trust_domains: Vec<TrustDomainSource>,
}

fn parse_algs(raw: Option<&Vec<String>>, default: &[Algorithm], at: &str, p: &mut Problems) -> Vec<Algorithm> {
    let Some(raw) = raw else { return default.to_vec() };
    let mut out = Vec::new();
    for (i, a) in raw.iter().enumerate() {
        match Algorithm::from_str(a) {
            Ok(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => {
                p.push(format!("{at}[{i}]"), format!("{a} is symmetric; only asymmetric algorithms are accepted"))
            }
            Ok(alg) => out.push(alg),
            Err(_) => p.push(format!("{at}[{i}]"), format!("unknown algorithm {a:?} (`none` is never accepted)")),
        }
    }
    if raw.is_empty() {
        p.push(at, "at least one algorithm is required");
    }
    out
}

fn check_url(text: &str, at: &str, p: &mut Problems) -> Option<Url> {
    match Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        _ => {
            p.push(at, format!("{text:?} is not an absolute http(s) URL"));
            None
        }
    }
}

/// Like [`check_url`], and the URL must be https unless it is loopback:
/// keys fetched over plain http could be swapped by anyone on the path.
fn check_key_url(text: &str, at: &str, p: &mut Problems) -> Option<Url> {
    let u = check_url(text, at, p)?;
    if !crate::auth::jwks::key_url_allowed(&u) {
        p.push(at, format!("{text:?} must be https (plain http only to a loopback host)"));
    }
    Some(u)
}

fn jwt_provider(r: &RawJwtProvider, at: &str, p: &mut Problems) -> Option<JwtProviderSettings> {
    if r.jwks.is_none() && r.jwks_file.is_none() && r.jwks_url.is_none() {
        check_key_url(&r.issuer, &format!("{at}.issuer"), p);
    } else {
        check_url(&r.issuer, &format!("{at}.issuer"), p);
    }
    let sources = [r.jwks_url.is_some(), r.jwks.is_some(), r.jwks_file.is_some()].iter().filter(|x| **x).count();
    if sources > 1 {
        p.push(at, "at most one of `jwksUrl`, `jwks`, `jwksFile`");
    }
    let keys = if let Some(u) = &r.jwks_url {
        KeySource::Url(check_key_url(u, &format!("{at}.jwksUrl"), p)?)
    } else if let Some(v) = &r.jwks {
        match serde_json::from_value::<JwkSet>(v.clone()) {
            Ok(k) => KeySource::Static(k),
            Err(e) => {
                p.push(format!("{at}.jwks"), format!("not a JWKS: {e}"));
                return None;
            }
        }
    } else if let Some(f) = &r.jwks_file {
        let parsed = std::fs::read(f)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<JwkSet>(&b).map_err(|e| format!("not a JWKS: {e}")));
        match parsed {
            Ok(k) => KeySource::Static(k),
            Err(e) => {
                p.push(format!("{at}.jwksFile"), format!("{f}: {e}"));
                return None;
            }
        }
    } else {
        KeySource::Discovery
    };
    let mut required_claims = Vec::new();
    for (k, v) in &r.required_claims {
        let req = match v {
            serde_json::Value::Bool(true) => ClaimRequirement::Present,
            serde_json::Value::Array(a) if !a.is_empty() => ClaimRequirement::OneOf(a.clone()),
            serde_json::Value::String(_) | serde_json::Value::Number(_) | serde_json::Value::Bool(false) => {
                ClaimRequirement::OneOf(vec![v.clone()])
            }
            _ => {
                p.push(format!("{at}.requiredClaims.{k}"), "must be true, a value, or a non-empty list of values");
                continue;
            }
        };
        required_claims.push((k.clone(), req));
    }
    let m = r.claims.clone().unwrap_or_default();
    let or =
        |v: Option<String>, d: &[&str]| v.map(|x| vec![x]).unwrap_or_else(|| d.iter().map(|s| s.to_string()).collect());
    let RawClaimMapping { subject, tenant, groups, roles, scopes, client_id, agent_id, attributes } = m;
    let mapping = ClaimMapping {
        subject: subject.unwrap_or_else(|| "sub".into()),
        tenant: or(tenant, &["tid", "tenant"]),
        groups: groups.unwrap_or_else(|| "groups".into()),
        roles: roles.unwrap_or_else(|| "roles".into()),
        scopes: or(scopes, &["scope", "scp"]),
        client_id: or(client_id, &["client_id", "azp"]),
        agent_id: agent_id.unwrap_or_else(|| "agent_id".into()),
        attributes: attributes.into_iter().collect(),
    };
    Some(JwtProviderSettings {
        name: r.name.clone().unwrap_or_else(|| r.issuer.clone()),
        issuer: r.issuer.clone(),
        keys,
        audiences: r.audiences.clone(),
        algorithms: parse_algs(r.algorithms.as_ref(), &DEFAULT_TOKEN_ALGS, &format!("{at}.algorithms"), p),
        clock_skew: r.clock_skew.map(|d| d.0).unwrap_or(Duration::from_secs(60)),
        required_claims,
        mapping,
        refresh_interval: r.refresh_interval.map(|d| d.0).unwrap_or(Duration::from_secs(300)),
        min_refetch_interval: r.min_refetch_interval.map(|d| d.0).unwrap_or(Duration::from_secs(30)),
    })
}

fn scopes(r: Option<&RawScopes>, at: &str, p: &mut Problems) -> ScopeRules {
    let Some(r) = r else { return ScopeRules::default() };
    let mut tools = Vec::new();
    for (g, s) in &r.tools {
        match Glob::new(g) {
            Ok(glob) => tools.push((glob.compile_matcher(), s.clone())),
            Err(e) => p.push(format!("{at}.tools.{g}"), format!("invalid glob: {e}")),
        }
    }
    let mut all: Vec<String> = Vec::new();
    for s in r.required.iter().chain(r.methods.values().flatten()).chain(r.tools.values().flatten()) {
        if s.is_empty() || s.contains([' ', '"', '\\']) {
            p.push(at, format!("{s:?} is not a valid scope token"));
        }
        if !all.contains(s) {
            all.push(s.clone());
        }
    }
    ScopeRules {
        supported: r.supported.clone().unwrap_or(all),
        required: r.required.clone(),
        methods: r.methods.clone().into_iter().collect(),
        tools,
    }
}

fn dpop(r: Option<&RawDpop>, at: &str, p: &mut Problems) -> DpopSettings {
    DpopSettings {
        mode: r.map(|d| d.mode.unwrap_or_default()).unwrap_or(DpopMode::Off),
        algorithms: parse_algs(
            r.and_then(|d| d.algorithms.as_ref()),
            &DEFAULT_DPOP_ALGS,
            &format!("{at}.algorithms"),
            p,
        ),
        max_age: r.and_then(|d| d.max_age).map(|d| d.0).unwrap_or(Duration::from_secs(60)),
        nonce: r.is_some_and(|d| d.nonce),
    }
}

/// Validates one trust domain source.
pub(super) fn trust_domain(r: &RawTrustDomain, at: &str, p: &mut Problems) -> Option<TrustDomainSource> {
    if crate::auth::spiffe::TrustDomain::parse(&r.name).is_err() {
        p.push(format!("{at}.name"), format!("{:?} is not a valid SPIFFE trust domain", r.name));
    }
    let n = [r.bundle_file.is_some(), r.bundle_url.is_some(), r.workload_api.is_some()].iter().filter(|x| **x).count();
    if n != 1 {
        p.push(at, "exactly one of `bundleFile`, `bundleUrl`, `workloadApi` is required");
        return None;
    }
    let source = if let Some(f) = &r.bundle_file {
        if !std::path::Path::new(f).is_file() {
            p.push(format!("{at}.bundleFile"), format!("file {f:?} does not exist"));
        }
        BundleLocation::File(f.into())
    } else if let Some(u) = &r.bundle_url {
        BundleLocation::Url(check_key_url(u, &format!("{at}.bundleUrl"), p)?)
    } else {
        let w = r.workload_api.clone().unwrap_or_default();
        let addr = if w == "env" { std::env::var("SPIFFE_ENDPOINT_SOCKET").unwrap_or_default() } else { w };
        if addr.is_empty() {
            p.push(format!("{at}.workloadApi"), "no socket (SPIFFE_ENDPOINT_SOCKET is not set)");
        }
        BundleLocation::WorkloadApi(addr)
    };
    Some(TrustDomainSource { name: r.name.clone(), source })
}

fn spiffe(r: Option<&RawSpiffeAuth>, at: &str, p: &mut Problems) -> Option<SpiffeSettings> {
    let r = r?;
    let trust_domains = r
        .trust_domains
        .iter()
        .enumerate()
        .filter_map(|(i, t)| trust_domain(t, &format!("{at}.trustDomains[{i}]"), p))
        .collect();
    Some(SpiffeSettings {
        x509: r.x509.unwrap_or(true),
        allowed_trust_domains: r.allowed_trust_domains.clone(),
        trust_domains,
        audiences: r.audiences.clone(),
    })
}

fn api_key(r: &RawApiKey, at: &str, p: &mut Problems) -> Option<ApiKeySettings> {
    let hex = r.hash.strip_prefix("sha256:").unwrap_or("");
    let mut hash = [0u8; 32];
    let ok = hex.len() == 64
        && hex.as_bytes().chunks(2).zip(hash.iter_mut()).all(|(c, out)| {
            std::str::from_utf8(c).ok().and_then(|s| u8::from_str_radix(s, 16).ok()).map(|b| *out = b).is_some()
        });
    if !ok {
        p.push(format!("{at}.hash"), "must be `sha256:` followed by 64 hex digits (see `warden apikey`)");
        return None;
    }
    let expires_at = match &r.expires_at {
        None => None,
        Some(t) => match humantime::parse_rfc3339_weak(t) {
            Ok(t) => Some(t),
            Err(e) => {
                p.push(format!("{at}.expiresAt"), format!("not an RFC 3339 time: {e}"));
                None
            }
        },
    };
    Some(ApiKeySettings {
        name: r.name.clone(),
        owner: r.owner.clone(),
        hash,
        scopes: r.scopes.clone(),
        tenant: r.tenant.clone(),
        expires_at,
        revoked: r.revoked,
    })
}

/// Validates `virtualServers[i].auth`.
pub(super) fn validate_auth(r: &RawAuth, at: &str, p: &mut Problems) -> AuthSettings {
    if let Some(res) = &r.resource
        && let Some(u) = check_url(res, &format!("{at}.resource"), p)
        && u.fragment().is_some()
    {
        p.push(format!("{at}.resource"), "must not have a fragment");
    }
    let mut jwt = Vec::new();
    let mut names = BTreeSet::new();
    for (i, j) in r.jwt.iter().enumerate() {
        if let Some(s) = jwt_provider(j, &format!("{at}.jwt[{i}]"), p) {
            if !names.insert(s.issuer.clone()) {
                p.push(format!("{at}.jwt[{i}].issuer"), "two providers with the same issuer");
            }
            jwt.push(s);
        }
    }
    let mut key_names = BTreeSet::new();
    let mut api_keys = Vec::new();
    for (i, k) in r.api_keys.iter().enumerate() {
        if !key_names.insert(k.name.clone()) {
            p.push(format!("{at}.apiKeys[{i}].name"), format!("duplicate key name {:?}", k.name));
        }
        if let Some(k) = api_key(k, &format!("{at}.apiKeys[{i}]"), p) {
            api_keys.push(k);
        }
    }
    let api_key_header = match HeaderName::try_from(r.api_key_header.as_deref().unwrap_or("x-api-key")) {
        Ok(h) if h != http::header::AUTHORIZATION && h != http::header::COOKIE => h,
        _ => {
            p.push(format!("{at}.apiKeyHeader"), "not a usable header name");
            HeaderName::from_static("x-api-key")
        }
    };
    let spiffe = spiffe(r.spiffe.as_ref(), &format!("{at}.spiffe"), p);
    let dpop = dpop(r.dpop.as_ref(), &format!("{at}.dpop"), p);
    let has_credential = !jwt.is_empty() || !api_keys.is_empty() || spiffe.is_some();
    if !has_credential {
        p.push(at, "no way to authenticate: configure `jwt`, `apiKeys` or `spiffe` (or remove `auth`)");
    }
    if r.require_bound_tokens && dpop.mode == DpopMode::Off && !spiffe.as_ref().is_some_and(|s| s.x509) {
        p.push(format!("{at}.requireBoundTokens"), "needs `dpop` or mTLS (`spiffe.x509`) to bind tokens");
    }
    if r.serve_authorization_server_metadata && jwt.is_empty() {
        p.push(format!("{at}.serveAuthorizationServerMetadata"), "needs at least one `jwt` provider");
    }
    AuthSettings {
        mode: r.mode.unwrap_or_default(),
        resource: r.resource.clone(),
        authorization_servers: r.authorization_servers.clone(),
        scopes: scopes(r.scopes.as_ref(), &format!("{at}.scopes"), p),
        jwt,
        dpop,
        require_bound_tokens: r.require_bound_tokens,
        spiffe,
        api_keys,
        api_key_header,
        exempt_methods: r.exempt_methods.iter().cloned().collect(),
        serve_as_metadata: r.serve_authorization_server_metadata,
    }
}

/// Validates `listeners[i].tls.clientAuth`.
pub(super) fn validate_client_auth(r: &RawClientAuth, at: &str, p: &mut Problems) -> ClientAuthSettings {
    for (i, f) in r.ca_files.iter().enumerate() {
        if !std::path::Path::new(f).is_file() {
            p.push(format!("{at}.caFiles[{i}]"), format!("file {f:?} does not exist"));
        }
    }
    let trust_domains: Vec<TrustDomainSource> = r
        .trust_domains
        .iter()
        .enumerate()
        .filter_map(|(i, t)| trust_domain(t, &format!("{at}.trustDomains[{i}]"), p))
        .collect();
    if r.ca_files.is_empty() && trust_domains.is_empty() {
        p.push(at, "needs `caFiles` or `trustDomains`");
    }
    ClientAuthSettings {
        mode: r.mode.unwrap_or_default(),
        ca_files: r.ca_files.iter().map(PathBuf::from).collect(),
        trust_domains,
    }
}
