//! The server's state and the full-state messages every stream sends.
//!
//! Every change (a trust domain added, the identity or SVID shape set, a
//! rotation) goes through [`Shared::change`], which bumps the generation and
//! publishes a new [`Snapshot`] on a watch channel. Each open stream sends
//! the snapshot it starts with and then one message per change, so every
//! message is the whole current state, as the Workload API requires.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::authority::{DomainAuthority, IssuedX509Svid, SvidShape};
use crate::error::TestServerError;
use crate::proto::{JwtBundlesResponse, X509BundlesResponse, X509Svid, X509SvidResponse};

/// Everything the server knows.
pub(crate) struct State {
    /// Authorities by trust domain name.
    pub domains: BTreeMap<String, DomainAuthority>,
    /// The workload's SPIFFE ID, if it has one.
    pub identity: Option<String>,
    /// How its X.509-SVID is shaped.
    pub shape: SvidShape,
    /// The current X.509-SVID of `identity`.
    pub svid: Option<IssuedX509Svid>,
    /// Lifetime of issued JWT-SVIDs.
    pub jwt_ttl: Duration,
    /// Incremented on every change.
    pub generation: u64,
}

/// What the streams send, computed once per change.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// `FetchX509SVID` message; `None` while the workload has no identity.
    pub x509_svid: Option<X509SvidResponse>,
    /// `FetchX509Bundles` message.
    pub x509_bundles: X509BundlesResponse,
    /// `FetchJWTBundles` message.
    pub jwt_bundles: JwtBundlesResponse,
}

/// The trust domain name of `spiffe://<td>[/path]`.
pub(crate) fn trust_domain_of(spiffe_id: &str) -> Result<&str, TestServerError> {
    let rest = spiffe_id.strip_prefix("spiffe://").ok_or_else(|| TestServerError::InvalidSpiffeId(spiffe_id.into()))?;
    match rest.split('/').next() {
        Some(td) if !td.is_empty() => Ok(td),
        _ => Err(TestServerError::InvalidSpiffeId(spiffe_id.into())),
    }
}

impl State {
    pub(crate) fn new() -> Self {
        Self {
            domains: BTreeMap::new(),
            identity: None,
            shape: SvidShape::Valid,
            svid: None,
            jwt_ttl: Duration::from_secs(300),
            generation: 0,
        }
    }

    pub(crate) fn authority(&self, trust_domain: &str) -> Result<&DomainAuthority, TestServerError> {
        self.domains.get(trust_domain).ok_or_else(|| TestServerError::UnknownTrustDomain(trust_domain.into()))
    }

    /// Issues an X.509-SVID for `spiffe_id` in `shape`.
    pub(crate) fn issue(&self, spiffe_id: &str, shape: &SvidShape) -> Result<IssuedX509Svid, TestServerError> {
        let own = trust_domain_of(spiffe_id)?;
        match shape {
            SvidShape::Valid => self.authority(own)?.issue_x509(spiffe_id, &[spiffe_id.to_owned()]),
            SvidShape::TwoUriSans => {
                self.authority(own)?.issue_x509(spiffe_id, &[spiffe_id.to_owned(), format!("{spiffe_id}-alias")])
            }
            SvidShape::SignedByOtherDomain(other) => {
                self.authority(other)?.issue_x509(spiffe_id, &[spiffe_id.to_owned()])
            }
        }
    }

    /// Re-issues the workload's X.509-SVID for the current identity and shape.
    pub(crate) fn reissue(&mut self) -> Result<(), TestServerError> {
        self.svid = match &self.identity {
            Some(id) => Some(self.issue(id, &self.shape)?),
            None => None,
        };
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        let bundle_map = |skip: Option<&str>| {
            self.domains
                .iter()
                .filter(|(td, _)| Some(td.as_str()) != skip)
                .map(|(td, a)| (format!("spiffe://{td}"), a.ca_der().to_vec()))
                .collect()
        };
        let x509_svid = self.svid.as_ref().and_then(|svid| {
            let own = trust_domain_of(&svid.spiffe_id).ok()?;
            let authority = self.domains.get(own)?;
            Some(X509SvidResponse {
                svids: vec![X509Svid {
                    spiffe_id: svid.spiffe_id.clone(),
                    x509_svid: svid.cert_der.clone(),
                    x509_svid_key: svid.key_pkcs8_der.clone(),
                    bundle: authority.ca_der().to_vec(),
                    hint: String::new(),
                }],
                crl: Vec::new(),
                federated_bundles: bundle_map(Some(own)),
            })
        });
        Snapshot {
            x509_svid,
            x509_bundles: X509BundlesResponse { crl: Vec::new(), bundles: bundle_map(None) },
            jwt_bundles: JwtBundlesResponse {
                bundles: self.domains.iter().map(|(td, a)| (format!("spiffe://{td}"), a.jwks().into_bytes())).collect(),
            },
        }
    }
}

/// State shared by the handle and the gRPC service.
pub(crate) struct Shared {
    state: Mutex<State>,
    snapshots: watch::Sender<Arc<Snapshot>>,
    closing: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn new() -> Arc<Self> {
        let state = State::new();
        let (snapshots, _) = watch::channel(Arc::new(state.snapshot()));
        let (closing, _) = watch::channel(false);
        Arc::new(Self { state: Mutex::new(state), snapshots, closing })
    }

    /// The state, for reading or for changes that need no broadcast.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `f`; if it succeeds, bumps the generation and sends the new
    /// state to every open stream. Returns the new generation.
    pub(crate) fn change(
        &self,
        f: impl FnOnce(&mut State) -> Result<(), TestServerError>,
    ) -> Result<u64, TestServerError> {
        let mut state = self.lock();
        f(&mut state)?;
        state.generation += 1;
        // Sent under the lock, so streams never see generations out of order.
        self.snapshots.send_replace(Arc::new(state.snapshot()));
        Ok(state.generation)
    }

    /// A receiver of snapshots, starting with the current one.
    pub(crate) fn snapshots(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.subscribe()
    }

    /// A receiver that turns `true` when the server shuts down.
    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Ends every open stream.
    pub(crate) fn close(&self) {
        self.closing.send_replace(true);
    }
}
