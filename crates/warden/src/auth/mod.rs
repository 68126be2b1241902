//! Front-door identity: who is calling. Every request that reaches an MCP
//! endpoint is turned into one typed [`Principal`] here, from a JWT access
//! token (optionally DPoP- or mTLS-bound), an X.509-SVID on the connection, a
//! JWT-SVID, or an API key. Later stages read the principal; nothing
//! downstream parses a token again.
//!
//! Order of checks for one request: credential headers well-formed (one
//! `Authorization`, at most one `DPoP`, not two kinds of credential) →
//! the credential (token / API key / connection SVID) → its binding (DPoP
//! proof and `cnf.jkt`, or `cnf.x5t#S256` against the client certificate)
//! → the workload on the connection, if any. Scopes are checked once the
//! JSON-RPC method is known ([`Authenticator::admit`]).

pub mod apikey;
pub mod challenge;
pub mod conn;
pub mod dpop;
pub mod jwks;
pub mod jwt;
pub mod metadata;
pub mod principal;
pub mod spiffe;
pub mod svid_trust;
#[cfg(test)]
mod tests;
mod token_cache;

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, Method};
use serde_json::Value;
use tracing::debug;

pub use challenge::{ChallengeInfo, Failure};
pub use conn::ConnInfo;
pub use principal::{AgentIdentity, AuthMethod, Binding, Principal, PrincipalKind};

use self::apikey::ApiKeyStore;
use self::dpop::{DpopError, DpopVerifier, cnf_jkt, cnf_x5t};
use self::jwks::KeyStore;
use self::jwt::{JwtProvider, TokenError};
use self::svid_trust::SvidTrust;
use self::token_cache::KeySourceRef;
use crate::config::auth::{AuthMode, AuthSettings, DpopMode};
use crate::config::{Listener, VirtualServerConfig};

/// The authenticator of one virtual server.
pub struct Authenticator {
    /// Settings.
    pub settings: Arc<AuthSettings>,
    /// Virtual server path.
    path: String,
    providers: Vec<JwtProvider>,
    dpop: Option<DpopVerifier>,
    api_keys: ApiKeyStore,
    svid: Option<Arc<SvidTrust>>,
    verified: token_cache::TokenCache,
}

/// Shared state that survives reloads: key stores by issuer and key source,
/// SPIFFE bundles, the DPoP replay cache and nonce secret.
pub struct AuthShared {
    key_stores: parking_lot::Mutex<HashMap<String, Arc<KeyStore>>>,
    svid_trust: parking_lot::Mutex<HashMap<String, Arc<SvidTrust>>>,
    replay: Arc<dpop::ReplayCache>,
    /// Keys DPoP nonces; per process, so replicas behind one balancer answer
    /// `use_dpop_nonce` once for a nonce another minted.
    nonce_secret: [u8; 32],
}

impl Default for AuthShared {
    fn default() -> Self {
        let mut nonce_secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce_secret);
        AuthShared {
            key_stores: Default::default(),
            svid_trust: Default::default(),
            replay: Arc::default(),
            nonce_secret,
        }
    }
}

impl AuthShared {
    fn key_store(&self, p: &crate::config::auth::JwtProviderSettings, http: &reqwest::Client) -> Arc<KeyStore> {
        let id = format!("{}|{:?}|{:?}|{:?}", p.issuer, p.keys, p.refresh_interval, p.min_refetch_interval);
        let mut map = self.key_stores.lock();
        map.entry(id)
            .or_insert_with(|| {
                let ks =
                    KeyStore::new(&p.issuer, p.keys.clone(), http.clone(), p.refresh_interval, p.min_refetch_interval);
                ks.start();
                ks
            })
            .clone()
    }

    /// Drops stores no runtime uses any more (their refresh tasks end).
    pub fn retain_used(&self) {
        self.key_stores.lock().retain(|_, ks| Arc::strong_count(ks) > 1);
        self.svid_trust.lock().retain(|_, t| Arc::strong_count(t) > 1);
    }
}

/// The facts about one request authentication looks at.
pub struct RequestFacts<'a> {
    /// Headers.
    pub headers: &'a HeaderMap,
    /// HTTP method.
    pub method: &'a Method,
    /// The authority of the request URI (HTTP/2 `:authority`), when present.
    pub authority: Option<&'a str>,
    /// The connection.
    pub conn: Option<&'a ConnInfo>,
    /// The listener.
    pub listener: &'a Listener,
}

fn one_header<'a>(h: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Failure> {
    let mut it = h.get_all(name).iter();
    let first = it.next();
    if it.next().is_some() {
        return Err(Failure::BadRequest("More than one credential header"));
    }
    match first {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| Failure::BadRequest("Malformed credential header")),
    }
}

enum Scheme {
    Bearer,
    Dpop,
}

impl Authenticator {
    /// Builds the authenticator of `vs` (None when `vs` has no `auth`).
    pub fn build(vs: &VirtualServerConfig, shared: &AuthShared, http: &reqwest::Client) -> Option<Authenticator> {
        let settings = vs.auth.clone()?;
        let providers =
            settings.jwt.iter().map(|p| JwtProvider::new(p.clone(), shared.key_store(p, http))).collect::<Vec<_>>();
        let dpop = (settings.dpop.mode != DpopMode::Off)
            .then(|| DpopVerifier::new(settings.dpop.clone(), &shared.nonce_secret, shared.replay.clone()));
        let svid = settings.spiffe.as_ref().filter(|s| !s.trust_domains.is_empty()).map(|s| {
            // Keyed by the sources and the bundle files' contents, so a reload
            // after a bundle file changed reads it again.
            let id = format!("{:?}|{}", s.trust_domains, svid_trust::files_fingerprint(&s.trust_domains));
            shared.svid_trust.lock().entry(id).or_insert_with(|| SvidTrust::start(&s.trust_domains, http)).clone()
        });
        Some(Authenticator {
            api_keys: ApiKeyStore::new(&settings.api_keys),
            settings,
            path: vs.path.clone(),
            providers,
            dpop,
            svid,
            verified: token_cache::TokenCache::default(),
        })
    }

    /// The canonical resource URL of this virtual server on `listener`.
    pub fn resource_url(&self, listener: &Listener) -> String {
        match &self.settings.resource {
            Some(r) => r.clone(),
            None => format!("{}{}", listener.base_url(), self.path),
        }
    }

    /// The Protected Resource Metadata URL (RFC 9728 §3.1: path-inserted).
    pub fn metadata_url(&self, listener: &Listener) -> String {
        metadata::prm_url(&self.resource_url(listener))
    }

    /// Challenge parameters for `listener`, asking for `scopes`.
    pub fn challenge_info(&self, listener: &Listener, scopes: &[String]) -> ChallengeInfo {
        let scope = if scopes.is_empty() { &self.settings.scopes.supported } else { scopes };
        ChallengeInfo {
            resource_metadata: self.metadata_url(listener),
            scope: (!scope.is_empty()).then(|| scope.join(" ")),
            bearer: self.settings.dpop.mode != DpopMode::Required,
            dpop_algs: self.dpop.as_ref().map(DpopVerifier::algorithms),
            dpop_nonce: self.dpop.as_ref().filter(|d| d.nonces()).map(DpopVerifier::current_nonce),
        }
    }

    /// Accepted JWT providers (for metadata).
    pub fn providers(&self) -> &[JwtProvider] {
        &self.providers
    }

    /// Whether DPoP is accepted, and its algorithms.
    pub fn dpop_algs(&self) -> Option<Vec<String>> {
        self.dpop.as_ref().map(|d| d.algorithms().split(' ').map(str::to_string).collect())
    }

    /// Authenticates a request from its headers and connection.
    pub async fn authenticate(&self, f: &RequestFacts<'_>) -> Result<Principal, Failure> {
        let authz = one_header(f.headers, "authorization")?;
        let proof = one_header(f.headers, "dpop")?;
        let api_key = one_header(f.headers, self.settings.api_key_header.as_str())?;
        if authz.is_some() && api_key.is_some() {
            return Err(Failure::BadRequest("Send one credential, not two"));
        }
        let cert = f.conn.and_then(|c| c.client_cert.as_deref());
        let workload = self.workload(cert)?;
        let mut principal = if let Some(a) = authz {
            let (scheme, token) = parse_authorization(a)?;
            self.token(scheme, token, proof, f, cert).await?
        } else if let Some(k) = api_key {
            if self.api_keys.is_empty() {
                return Err(Failure::InvalidToken);
            }
            self.api_keys.authenticate(k).map_err(|e| {
                debug!(error = %e, "API key refused");
                Failure::InvalidToken
            })?
        } else if let Some(w) = &workload {
            w.clone()
        } else if self.settings.mode == AuthMode::Optional {
            Principal::anonymous()
        } else {
            return Err(Failure::Missing);
        };
        if self.settings.require_bound_tokens
            && principal.binding == Binding::None
            && matches!(principal.method, AuthMethod::Jwt { .. } | AuthMethod::JwtSvid)
        {
            debug!("bearer token refused: bound tokens required");
            return Err(Failure::InvalidToken);
        }
        if let Some(w) = workload
            && principal.method != AuthMethod::X509Svid
        {
            // A token (or key) over an mTLS connection of a workload: the
            // workload is the agent acting for the token's subject.
            principal.workload = Some(w.subject.clone());
            if principal.agent.is_none() {
                principal.agent = Some(AgentIdentity { id: w.subject, source: "workload" });
            }
        }
        Ok(principal)
    }

    /// Whether workloads of trust domain `td` may call (X.509- and JWT-SVIDs alike).
    fn trust_domain_allowed(&self, td: &str) -> bool {
        let allowed = self.settings.spiffe.as_ref().and_then(|s| s.allowed_trust_domains.as_ref());
        allowed.is_none_or(|a| a.iter().any(|x| x == td))
    }

    /// The workload principal of the connection's X.509-SVID, if accepted here.
    fn workload(&self, cert: Option<&conn::ClientCert>) -> Result<Option<Principal>, Failure> {
        if self.settings.spiffe.as_ref().is_none_or(|s| !s.x509) {
            return Ok(None);
        }
        let Some(svid) = cert.and_then(|c| c.spiffe.as_ref()) else { return Ok(None) };
        let id = svid.as_ref().map_err(|e| {
            debug!(error = %e, "client certificate is not a valid X.509-SVID");
            Failure::InvalidToken
        })?;
        let td = id.trim_start_matches("spiffe://").split('/').next().unwrap_or("");
        if !self.trust_domain_allowed(td) {
            debug!(spiffe_id = %id, "trust domain not allowed on this virtual server");
            return Err(Failure::Forbidden);
        }
        let mut p = Principal::anonymous();
        p.kind = PrincipalKind::Workload;
        p.subject = id.clone();
        p.issuer = Some(format!("spiffe://{td}"));
        p.workload = Some(id.clone());
        p.method = AuthMethod::X509Svid;
        if let Some(c) = cert {
            p.binding = Binding::Mtls { x5t_s256: c.x5t_s256.clone() };
        }
        Ok(Some(p))
    }

    async fn token(
        &self,
        scheme: Scheme,
        token: &str,
        proof: Option<&str>,
        f: &RequestFacts<'_>,
        cert: Option<&conn::ClientCert>,
    ) -> Result<Principal, Failure> {
        let resource = self.resource_url(f.listener);
        let verified = match self.verified.get(token, &resource, |s| self.key_generation(s)) {
            Some(v) => v,
            None => {
                let (p, cnf, source) = self.verify_token(token, &resource).await?;
                // The generation read after verifying: a rotation racing the
                // check makes the entry stale at once, never the reverse.
                let generation = self.key_generation(source);
                self.verified.put(token, &resource, (p, cnf, source), generation)
            }
        };
        let mut principal = verified.principal.clone();
        let cnf = verified.cnf.clone();
        self.check_binding(scheme, token, proof, f, cert, &resource, cnf, &mut principal)?;
        Ok(principal)
    }

    /// The generation of a key source (changes when its keys change).
    fn key_generation(&self, source: KeySourceRef) -> u64 {
        match source {
            KeySourceRef::Provider(i) => self.providers.get(i).map_or(u64::MAX, |p| p.keys.generation()),
            KeySourceRef::Svid => self.svid.as_ref().map_or(u64::MAX, |s| s.bundles.version()),
        }
    }

    /// Verifies a token's signature and claims (no binding checks).
    async fn verify_token(
        &self,
        token: &str,
        resource: &str,
    ) -> Result<(Principal, Option<Value>, KeySourceRef), Failure> {
        let resource = resource.to_string();
        let header = jsonwebtoken::decode_header(token).map_err(|e| {
            debug!(error = %e, "token is not a usable JWT");
            Failure::InvalidToken
        })?;
        let claims: serde_json::Map<String, Value> =
            jsonwebtoken::dangerous::insecure_decode_claims(token).map_err(|_| Failure::InvalidToken)?;
        let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
        let (principal, cnf, source) =
            if let Some((i, p)) = self.providers.iter().enumerate().find(|(_, p)| p.settings.issuer == iss) {
                let v = p.verify(token, &header, std::slice::from_ref(&resource)).await.map_err(|e| {
                    debug!(provider = %p.settings.name, error = %e, "access token refused");
                    if e.is_unavailable() { Failure::Unavailable } else { Failure::InvalidToken }
                })?;
                (v.principal, v.cnf, KeySourceRef::Provider(i))
            } else if let Some(svid) = &self.svid
                && claims.get("sub").and_then(Value::as_str).is_some_and(|s| s.starts_with("spiffe://"))
            {
                let auds = self
                    .settings
                    .spiffe
                    .as_ref()
                    .and_then(|s| s.audiences.clone())
                    .unwrap_or_else(|| vec![resource.clone()]);
                let p = svid.verify(token, &auds).map_err(|e| {
                    debug!(error = %e, "JWT-SVID refused");
                    Failure::InvalidToken
                })?;
                let td = p.subject.trim_start_matches("spiffe://").split('/').next().unwrap_or("");
                if !self.trust_domain_allowed(td) {
                    debug!(spiffe_id = %p.subject, "JWT-SVID trust domain not allowed on this virtual server");
                    return Err(Failure::Forbidden);
                }
                (p, None, KeySourceRef::Svid)
            } else {
                debug!(issuer = %TokenError::UnknownIssuer(iss.chars().take(100).collect()), "access token refused");
                return Err(Failure::InvalidToken);
            };
        Ok((principal, cnf, source))
    }

    /// The token's binding: DPoP proof and `cnf.jkt`, or `cnf.x5t#S256`.
    #[allow(clippy::too_many_arguments)]
    fn check_binding(
        &self,
        scheme: Scheme,
        token: &str,
        proof: Option<&str>,
        f: &RequestFacts<'_>,
        cert: Option<&conn::ClientCert>,
        resource: &str,
        cnf: Option<Value>,
        principal: &mut Principal,
    ) -> Result<(), Failure> {
        // Binding: DPoP (`cnf.jkt`) or certificate (`cnf.x5t#S256`). A `cnf`
        // Warden cannot enforce (another method, or a malformed one) is
        // refused rather than treated as a bearer token (RFC 7800 §3).
        if let Some(c) = &cnf
            && !dpop::cnf_is_enforceable(c)
        {
            debug!("token has a confirmation (cnf) Warden cannot enforce");
            return Err(Failure::InvalidToken);
        }
        let jkt = cnf_jkt(cnf.as_ref());
        match scheme {
            Scheme::Bearer => {
                if jkt.is_some() {
                    debug!("DPoP-bound token presented as Bearer");
                    return Err(Failure::InvalidToken);
                }
                if self.settings.dpop.mode == DpopMode::Required {
                    debug!("Bearer token refused: DPoP required");
                    return Err(Failure::InvalidToken);
                }
            }
            Scheme::Dpop => {
                let Some(verifier) = &self.dpop else {
                    return Err(Failure::InvalidToken);
                };
                let proof = proof.ok_or(Failure::InvalidDpop)?;
                let urls = self.htu_candidates(f, resource);
                let checked = verifier.verify(proof, f.method.as_str(), &urls, token).map_err(|e| {
                    debug!(error = %e, "DPoP proof refused");
                    if e == DpopError::UseNonce { Failure::UseDpopNonce } else { Failure::InvalidDpop }
                })?;
                match jkt {
                    Some(j) if j == checked.jkt => {}
                    Some(_) => {
                        debug!("token is bound to another DPoP key");
                        return Err(Failure::InvalidDpop);
                    }
                    None => {
                        debug!("DPoP scheme with a token that is not DPoP-bound");
                        return Err(Failure::InvalidToken);
                    }
                }
                principal.binding = Binding::Dpop { jkt: checked.jkt };
            }
        }
        if let Some(x5t) = cnf_x5t(cnf.as_ref()) {
            if cert.map(|c| c.x5t_s256.as_str()) != Some(x5t) {
                debug!("certificate-bound token over a connection with another (or no) certificate");
                return Err(Failure::InvalidToken);
            }
            principal.binding = Binding::Mtls { x5t_s256: x5t.to_string() };
        }
        Ok(())
    }

    /// URLs a DPoP proof's `htu` may name: the canonical resource URL and,
    /// only where Warden cannot know its public name, the URL as addressed.
    /// With a public URL or an explicit `resource`, that URL alone; on a
    /// loopback listener, its loopback spellings (`localhost`, `127.0.0.1`,
    /// `[::1]` with the port); on a listener without a public URL, the
    /// `Host` (or HTTP/2 `:authority`) the client used.
    fn htu_candidates(&self, f: &RequestFacts<'_>, resource: &str) -> Vec<String> {
        let mut out = vec![resource.to_string()];
        if self.settings.resource.is_some() || f.listener.public_url.is_some() {
            return out;
        }
        let scheme = if f.listener.tls.is_some() { "https" } else { "http" };
        let port = f.listener.address.port();
        if f.listener.address.ip().is_loopback() {
            for host in ["localhost", "127.0.0.1", "[::1]"] {
                out.push(format!("{scheme}://{host}:{port}{}", self.path));
            }
        } else if let Some(host) = f.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).or(f.authority) {
            out.push(format!("{scheme}://{host}{}", self.path));
        }
        out
    }

    /// Admits an authenticated (or failed) request once its JSON-RPC method
    /// and tool name are known: exempt methods, then scopes.
    pub fn admit(
        &self,
        result: &Result<Principal, Failure>,
        method: Option<&str>,
        name: Option<&str>,
    ) -> Result<Principal, Failure> {
        let exempt = method.is_some_and(|m| self.settings.exempt_methods.contains(m));
        let principal = match result {
            // An exempt method needs no credential and no scope; a credential
            // that is sent must still be valid (never a downgrade).
            Ok(p) if exempt => return Ok(p.clone()),
            Ok(p) => p.clone(),
            Err(Failure::Missing) if exempt => return Ok(Principal::anonymous()),
            Err(e) => return Err(e.clone()),
        };
        // GET streams and DELETE carry no method: the scopes every call needs.
        let needed = match method {
            Some(m) => self.settings.scopes.needed(m, name),
            None => self.settings.scopes.required.clone(),
        };
        if needed.is_empty() || principal.kind == PrincipalKind::Workload {
            return Ok(principal);
        }
        if principal.kind == PrincipalKind::Anonymous {
            return Err(Failure::Missing);
        }
        if principal.missing_scopes(&needed).is_empty() {
            Ok(principal)
        } else {
            Err(Failure::InsufficientScope(needed))
        }
    }

    /// Scopes the call needs (for the 401 challenge).
    pub fn needed_scopes(&self, method: Option<&str>, name: Option<&str>) -> Vec<String> {
        method.map(|m| self.settings.scopes.needed(m, name)).unwrap_or_default()
    }
}

fn parse_authorization(v: &str) -> Result<(Scheme, &str), Failure> {
    let (scheme, rest) = v.split_once(' ').ok_or(Failure::BadRequest("Malformed Authorization header"))?;
    let token = rest.trim();
    let token68 = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'='))
    };
    if !token68(token) {
        return Err(Failure::BadRequest("Malformed Authorization header"));
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        Ok((Scheme::Bearer, token))
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Ok((Scheme::Dpop, token))
    } else {
        // Basic and others: not a credential this resource accepts.
        Err(Failure::Missing)
    }
}
