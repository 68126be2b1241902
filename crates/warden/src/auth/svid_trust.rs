//! The SPIFFE trust bundles a virtual server or a listener trusts, kept
//! current from their sources: a file (read at load), a bundle endpoint
//! (refetched at the bundle's `spiffe_refresh_hint`, default 5 minutes), or
//! the Workload API (every update replaces the domain's bundle).

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::principal::{AuthMethod, Principal, PrincipalKind};
use super::spiffe::{
    BundleSet, BundleSource, BundleWatcher, SpiffeError, TrustBundle, TrustDomain, WatchOptions, WorkloadEndpoint,
    validate_jwt_svid,
};
use crate::config::auth::{BundleLocation, TrustDomainSource};

/// Bundles of several trust domains.
pub struct SvidTrust {
    /// The current bundles.
    pub bundles: BundleSource,
    /// Background watchers (dropped with the trust).
    _tasks: Vec<tokio::task::AbortHandle>,
    _stops: Vec<tokio::sync::watch::Sender<bool>>,
}

impl Drop for SvidTrust {
    fn drop(&mut self) {
        for t in &self._tasks {
            t.abort();
        }
    }
}

fn read_file(td: &TrustDomain, path: &std::path::Path) -> Result<TrustBundle, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let parsed = if bytes.trim_ascii_start().starts_with(b"{") {
        TrustBundle::parse_json(td.clone(), &bytes)
    } else {
        TrustBundle::from_pem(td.clone(), &bytes)
    };
    parsed.map_err(|e| format!("{}: {e}", path.display()))
}

/// SHA-256 (hex) over the contents of the bundle files among `domains`.
pub fn files_fingerprint(domains: &[TrustDomainSource]) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for d in domains {
        if let BundleLocation::File(path) = &d.source {
            let bytes = std::fs::read(path).unwrap_or_default();
            ctx.update(&(bytes.len() as u64).to_be_bytes());
            ctx.update(&bytes);
        }
    }
    ctx.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn put(source: &BundleSource, bundle: TrustBundle) {
    source.put_bundle(bundle);
}

impl SvidTrust {
    /// Loads file bundles now and starts watchers for the others.
    pub fn start(domains: &[TrustDomainSource], http: &reqwest::Client) -> Arc<SvidTrust> {
        let source = BundleSource::new(BundleSet::new());
        let mut tasks = Vec::new();
        let mut stops = Vec::new();
        for d in domains {
            let Ok(td) = TrustDomain::parse(&d.name) else { continue };
            match &d.source {
                BundleLocation::File(path) => match read_file(&td, path) {
                    Ok(b) => put(&source, b),
                    // Validated at load; a file that vanished since leaves the domain untrusted.
                    Err(e) => warn!(trust_domain = %td.as_str(), error = %e, "cannot read trust bundle"),
                },
                BundleLocation::Url(url) => {
                    let (src, http, url, td) = (source.clone(), http.clone(), url.clone(), td.clone());
                    tasks.push(tokio::spawn(poll_endpoint(src, http, url, td)).abort_handle());
                }
                BundleLocation::WorkloadApi(addr) => match WorkloadEndpoint::parse(addr) {
                    Ok(ep) => {
                        // The watcher stops when its shutdown sender (kept in
                        // `SvidTrust`) is dropped, and is aborted then too.
                        let (tx, rx) = tokio::sync::watch::channel(false);
                        let watcher = BundleWatcher::new(ep, source.clone(), WatchOptions::default())
                            .for_trust_domain(td.clone());
                        tasks.push(watcher.spawn(rx).abort_handle());
                        stops.push(tx);
                    }
                    Err(e) => warn!(trust_domain = %td.as_str(), error = %e, "invalid Workload API address"),
                },
            }
        }
        Arc::new(SvidTrust { bundles: source, _tasks: tasks, _stops: stops })
    }

    /// Validates a JWT-SVID for `audiences`; the workload principal.
    pub fn verify(&self, token: &str, audiences: &[String]) -> Result<Principal, SpiffeError> {
        let svid = validate_jwt_svid(token, &self.bundles.snapshot(), audiences, Duration::from_secs(30))?;
        let mut p = Principal::anonymous();
        p.kind = PrincipalKind::Workload;
        p.subject = svid.id.to_string();
        p.issuer = Some(svid.id.trust_domain().id_string());
        p.workload = Some(svid.id.to_string());
        p.method = AuthMethod::JwtSvid;
        p.expires_at = Some(svid.expiry);
        Ok(p)
    }
}

async fn poll_endpoint(source: BundleSource, http: reqwest::Client, url: url::Url, td: TrustDomain) {
    let mut failures = 0u32;
    loop {
        let fetched = async {
            let r = http.get(url.clone()).timeout(Duration::from_secs(10)).send().await.map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("status {}", r.status()));
            }
            let bytes = super::jwks::read_capped(r, 1 << 20).await?;
            TrustBundle::parse_json(td.clone(), &bytes).map_err(|e| e.to_string())
        }
        .await;
        let wait = match fetched {
            Ok(b) => {
                failures = 0;
                let hint = b.refresh_hint().unwrap_or(Duration::from_secs(300));
                info!(trust_domain = %td.as_str(), "trust bundle fetched");
                put(&source, b);
                hint.clamp(Duration::from_secs(5), Duration::from_secs(3600))
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                warn!(trust_domain = %td.as_str(), url = %url, error = %e, "cannot fetch trust bundle; keeping the last one");
                Duration::from_secs(1u64 << failures.min(8)).min(Duration::from_secs(300))
            }
        };
        tokio::time::sleep(wait).await;
    }
}
