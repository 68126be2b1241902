//! `mcp-conformance-server`: an MCP server over Streamable HTTP that implements every
//! tool, prompt and resource the official MCP conformance suite's server scenarios call,
//! plus two plain tools (`echo`, `add`) for load benchmarks.
//!
//! ```text
//! mcp-conformance-server --listen 127.0.0.1:0 [--path /mcp] [--allowed-host NAME]...
//! ```
//!
//! Once the socket is bound it prints exactly one line to stdout,
//! `listening on http://ADDR/PATH`, which tests wait for.

mod changes;
mod completion;
mod fixtures;
mod http;
mod logging;
mod mrtr;
mod prompts;
mod resources;
mod server;
mod streams;
mod tools;

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Command line of `mcp-conformance-server`.
#[derive(Debug, Parser)]
#[command(version, about = "MCP conformance backend for Warden's tests and benchmarks")]
struct Args {
    /// Address to bind, e.g. `127.0.0.1:8931`; port 0 picks a free port.
    #[arg(long, required_unless_present = "stdio")]
    listen: Option<SocketAddr>,
    /// Speak MCP over stdin/stdout instead of HTTP (for stdio-backend tests).
    #[arg(long, conflicts_with = "listen")]
    stdio: bool,
    /// Path the MCP endpoint is served at.
    #[arg(long, default_value = "/mcp")]
    path: String,
    /// Extra `Host` names accepted besides loopback (DNS-rebinding protection).
    #[arg(long = "allowed-host")]
    allowed_hosts: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")))
        .init();

    if args.stdio {
        return http::serve_stdio().await;
    }
    let Some(listen) = args.listen else { anyhow::bail!("--listen ADDR or --stdio is required") };
    anyhow::ensure!(args.path.starts_with('/'), "--path must start with '/', got {:?}", args.path);
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let app = http::router(&args.path, local, args.allowed_hosts)?;

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{local}{}", args.path)?;
    stdout.flush()?;
    drop(stdout);

    http::serve(listener, app).await
}
