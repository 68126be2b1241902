//! Signing keys of one JWT issuer: fetched (by discovery or from a JWKS
//! URL) or fixed, cached, refreshed in the background, and refetched when a
//! token names an unknown `kid` — at most once per `min_refetch_interval`.
//! A fetch failure keeps the keys already known; with no keys at all, every
//! token is refused ("unavailable"), never accepted.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use parking_lot::Mutex;
use serde_json::Value;
use tracing::{debug, info, warn};
use url::Url;

use crate::config::auth::KeySource;

/// Why no key could be found.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The issuer has no key with this `kid` (after a refetch, if allowed).
    #[error("no key with kid {0:?}")]
    UnknownKid(String),
    /// The token has no `kid` and the issuer has several keys.
    #[error("token has no kid and the issuer has {0} keys")]
    Ambiguous(usize),
    /// No keys could ever be loaded (JWKS outage).
    #[error("signing keys are unavailable")]
    Unavailable,
}

/// Why a fetch failed (logged, never shown to clients).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// HTTP failure.
    #[error("GET {0}: {1}")]
    Http(String, String),
    /// Metadata or JWKS not as expected.
    #[error("{0}: {1}")]
    Invalid(String, String),
}

/// A usable verification key.
pub struct Key {
    /// `kid`, when the JWK has one.
    pub kid: Option<String>,
    /// The `alg` the JWK pins, if any.
    pub alg: Option<Algorithm>,
    /// The verification key.
    pub decoding: DecodingKey,
}

#[derive(Default)]
struct Snapshot {
    loaded: bool,
    /// SHA-256 of the JWKS as fetched: any change of key material (also
    /// under a reused `kid`) changes it.
    fingerprint: [u8; 32],
    by_kid: HashMap<String, Arc<Key>>,
    all: Vec<Arc<Key>>,
}

/// The keys of one issuer.
pub struct KeyStore {
    issuer: String,
    source: KeySource,
    http: reqwest::Client,
    keys: ArcSwap<Snapshot>,
    /// The issuer's authorization-server metadata, when discovery found it.
    metadata: ArcSwap<Option<Value>>,
    last_fetch: Mutex<Option<Instant>>,
    fetch_lock: tokio::sync::Mutex<()>,
    min_refetch: Duration,
    refresh: Duration,
    /// Bumped whenever the key set is replaced (cached verifications end).
    generation: std::sync::atomic::AtomicU64,
}

fn usable(jwk: &Jwk) -> Option<Arc<Key>> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    if decoding.family() == jsonwebtoken::AlgorithmFamily::Hmac {
        // A symmetric key in a public JWKS is a misconfiguration; never use it.
        return None;
    }
    let alg = jwk.common.key_algorithm.and_then(|a| a.to_string().parse::<Algorithm>().ok());
    Some(Arc::new(Key { kid: jwk.common.key_id.clone(), alg, decoding }))
}

fn snapshot(set: &JwkSet) -> Snapshot {
    let all: Vec<Arc<Key>> = set.keys.iter().filter_map(usable).collect();
    let by_kid = all.iter().filter_map(|k| k.kid.clone().map(|kid| (kid, k.clone()))).collect();
    let text = serde_json::to_vec(set).unwrap_or_default();
    let mut fingerprint = [0u8; 32];
    fingerprint.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &text).as_ref());
    Snapshot { loaded: true, fingerprint, by_kid, all }
}

impl KeyStore {
    /// A key store; static keys are usable at once, others after [`Self::start`].
    pub fn new(
        issuer: &str,
        source: KeySource,
        http: reqwest::Client,
        refresh: Duration,
        min_refetch: Duration,
    ) -> Arc<KeyStore> {
        let initial = match &source {
            KeySource::Static(set) => snapshot(set),
            _ => Snapshot::default(),
        };
        Arc::new(KeyStore {
            issuer: issuer.to_string(),
            source,
            http,
            keys: ArcSwap::from_pointee(initial),
            metadata: ArcSwap::from_pointee(None),
            last_fetch: Mutex::new(None),
            fetch_lock: tokio::sync::Mutex::new(()),
            min_refetch,
            refresh,
            generation: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Starts background refreshing (not for static keys). The task ends
    /// when the store is dropped.
    pub fn start(self: &Arc<Self>) {
        if matches!(self.source, KeySource::Static(_)) {
            return;
        }
        let weak: Weak<KeyStore> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut failures: u32 = 0;
            loop {
                let Some(store) = weak.upgrade() else { return };
                let ok = store.fetch_now().await;
                let refresh = store.refresh;
                drop(store);
                // After a failure, retry sooner (1s, 2s, 4s … up to the refresh period).
                let wait = if ok {
                    failures = 0;
                    refresh
                } else {
                    failures = failures.saturating_add(1);
                    Duration::from_secs(1u64 << failures.min(8)).min(refresh)
                };
                tokio::time::sleep(wait).await;
            }
        });
    }

    /// Changes whenever the key set changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether keys are loaded.
    pub fn is_loaded(&self) -> bool {
        self.keys.load().loaded
    }

    /// The issuer's metadata document found by discovery.
    pub fn metadata(&self) -> Option<Value> {
        self.metadata.load().as_ref().clone()
    }

    /// The key for a token's `kid`; refetches once (rate-limited) when unknown.
    pub async fn key(&self, kid: Option<&str>) -> Result<Arc<Key>, KeyError> {
        if let Some(k) = self.lookup(kid)? {
            return Ok(k);
        }
        if self.may_refetch() {
            self.fetch_now().await;
        } else if !self.is_loaded() {
            // A fetch may be in flight (start-up): wait for it rather than
            // refusing the first requests.
            drop(self.fetch_lock.lock().await);
        }
        if !self.is_loaded() {
            return Err(KeyError::Unavailable);
        }
        self.lookup(kid)?.ok_or_else(|| KeyError::UnknownKid(kid.unwrap_or("").to_string()))
    }

    fn lookup(&self, kid: Option<&str>) -> Result<Option<Arc<Key>>, KeyError> {
        let snap = self.keys.load();
        if !snap.loaded {
            return if matches!(self.source, KeySource::Static(_)) { Err(KeyError::Unavailable) } else { Ok(None) };
        }
        match kid {
            Some(kid) => Ok(snap.by_kid.get(kid).cloned()),
            None if snap.all.len() == 1 => Ok(snap.all.first().cloned()),
            None => Err(KeyError::Ambiguous(snap.all.len())),
        }
    }

    fn may_refetch(&self) -> bool {
        if matches!(self.source, KeySource::Static(_)) {
            return false;
        }
        self.last_fetch.lock().is_none_or(|t| t.elapsed() >= self.min_refetch)
    }

    /// Fetches now (single flight); returns whether keys were loaded.
    async fn fetch_now(&self) -> bool {
        let _guard = self.fetch_lock.lock().await;
        // Another caller may have fetched while this one waited.
        if self.last_fetch.lock().is_some_and(|t| t.elapsed() < Duration::from_millis(200)) {
            return self.is_loaded();
        }
        *self.last_fetch.lock() = Some(Instant::now());
        match self.fetch().await {
            Ok(set) => {
                let snap = snapshot(&set);
                info!(issuer = %self.issuer, keys = snap.all.len(), "signing keys loaded");
                let same = {
                    let old = self.keys.load();
                    old.loaded && old.fingerprint == snap.fingerprint
                };
                self.keys.store(Arc::new(snap));
                if !same {
                    self.generation.fetch_add(1, std::sync::atomic::Ordering::Release);
                }
                true
            }
            Err(e) => {
                warn!(issuer = %self.issuer, error = %e, "cannot fetch signing keys; keeping the keys already known");
                false
            }
        }
    }

    async fn fetch(&self) -> Result<JwkSet, FetchError> {
        let jwks_url = match &self.source {
            KeySource::Static(set) => return Ok(set.clone()),
            KeySource::Url(u) => u.clone(),
            KeySource::Discovery => {
                let meta = discover(&self.http, &self.issuer).await?;
                let url = meta
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .and_then(|u| Url::parse(u).ok())
                    .filter(key_url_allowed)
                    .ok_or_else(|| {
                        FetchError::Invalid(self.issuer.clone(), "metadata has no valid https jwks_uri".into())
                    })?;
                self.metadata.store(Arc::new(Some(meta)));
                url
            }
        };
        let body = get_json(&self.http, &jwks_url).await?;
        serde_json::from_value::<JwkSet>(body).map_err(|e| FetchError::Invalid(jwks_url.to_string(), e.to_string()))
    }
}

/// Reads a response body, refusing one larger than `cap` bytes as it streams.
pub async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if out.len() + chunk.len() > cap {
            return Err(format!("document larger than {cap} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Whether `url` may carry keys: https, or http to a loopback host (tests,
/// sidecars). Plain http elsewhere would let anyone on the path swap keys.
pub fn key_url_allowed(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

async fn get_json(http: &reqwest::Client, url: &Url) -> Result<Value, FetchError> {
    let err = |e: String| FetchError::Http(url.to_string(), e);
    let resp = http
        .get(url.clone())
        .header("accept", "application/json")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| err(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(err(format!("status {}", resp.status())));
    }
    let bytes = read_capped(resp, 1 << 20).await.map_err(err)?;
    serde_json::from_slice(&bytes).map_err(|e| FetchError::Invalid(url.to_string(), e.to_string()))
}

/// The metadata URLs tried for `issuer`, in order: OpenID discovery
/// (appended), RFC 8414 path-inserted, OpenID path-inserted.
pub fn discovery_urls(issuer: &str) -> Vec<Url> {
    let mut out = Vec::new();
    let trimmed = issuer.trim_end_matches('/');
    if let Ok(u) = Url::parse(&format!("{trimmed}/.well-known/openid-configuration")) {
        out.push(u);
    }
    if let Ok(base) = Url::parse(issuer) {
        let path = base.path().trim_end_matches('/').to_string();
        for wk in ["oauth-authorization-server", "openid-configuration"] {
            let mut u = base.clone();
            u.set_path(&format!("/.well-known/{wk}{path}"));
            if !out.contains(&u) {
                out.push(u);
            }
        }
    }
    out
}

/// Fetches the issuer's metadata; its `issuer` must equal `issuer` exactly.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Value, FetchError> {
    let mut last = FetchError::Invalid(issuer.to_string(), "no metadata URL".into());
    for url in discovery_urls(issuer) {
        match get_json(http, &url).await {
            Ok(meta) => {
                if meta.get("issuer").and_then(Value::as_str) != Some(issuer) {
                    return Err(FetchError::Invalid(
                        url.to_string(),
                        "metadata `issuer` differs from the issuer".into(),
                    ));
                }
                return Ok(meta);
            }
            Err(e) => {
                debug!(url = %url, error = %e, "discovery attempt failed");
                last = e;
            }
        }
    }
    Err(last)
}
