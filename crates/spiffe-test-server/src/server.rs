//! [`TestWorkloadApi`]: the handle tests hold. It starts the gRPC server on
//! a Unix socket and changes what the server hands out.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnixListenerStream;

use crate::authority::{DomainAuthority, IssuedX509Svid, SvidShape};
use crate::error::TestServerError;
use crate::service::WorkloadApiService;
use crate::state::{Shared, trust_domain_of};

/// File name of the socket inside the directory given to [`TestWorkloadApi::start`].
pub const SOCKET_NAME: &str = "workload.sock";

/// A running test Workload API. Dropping it stops the server.
pub struct TestWorkloadApi {
    socket: PathBuf,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl std::fmt::Debug for TestWorkloadApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestWorkloadApi").field("socket", &self.socket).finish_non_exhaustive()
    }
}

impl TestWorkloadApi {
    /// Listens on `<dir>/workload.sock` (replacing a stale socket file) and
    /// serves until dropped. The socket accepts connections when this returns.
    /// The server starts with no trust domain and no identity.
    pub async fn start(dir: impl AsRef<Path>) -> Result<Self, TestServerError> {
        let socket = dir.as_ref().join(SOCKET_NAME);
        Self::start_at(&socket).await
    }

    /// Like [`start`](Self::start), at an exact socket path.
    pub async fn start_at(socket: &Path) -> Result<Self, TestServerError> {
        match std::fs::remove_file(socket) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let listener = UnixListener::bind(socket)?;
        let shared = Shared::new();
        let (stop, stopped) = oneshot::channel::<()>();
        let service = WorkloadApiService::new(shared.clone());
        let closing = shared.clone();
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
                    let _ = stopped.await;
                    closing.close(); // ends the open streams so graceful shutdown can finish
                })
                .await
        });
        Ok(Self { socket: socket.to_owned(), shared, stop: Some(stop), task: Some(task) })
    }

    /// Starts a server with one trust domain and the workload identity
    /// `spiffe_id` (which must be in `trust_domain`).
    pub async fn start_with_identity(
        dir: impl AsRef<Path>,
        trust_domain: &str,
        spiffe_id: &str,
    ) -> Result<Self, TestServerError> {
        let api = Self::start(dir).await?;
        api.add_trust_domain(trust_domain)?;
        api.set_identity(spiffe_id)?;
        Ok(api)
    }

    /// The socket path.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// The endpoint URI for clients: `unix://<socket path>` (the form
    /// `SPIFFE_ENDPOINT_SOCKET` takes).
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The number of changes so far; each change sends one new message on
    /// every open stream.
    pub fn generation(&self) -> u64 {
        self.shared.lock().generation
    }

    /// Adds a trust domain (a bare name, e.g. `example.org`) with a fresh CA
    /// and JWT key; an existing one is kept as is.
    pub fn add_trust_domain(&self, trust_domain: &str) -> Result<u64, TestServerError> {
        let authority = DomainAuthority::new(trust_domain)?;
        self.shared.change(|s| {
            s.domains.entry(trust_domain.to_owned()).or_insert(authority);
            Ok(())
        })
    }

    /// Sets the workload's SPIFFE ID and issues its X.509-SVID. Its trust
    /// domain must have been added.
    pub fn set_identity(&self, spiffe_id: &str) -> Result<u64, TestServerError> {
        self.shared.change(|s| {
            s.authority(trust_domain_of(spiffe_id)?)?;
            s.identity = Some(spiffe_id.to_owned());
            s.reissue()
        })
    }

    /// Removes the workload's identity: `FetchX509SVID` and `FetchJWTSVID`
    /// then answer `PermissionDenied`, as SPIRE does for unknown workloads.
    pub fn clear_identity(&self) -> Result<u64, TestServerError> {
        self.shared.change(|s| {
            s.identity = None;
            s.reissue()
        })
    }

    /// Changes how the workload's X.509-SVID is shaped (for negative tests)
    /// and re-issues it.
    pub fn set_svid_shape(&self, shape: SvidShape) -> Result<u64, TestServerError> {
        self.shared.change(|s| {
            s.shape = shape;
            s.reissue()
        })
    }

    /// Sets the lifetime of JWT-SVIDs issued from now on.
    pub fn set_jwt_ttl(&self, ttl: Duration) {
        self.shared.lock().jwt_ttl = ttl;
    }

    /// Rotates everything: a new CA and JWT key (new `kid`) for every trust
    /// domain, and a new X.509-SVID. Every stream gets a new message.
    pub fn rotate(&self) -> Result<u64, TestServerError> {
        let names: Vec<String> = self.shared.lock().domains.keys().cloned().collect();
        let fresh = names.iter().map(|n| DomainAuthority::new(n)).collect::<Result<Vec<_>, _>>()?;
        self.shared.change(|s| {
            for authority in fresh {
                s.domains.insert(authority.trust_domain().to_owned(), authority);
            }
            s.reissue()
        })
    }

    /// Re-issues only the workload's X.509-SVID (same CAs).
    pub fn rotate_svid(&self) -> Result<u64, TestServerError> {
        self.shared.change(|s| s.reissue())
    }

    /// The CA certificate (DER) of `trust_domain`.
    pub fn ca_der(&self, trust_domain: &str) -> Result<Vec<u8>, TestServerError> {
        Ok(self.shared.lock().authority(trust_domain)?.ca_der().to_vec())
    }

    /// The JWT bundle (JWKS JSON) of `trust_domain`.
    pub fn jwks(&self, trust_domain: &str) -> Result<String, TestServerError> {
        Ok(self.shared.lock().authority(trust_domain)?.jwks())
    }

    /// The current `kid` of `trust_domain`'s JWT key.
    pub fn jwt_kid(&self, trust_domain: &str) -> Result<String, TestServerError> {
        Ok(self.shared.lock().authority(trust_domain)?.jwt_kid().to_owned())
    }

    /// Issues an X.509-SVID for any `spiffe_id` in any `shape`, without
    /// changing what the server hands out.
    pub fn issue_x509_svid(&self, spiffe_id: &str, shape: &SvidShape) -> Result<IssuedX509Svid, TestServerError> {
        self.shared.lock().issue(spiffe_id, shape)
    }

    /// Issues a JWT-SVID for `sub`, signed by `signer_trust_domain`'s key
    /// (normally `sub`'s own domain; another one for negative tests).
    pub fn issue_jwt_svid(
        &self,
        sub: &str,
        audience: &[&str],
        ttl: Duration,
        signer_trust_domain: &str,
    ) -> Result<String, TestServerError> {
        let audience: Vec<String> = audience.iter().map(|a| (*a).to_owned()).collect();
        self.shared.lock().authority(signer_trust_domain)?.sign_jwt(sub, &audience, ttl)
    }

    /// Stops the server: open streams end, then the listener closes.
    pub async fn shutdown(mut self) -> Result<(), TestServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => match tokio::time::timeout(Duration::from_secs(10), task).await {
                Ok(Ok(result)) => result.map_err(Into::into),
                Ok(Err(join)) => Err(std::io::Error::other(join.to_string()).into()),
                Err(_) => Err(std::io::Error::other("server did not stop within 10 s").into()),
            },
            None => Ok(()),
        }
    }
}

impl Drop for TestWorkloadApi {
    fn drop(&mut self) {
        self.shared.close();
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}
