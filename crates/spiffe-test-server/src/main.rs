//! `spiffe-test-server --socket PATH --trust-domain example.org --spiffe-id spiffe://example.org/agent`
//!
//! Serves the test Workload API on `PATH`, prints `listening on unix:PATH`
//! once the socket accepts connections, rotates every key and SVID on
//! `SIGHUP` (printing `rotated generation N`), and stops on `SIGINT` or
//! `SIGTERM`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use spiffe_test_server::{TestServerError, TestWorkloadApi};
use tokio::signal::unix::{SignalKind, signal};

/// A SPIFFE Workload API server for tests.
#[derive(Debug, Parser)]
#[command(name = "spiffe-test-server", version)]
struct Args {
    /// Unix socket path to listen on (replaced if it exists).
    #[arg(long)]
    socket: PathBuf,
    /// Trust domain to serve (repeatable); the first one holds the identity
    /// unless `--spiffe-id` names another.
    #[arg(long = "trust-domain", required = true)]
    trust_domains: Vec<String>,
    /// The workload's SPIFFE ID; without it the API answers PermissionDenied
    /// to SVID requests and serves bundles only.
    #[arg(long)]
    spiffe_id: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spiffe-test-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), TestServerError> {
    let api = TestWorkloadApi::start_at(&args.socket).await?;
    for td in &args.trust_domains {
        api.add_trust_domain(td)?;
    }
    if let Some(id) = &args.spiffe_id {
        api.set_identity(id)?;
    }
    let mut hangup = signal(SignalKind::hangup())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    say(&format!("listening on unix:{}", args.socket.display()))?;
    loop {
        tokio::select! {
            _ = hangup.recv() => say(&format!("rotated generation {}", api.rotate()?))?,
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        }
    }
    api.shutdown().await
}

fn say(line: &str) -> Result<(), TestServerError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}
