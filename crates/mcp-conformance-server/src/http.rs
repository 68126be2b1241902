//! HTTP serving: the Streamable HTTP endpoint on an axum router, with `TCP_NODELAY` on
//! every accepted socket (without it, small SSE chunks on keep-alive connections wait
//! ~40 ms for delayed ACKs, and benchmarks measure the kernel instead of the code).

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use rmcp::{
    RoleServer,
    service::RequestContext,
    transport::{StreamableHttpServerConfig, StreamableHttpService, streamable_http_server::session::SessionId},
};
use tokio_util::sync::CancellationToken;

use crate::{
    server::{ConformanceServer, Shared},
    streams::ResumableSessions,
};

/// The Streamable HTTP header that names a session.
const SESSION_HEADER: &str = "mcp-session-id";

/// The axum app and the token that ends its streams on shutdown.
pub struct App {
    router: axum::Router,
    shutdown: CancellationToken,
}

/// Serves MCP at `path`. Requests must name a loopback host, the bound address or one of
/// `extra_hosts` in `Host` (DNS-rebinding protection).
pub fn router(path: &str, local: SocketAddr, extra_hosts: Vec<String>) -> anyhow::Result<App> {
    let sessions = Arc::new(ResumableSessions::default());
    let shared = Shared::new(sessions.clone())?;
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if !local.ip().is_unspecified() && !local.ip().is_loopback() {
        hosts.push(local.ip().to_string());
    }
    hosts.extend(extra_hosts);
    let shutdown = CancellationToken::new();
    let config =
        StreamableHttpServerConfig::default().with_allowed_hosts(hosts).with_cancellation_token(shutdown.child_token());
    let service = StreamableHttpService::new(move || Ok(ConformanceServer::new(&shared)), sessions, config);
    Ok(App { router: axum::Router::new().route_service(path, service), shutdown })
}

/// Serves one MCP session over stdin/stdout until stdin closes.
pub async fn serve_stdio() -> anyhow::Result<()> {
    use rmcp::ServiceExt as _;
    let shared = Shared::new(Arc::new(ResumableSessions::default()))?;
    let running = ConformanceServer::new(&shared).serve(rmcp::transport::stdio()).await.context("starting stdio")?;
    running.waiting().await.context("serving stdio")?;
    Ok(())
}

/// Serves until SIGINT or SIGTERM.
pub async fn serve(listener: tokio::net::TcpListener, app: App) -> anyhow::Result<()> {
    let listener = listener.tap_io(|socket| {
        if let Err(error) = socket.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
    });
    let shutdown = app.shutdown.clone();
    axum::serve(listener, app.router)
        .with_graceful_shutdown(async move {
            stop_signal().await;
            shutdown.cancel();
        })
        .await
        .context("serving HTTP")
}

async fn stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = interrupt => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// The Streamable HTTP session a request arrived on, if any.
pub fn session_id(ctx: &RequestContext<RoleServer>) -> Option<SessionId> {
    ctx.extensions.get::<http::request::Parts>()?.headers.get(SESSION_HEADER)?.to_str().ok().map(SessionId::from)
}
