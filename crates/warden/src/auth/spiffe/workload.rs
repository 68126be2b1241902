//! The SPIFFE Workload API, client side (standards §6), with the `spiffe`
//! crate:
//!
//! - [`BundleWatcher`]: a background task that streams X.509 and JWT bundles
//!   (`FetchX509Bundles`, `FetchJWTBundles`) and stores every update into a
//!   [`BundleSource`], replacing the whole set; it reconnects with bounded
//!   exponential backoff and stops when the shutdown signal turns `true`.
//! - [`fetch_x509_svid`]: Warden's own X.509-SVID (chain and key) as rustls
//!   types, for a TLS listener.
//!
//! The endpoint is `unix:///path` (or a bare absolute path), or whatever
//! `SPIFFE_ENDPOINT_SOCKET` names.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::time::Duration;

use futures::StreamExt as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;
use spiffe::WorkloadApiClient;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

use super::bundle::{BundleSet, BundleSource, TrustBundle};
use super::id::{SpiffeId, TrustDomain};
use super::{SpiffeError, x509};

/// The environment variable naming the Workload API endpoint.
pub const ENDPOINT_ENV: &str = "SPIFFE_ENDPOINT_SOCKET";

/// Why talking to the Workload API failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkloadError {
    /// `SPIFFE_ENDPOINT_SOCKET` is not set (or not UTF-8).
    #[error("SPIFFE_ENDPOINT_SOCKET is not set")]
    NoEndpoint,
    /// The endpoint is not `unix:///path`, a bare absolute path or `tcp://ip:port`.
    #[error("invalid Workload API endpoint: {0}")]
    Endpoint(String),
    /// The call or connection failed.
    #[error("Workload API: {0}")]
    Api(#[from] spiffe::WorkloadApiError),
    /// The call did not finish in time.
    #[error("Workload API: no answer within {0:?}")]
    Timeout(Duration),
    /// A stream was closed by the server.
    #[error("Workload API stream {0} ended")]
    StreamEnded(&'static str),
    /// The SVID or a trust domain name is not valid.
    #[error("Workload API sent invalid SPIFFE data: {0}")]
    Spiffe(#[from] SpiffeError),
    /// The SVID's certificate names another ID than the one the API reported.
    #[error("Workload API reported {reported} but the certificate says {certificate}")]
    IdMismatch {
        /// The ID in the response.
        reported: String,
        /// The ID in the leaf certificate.
        certificate: String,
    },
}

/// A Workload API endpoint, in the URI form the `spiffe` crate accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadEndpoint(String);

impl WorkloadEndpoint {
    /// Parses `unix:///path`, `unix:/path`, a bare absolute path or `tcp://ip:port`.
    pub fn parse(input: &str) -> Result<Self, WorkloadError> {
        let uri = if input.starts_with('/') { format!("unix://{input}") } else { input.to_owned() };
        spiffe::transport::Endpoint::parse(&uri).map_err(|e| WorkloadError::Endpoint(e.to_string()))?;
        Ok(Self(uri))
    }

    /// The endpoint named by `SPIFFE_ENDPOINT_SOCKET`.
    pub fn from_env() -> Result<Self, WorkloadError> {
        let value = std::env::var(ENDPOINT_ENV).map_err(|_| WorkloadError::NoEndpoint)?;
        Self::parse(&value)
    }

    /// The endpoint URI, e.g. `unix:///run/spire/agent.sock`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkloadEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Timing of a [`BundleWatcher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// First delay before reconnecting after a failure.
    pub initial_backoff: Duration,
    /// Upper bound of the (doubling) reconnect delay.
    pub max_backoff: Duration,
    /// Limit for connecting and opening the streams.
    pub connect_timeout: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Keeps a [`BundleSource`] equal to what the Workload API streams: the
/// whole set, or (see [`for_trust_domain`](Self::for_trust_domain)) one trust
/// domain's bundle within a set other writers also fill.
#[derive(Debug, Clone)]
pub struct BundleWatcher {
    endpoint: WorkloadEndpoint,
    source: BundleSource,
    options: WatchOptions,
    only: Option<TrustDomain>,
}

/// X.509 authorities and JWKS documents by trust domain, as last streamed.
type X509Parts = HashMap<TrustDomain, Vec<CertificateDer<'static>>>;
type JwtParts = HashMap<TrustDomain, Vec<u8>>;

impl BundleWatcher {
    /// A watcher that will write into `source`.
    pub fn new(endpoint: WorkloadEndpoint, source: BundleSource, options: WatchOptions) -> Self {
        Self { endpoint, source, options, only: None }
    }

    /// Restricts the watcher to `trust_domain`: each update replaces only that
    /// domain's bundle (with an empty one, distrusting it, if the update lacks
    /// it) and leaves the other domains in the source alone.
    pub fn for_trust_domain(mut self, trust_domain: TrustDomain) -> Self {
        self.only = Some(trust_domain);
        self
    }

    /// Runs [`run`](Self::run) on the current Tokio runtime.
    pub fn spawn(self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(self.run(shutdown))
    }

    /// Streams bundles until `shutdown` is `true` or its sender is dropped,
    /// reconnecting after failures. The source keeps its last good set while
    /// disconnected.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = self.options.initial_backoff;
        loop {
            if *shutdown.borrow_and_update() {
                return;
            }
            let mut delivered = false;
            match self.session(&mut shutdown, &mut delivered).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(endpoint = %self.endpoint, %error, ?backoff, "Workload API bundle stream failed; reconnecting")
                }
            }
            if delivered {
                backoff = self.options.initial_backoff;
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() { return },
            }
            backoff = (backoff * 2).min(self.options.max_backoff);
        }
    }

    /// One connection: `Ok(())` on shutdown, `Err` when it must be retried.
    async fn session(&self, shutdown: &mut watch::Receiver<bool>, delivered: &mut bool) -> Result<(), WorkloadError> {
        let limit = self.options.connect_timeout;
        let client = within(limit, WorkloadApiClient::connect_to(self.endpoint.as_str())).await?;
        let mut x509_stream = within(limit, client.stream_x509_bundles()).await?;
        let mut jwt_stream = within(limit, client.stream_jwt_bundles()).await?;
        let mut x509_parts: Option<X509Parts> = None;
        let mut jwt_parts: Option<JwtParts> = None;
        loop {
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return Ok(());
                    }
                    continue;
                }
                item = x509_stream.next() => match item {
                    Some(set) => x509_parts = Some(x509_from_api(&set?)),
                    None => return Err(WorkloadError::StreamEnded("FetchX509Bundles")),
                },
                item = jwt_stream.next() => match item {
                    Some(set) => jwt_parts = Some(jwt_from_api(&set?)),
                    None => return Err(WorkloadError::StreamEnded("FetchJWTBundles")),
                },
            }
            // Publish only once both halves of this connection have arrived,
            // so a reconnect never exposes a half-empty set.
            if let (Some(x509), Some(jwt)) = (&x509_parts, &jwt_parts) {
                self.publish(merge_parts(x509, jwt));
                *delivered = true;
            }
        }
    }

    fn publish(&self, set: BundleSet) {
        tracing::debug!(endpoint = %self.endpoint, trust_domains = set.len(), "trust bundles updated from the Workload API");
        match &self.only {
            None => self.source.replace(set),
            Some(td) => {
                let bundle = set.get(td).map_or_else(|| TrustBundle::new(td.clone()), |b| TrustBundle::clone(b));
                self.source.put_bundle(bundle);
            }
        }
    }
}

/// Starts a [`BundleWatcher`] for one trust domain with default options,
/// until aborted. `endpoint` is a `unix:` URI or a socket path; if it is
/// invalid the error is logged and the task ends at once.
pub fn spawn_domain_watcher(endpoint: &str, trust_domain: TrustDomain, source: BundleSource) -> AbortHandle {
    let endpoint = match WorkloadEndpoint::parse(endpoint) {
        Ok(e) => e,
        Err(error) => {
            tracing::error!(trust_domain = %trust_domain, %error, "cannot watch the Workload API");
            return tokio::spawn(async {}).abort_handle();
        }
    };
    let watcher = BundleWatcher::new(endpoint, source, WatchOptions::default()).for_trust_domain(trust_domain);
    let (keep_open, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        let _keep_open = keep_open; // stopped by abort, not by the signal
        watcher.run(shutdown).await;
    })
    .abort_handle()
}

async fn within<T, E: Into<WorkloadError>>(
    limit: Duration,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, WorkloadError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(WorkloadError::Timeout(limit)),
    }
}

/// Our form of a trust domain name the `spiffe` crate accepted; names our
/// stricter rules refuse are skipped (and so distrusted), with a warning.
fn checked_domain(name: &str) -> Option<TrustDomain> {
    TrustDomain::parse(name)
        .inspect_err(|error| tracing::warn!(trust_domain = name, %error, "Workload API bundle for an invalid trust domain ignored"))
        .ok()
}

fn x509_from_api(set: &spiffe::X509BundleSet) -> X509Parts {
    set.iter()
        .filter_map(|(td, bundle)| {
            let certs = bundle.authorities().iter().map(|c| CertificateDer::from(c.as_bytes().to_vec())).collect();
            Some((checked_domain(td.as_str())?, certs))
        })
        .collect()
}

fn jwt_from_api(set: &spiffe::JwtBundleSet) -> JwtParts {
    set.iter()
        .filter_map(|(td, bundle)| {
            let keys: Vec<Value> =
                bundle.jwt_authorities().filter_map(|a| serde_json::from_slice(a.jwk_json()).ok()).collect();
            let jwks = serde_json::json!({ "keys": keys }).to_string().into_bytes();
            Some((checked_domain(td.as_str())?, jwks))
        })
        .collect()
}

/// One [`TrustBundle`] per trust domain named by either stream. A domain
/// whose JWT keys are invalid keeps only its X.509 authorities (fail closed).
fn merge_parts(x509: &X509Parts, jwt: &JwtParts) -> BundleSet {
    let domains: BTreeSet<&TrustDomain> = x509.keys().chain(jwt.keys()).collect();
    BundleSet::from_bundles(domains.into_iter().map(|td| {
        let certs = x509.get(td).cloned().unwrap_or_default();
        match TrustBundle::from_workload_parts(td.clone(), certs.clone(), jwt.get(td).map(Vec::as_slice)) {
            Ok(bundle) => bundle,
            Err(error) => {
                tracing::error!(trust_domain = %td, %error, "invalid JWT bundle from the Workload API; its JWT keys are dropped");
                TrustBundle::new(td.clone()).with_x509_authorities(certs)
            }
        }
    }))
}

/// Warden's own X.509-SVID, ready for rustls.
pub struct WardenSvid {
    /// The SPIFFE ID in the leaf.
    pub id: SpiffeId,
    /// Leaf first, then intermediates.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// The leaf's PKCS#8 private key.
    pub private_key: PrivateKeyDer<'static>,
}

impl fmt::Debug for WardenSvid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WardenSvid")
            .field("id", &self.id.to_string())
            .field("cert_chain", &self.cert_chain.len())
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// Fetches the default X.509-SVID from the Workload API within `timeout`,
/// checking the leaf with [`x509::svid_id`].
pub async fn fetch_x509_svid(endpoint: &WorkloadEndpoint, timeout: Duration) -> Result<WardenSvid, WorkloadError> {
    let client = within(timeout, WorkloadApiClient::connect_to(endpoint.as_str())).await?;
    let svid = within(timeout, client.fetch_x509_svid()).await?;
    let cert_chain: Vec<CertificateDer<'static>> =
        svid.cert_chain().iter().map(|c| CertificateDer::from(c.as_bytes().to_vec())).collect();
    let id = x509::svid_id(svid.leaf().as_bytes())?;
    let reported = svid.spiffe_id().to_string();
    if reported != id.to_string() {
        return Err(WorkloadError::IdMismatch { reported, certificate: id.to_string() });
    }
    let private_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(svid.private_key().as_bytes().to_vec()));
    Ok(WardenSvid { id, cert_chain, private_key })
}

#[cfg(test)]
mod tests;
