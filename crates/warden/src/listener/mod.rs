//! Accepting connections: TCP (with `TCP_NODELAY`), optional TLS, HTTP/1.1
//! and HTTP/2, and graceful draining at shutdown.

mod mtls;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::auth::ConnInfo;
use crate::error::Body;

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Bind failed.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// TLS setup failed.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// A bound socket, ready to serve.
pub struct Bound {
    listener: TcpListener,
    /// The actual address (port 0 resolved).
    pub local_addr: SocketAddr,
}

/// Binds `addr`.
pub async fn bind(addr: SocketAddr) -> Result<Bound, ListenError> {
    let listener = TcpListener::bind(addr).await.map_err(|e| ListenError::Bind(addr, e))?;
    let local_addr = listener.local_addr().map_err(|e| ListenError::Bind(addr, e))?;
    Ok(Bound { listener, local_addr })
}

/// HTTP settings of one listener.
#[derive(Clone)]
pub struct HttpSettings {
    /// Serve HTTP/1.1.
    pub http1: bool,
    /// Serve HTTP/2.
    pub http2: bool,
    /// TLS, if on.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// How long to wait for in-flight requests at shutdown.
    pub drain: Duration,
}

/// Serves `bound` with `handler` until `shutdown` turns true, then drains.
pub async fn serve<H, F>(bound: Bound, settings: HttpSettings, handler: H, mut shutdown: watch::Receiver<bool>)
where
    H: Fn(hyper::Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<Body>> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let tls = settings.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    loop {
        let accepted = tokio::select! {
            a = bound.listener.accept() => a,
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() { break }
                continue;
            }
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        if !settings.http2 {
            builder = builder.http1_only();
        } else if !settings.http1 {
            builder = builder.http2_only();
        }
        let h = handler.clone();
        // Every request carries the facts of its connection (peer, client certificate).
        let make_svc = move |info: Arc<ConnInfo>| {
            let h = h.clone();
            service_fn(move |mut req: hyper::Request<Incoming>| {
                let h = h.clone();
                req.extensions_mut().insert(info.clone());
                async move { Ok::<_, std::convert::Infallible>(h(req).await) }
            })
        };
        match &tls {
            None => {
                let svc = make_svc(Arc::new(ConnInfo { peer: Some(peer), client_cert: None }));
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let svc = make_svc(Arc::new(crate::auth::conn::from_tls(peer, stream.get_ref().1)));
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    info!(addr = %bound.local_addr, "listener draining");
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(settings.drain) => warn!("drain timeout: closing remaining connections"),
    }
}
