//! Trust bundles: the keys a trust domain's SVIDs are checked against.
//!
//! - [`TrustBundle`]: one trust domain's X.509 authorities and JWT keys, read
//!   from the SPIFFE bundle format (a JWKS with `spiffe_sequence` and
//!   `spiffe_refresh_hint`), from a PEM file, or from Workload API parts.
//! - [`BundleSet`]: an immutable, cheaply clonable map trust domain → bundle.
//! - [`BundleSource`]: the current [`BundleSet`] behind an `ArcSwap`, replaced
//!   whole when bundles rotate; readers never wait.
//!
//! An empty bundle (no key of any kind) distrusts its trust domain.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::Jwk;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde_json::Value;
use tokio::sync::watch;
use x509_parser::prelude::FromDer as _;

use super::SpiffeError;
use super::id::TrustDomain;

/// `use` of a bundle key that authenticates X.509-SVIDs.
pub const USE_X509_SVID: &str = "x509-svid";
/// `use` of a bundle key that authenticates JWT-SVIDs.
pub const USE_JWT_SVID: &str = "jwt-svid";

/// Why a bundle could not be read. Key positions are 0-based indexes into
/// the `keys` array.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The document is not JSON, or not a JSON object.
    #[error("bundle is not a JSON object: {0}")]
    Json(String),
    /// The document has no `keys` array.
    #[error("bundle has no `keys` array")]
    MissingKeys,
    /// `spiffe_sequence` is not a non-negative integer.
    #[error("bundle `spiffe_sequence` must be a non-negative integer")]
    BadSequence,
    /// `spiffe_refresh_hint` is not a non-negative integer (seconds).
    #[error("bundle `spiffe_refresh_hint` must be a non-negative integer of seconds")]
    BadRefreshHint,
    /// A key is not a JSON object or has no `kty`.
    #[error("bundle key {0} is not a JWK object with a `kty`")]
    NotAJwk(usize),
    /// An `x509-svid` key does not have exactly one `x5c` entry.
    #[error("bundle key {index} (x509-svid) must have exactly one x5c entry; it has {count}")]
    X5cCount {
        /// Position of the key.
        index: usize,
        /// Number of `x5c` entries found.
        count: usize,
    },
    /// An `x5c` entry is not base64 of a DER certificate.
    #[error("bundle key {0} (x509-svid) x5c entry is not a base64 DER certificate")]
    BadCertificate(usize),
    /// A `jwt-svid` key has no `kid`.
    #[error("bundle key {0} (jwt-svid) has no `kid`")]
    MissingKid(usize),
    /// Two `jwt-svid` keys share a `kid`.
    #[error("bundle key {0} (jwt-svid) repeats a `kid`")]
    DuplicateKid(usize),
    /// A `jwt-svid` key is symmetric (`kty: oct`); JWT-SVIDs are signed asymmetrically.
    #[error("bundle key {0} (jwt-svid) is a symmetric key")]
    SymmetricKey(usize),
    /// A `jwt-svid` key could not be read as a public JWK.
    #[error("bundle key {0} (jwt-svid) is not a valid public JWK")]
    BadJwk(usize),
    /// A PEM file holds no certificate, or an unreadable one.
    #[error("PEM bundle: {0}")]
    Pem(String),
}

/// One trust domain's keys.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustBundle {
    trust_domain: TrustDomain,
    x509_authorities: Vec<CertificateDer<'static>>,
    jwt_keys: HashMap<String, Jwk>,
    sequence: Option<u64>,
    refresh_hint: Option<Duration>,
}

impl TrustBundle {
    /// An empty bundle: it distrusts `trust_domain` until keys are added.
    pub fn new(trust_domain: TrustDomain) -> Self {
        Self {
            trust_domain,
            x509_authorities: Vec::new(),
            jwt_keys: HashMap::new(),
            sequence: None,
            refresh_hint: None,
        }
    }

    /// Reads a bundle in the SPIFFE bundle format (a JWKS). Keys whose `use`
    /// or `kty` is missing or unknown are ignored, as the format requires.
    pub fn parse_json(trust_domain: TrustDomain, json: &[u8]) -> Result<Self, SpiffeError> {
        let doc = json_object(json)?;
        let mut bundle = Self::new(trust_domain);
        bundle.sequence = optional_u64(&doc, "spiffe_sequence", BundleError::BadSequence)?;
        bundle.refresh_hint =
            optional_u64(&doc, "spiffe_refresh_hint", BundleError::BadRefreshHint)?.map(Duration::from_secs);
        for (index, key) in keys(&doc)?.iter().enumerate() {
            match key.get("use").and_then(Value::as_str) {
                Some(USE_X509_SVID) => bundle.x509_authorities.push(x509_authority(index, key)?),
                Some(USE_JWT_SVID) => bundle.add_jwt_key(index, key)?,
                _ => {}
            }
        }
        Ok(bundle)
    }

    /// Reads X.509 authorities from a PEM file's `CERTIFICATE` blocks; the
    /// bundle has no JWT keys. A file without certificates is an error.
    pub fn from_pem(trust_domain: TrustDomain, pem: &[u8]) -> Result<Self, SpiffeError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BundleError::Pem(e.to_string()))?;
        if certs.is_empty() {
            return Err(BundleError::Pem("no CERTIFICATE block".into()).into());
        }
        for (i, cert) in certs.iter().enumerate() {
            if !is_certificate(cert) {
                return Err(BundleError::Pem(format!("certificate {i} is not valid DER")).into());
            }
        }
        Ok(Self { x509_authorities: certs, ..Self::new(trust_domain) })
    }

    /// Builds a bundle from the two halves the Workload API delivers: DER
    /// X.509 authorities (from `FetchX509Bundles`) and a JWKS of JWT
    /// authorities (from `FetchJWTBundles`), whose keys usually carry no
    /// `use`; keys with a `use` other than `jwt-svid` are ignored.
    pub fn from_workload_parts(
        trust_domain: TrustDomain,
        x509_authorities: Vec<CertificateDer<'static>>,
        jwt_jwks: Option<&[u8]>,
    ) -> Result<Self, SpiffeError> {
        let mut bundle = Self { x509_authorities, ..Self::new(trust_domain) };
        if let Some(json) = jwt_jwks {
            let doc = json_object(json)?;
            for (index, key) in keys(&doc)?.iter().enumerate() {
                match key.get("use") {
                    None => bundle.add_jwt_key(index, key)?,
                    Some(Value::String(u)) if u == USE_JWT_SVID => bundle.add_jwt_key(index, key)?,
                    Some(_) => {}
                }
            }
        }
        Ok(bundle)
    }

    /// Adds a JWT authority under `kid`, refusing symmetric keys and
    /// duplicate `kid`s (the error's index is the number of JWT keys
    /// already in the bundle).
    pub fn with_jwt_key(mut self, kid: &str, jwk: Jwk) -> Result<Self, SpiffeError> {
        if matches!(jwk.algorithm, jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_)) {
            return Err(BundleError::SymmetricKey(self.jwt_keys.len()).into());
        }
        if self.jwt_keys.contains_key(kid) {
            return Err(BundleError::DuplicateKid(self.jwt_keys.len()).into());
        }
        self.jwt_keys.insert(kid.to_owned(), jwk);
        Ok(self)
    }

    /// Adds an X.509 authority (a DER CA certificate).
    pub fn with_x509_authority(mut self, cert: CertificateDer<'static>) -> Self {
        self.x509_authorities.push(cert);
        self
    }

    /// Adds X.509 authorities (DER CA certificates).
    pub fn with_x509_authorities(mut self, certs: impl IntoIterator<Item = CertificateDer<'static>>) -> Self {
        self.x509_authorities.extend(certs);
        self
    }

    /// The trust domain these keys are authoritative for.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// CA certificates for X.509-SVID path validation.
    pub fn x509_authorities(&self) -> &[CertificateDer<'static>] {
        &self.x509_authorities
    }

    /// JWT-SVID verification keys by `kid`.
    pub fn jwt_keys(&self) -> &HashMap<String, Jwk> {
        &self.jwt_keys
    }

    /// The JWT-SVID key with `kid`, if any.
    pub fn jwt_key(&self, kid: &str) -> Option<&Jwk> {
        self.jwt_keys.get(kid)
    }

    /// `spiffe_sequence`, if the bundle carried one.
    pub fn sequence(&self) -> Option<u64> {
        self.sequence
    }

    /// `spiffe_refresh_hint`, if the bundle carried one.
    pub fn refresh_hint(&self) -> Option<Duration> {
        self.refresh_hint
    }

    /// Whether the bundle has no key at all, which distrusts the domain.
    pub fn is_empty(&self) -> bool {
        self.x509_authorities.is_empty() && self.jwt_keys.is_empty()
    }

    fn add_jwt_key(&mut self, index: usize, key: &Value) -> Result<(), BundleError> {
        match key.get("kty").and_then(Value::as_str) {
            None => return Err(BundleError::NotAJwk(index)),
            Some("oct") => return Err(BundleError::SymmetricKey(index)),
            Some("EC" | "RSA" | "OKP") => {}
            Some(_) => return Ok(()), // unknown key type: ignored, as the format requires
        }
        let kid = match key.get("kid").and_then(Value::as_str) {
            Some(kid) if !kid.is_empty() => kid.to_owned(),
            _ => return Err(BundleError::MissingKid(index)),
        };
        if self.jwt_keys.contains_key(&kid) {
            return Err(BundleError::DuplicateKid(index));
        }
        let jwk: Jwk = serde_json::from_value(key.clone()).map_err(|_| BundleError::BadJwk(index))?;
        if jsonwebtoken::DecodingKey::from_jwk(&jwk).is_err() {
            return Err(BundleError::BadJwk(index));
        }
        self.jwt_keys.insert(kid, jwk);
        Ok(())
    }
}

fn json_object(json: &[u8]) -> Result<serde_json::Map<String, Value>, BundleError> {
    match serde_json::from_slice::<Value>(json) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BundleError::Json("not an object".into())),
        Err(e) => Err(BundleError::Json(e.to_string())),
    }
}

fn keys(doc: &serde_json::Map<String, Value>) -> Result<&Vec<Value>, BundleError> {
    doc.get("keys").and_then(Value::as_array).ok_or(BundleError::MissingKeys)
}

fn optional_u64(
    doc: &serde_json::Map<String, Value>,
    name: &str,
    err: BundleError,
) -> Result<Option<u64>, BundleError> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or(err),
    }
}

fn x509_authority(index: usize, key: &Value) -> Result<CertificateDer<'static>, BundleError> {
    let entries = key.get("x5c").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let [entry] = entries else {
        return Err(BundleError::X5cCount { index, count: entries.len() });
    };
    let der = entry.as_str().and_then(|b64| STANDARD.decode(b64).ok()).ok_or(BundleError::BadCertificate(index))?;
    let cert = CertificateDer::from(der);
    if !is_certificate(&cert) {
        return Err(BundleError::BadCertificate(index));
    }
    Ok(cert)
}

fn is_certificate(der: &[u8]) -> bool {
    matches!(x509_parser::certificate::X509Certificate::from_der(der), Ok((rest, _)) if rest.is_empty())
}

/// An immutable snapshot: trust domain → bundle. Cloning is one reference
/// count increment.
#[derive(Debug, Clone, Default)]
pub struct BundleSet {
    bundles: Arc<HashMap<TrustDomain, Arc<TrustBundle>>>,
}

impl BundleSet {
    /// A set with no trust domain: nothing is trusted.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set holding `bundles`; a later bundle for the same domain wins.
    pub fn from_bundles(bundles: impl IntoIterator<Item = TrustBundle>) -> Self {
        let map = bundles.into_iter().map(|b| (b.trust_domain.clone(), Arc::new(b))).collect();
        Self { bundles: Arc::new(map) }
    }

    /// A copy of this set with `bundle` added or replaced.
    pub fn with_bundle(&self, bundle: TrustBundle) -> Self {
        let mut map = HashMap::clone(&self.bundles);
        map.insert(bundle.trust_domain.clone(), Arc::new(bundle));
        Self { bundles: Arc::new(map) }
    }

    /// The bundle of `trust_domain`, if it is known.
    pub fn get(&self, trust_domain: &TrustDomain) -> Option<&Arc<TrustBundle>> {
        self.bundles.get(trust_domain)
    }

    /// Every (trust domain, bundle) pair, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&TrustDomain, &Arc<TrustBundle>)> {
        self.bundles.iter()
    }

    /// Number of trust domains.
    pub fn len(&self) -> usize {
        self.bundles.len()
    }

    /// Whether no trust domain is known.
    pub fn is_empty(&self) -> bool {
        self.bundles.is_empty()
    }
}

/// The current [`BundleSet`], replaceable at runtime. Clones share state.
/// Reads are lock-free; each [`replace`](Self::replace) bumps a version that
/// [`subscribe`](Self::subscribe)rs can wait on.
#[derive(Debug, Clone)]
pub struct BundleSource {
    inner: Arc<SourceInner>,
}

#[derive(Debug)]
struct SourceInner {
    current: ArcSwap<BundleSet>,
    version: watch::Sender<u64>,
}

impl BundleSource {
    /// A source starting with `initial`, at version 0.
    pub fn new(initial: BundleSet) -> Self {
        let (version, _) = watch::channel(0);
        Self { inner: Arc::new(SourceInner { current: ArcSwap::from_pointee(initial), version }) }
    }

    /// The current set. Holding it never blocks a writer.
    pub fn snapshot(&self) -> BundleSet {
        BundleSet::clone(&self.inner.current.load())
    }

    /// Replaces the whole set and bumps the version.
    pub fn replace(&self, set: BundleSet) {
        self.inner.current.store(Arc::new(set));
        self.inner.version.send_modify(|v| *v += 1);
    }

    /// Atomically replaces the set with `f(current)`; `f` may run more than
    /// once if another writer got in first, so it must be pure.
    pub fn update(&self, f: impl Fn(&BundleSet) -> BundleSet) {
        self.inner.current.rcu(|current| f(current));
        self.inner.version.send_modify(|v| *v += 1);
    }

    /// Atomically adds or replaces one trust domain's bundle, keeping the others.
    pub fn put_bundle(&self, bundle: TrustBundle) {
        self.update(|set| set.with_bundle(bundle.clone()));
    }

    /// The number of replacements so far.
    pub fn version(&self) -> u64 {
        *self.inner.version.borrow()
    }

    /// A receiver that sees the version after every replacement.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.version.subscribe()
    }
}

impl Default for BundleSource {
    fn default() -> Self {
        Self::new(BundleSet::new())
    }
}

#[cfg(test)]
mod tests;
