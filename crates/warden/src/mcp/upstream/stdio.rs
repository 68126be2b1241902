//! A local MCP server run as a child process, JSON-RPC over stdin/stdout.
//!
//! The process is started by the channel supervisor and restarted with
//! backoff when it exits. Its stderr goes to Warden's log at debug level.

use std::path::PathBuf;
use std::process::Stdio;

use futures::{FutureExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, LinesCodec};
use tracing::{debug, warn};

use super::UpstreamError;
use super::channel::{Connector, Link};
use crate::mcp::jsonrpc::Message;

/// How to start the child process.
#[derive(Debug, Clone)]
pub struct StdioConnector {
    /// Program.
    pub command: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub working_dir: Option<PathBuf>,
    /// Longest accepted line (one message), in bytes.
    pub max_message: usize,
}

impl Connector for StdioConnector {
    fn connect(&self) -> futures::future::BoxFuture<'_, Result<Link, UpstreamError>> {
        async move {
            let mut cmd = Command::new(&self.command);
            cmd.args(&self.args)
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            if let Some(dir) = &self.working_dir {
                cmd.current_dir(dir);
            }
            let mut child =
                cmd.spawn().map_err(|e| UpstreamError::Unavailable(format!("cannot start {:?}: {e}", self.command)))?;
            let (Some(mut stdin), Some(stdout), Some(stderr)) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take())
            else {
                return Err(UpstreamError::Unavailable("child process has no stdio pipes".into()));
            };
            let (to_child, mut outgoing) = mpsc::channel::<Message>(256);
            let (incoming, from_child) = mpsc::channel::<Message>(256);
            let max = self.max_message;
            // Reader: one JSON-RPC message per line. The child is owned here, so
            // the process is killed when its stdout closes or the reader ends.
            tokio::spawn(async move {
                let mut lines = FramedRead::new(stdout, LinesCodec::new_with_max_length(max));
                loop {
                    // The supervisor dropping the link (stop, reload) ends the
                    // child even if it never writes again.
                    let line = tokio::select! {
                        l = lines.next() => l,
                        _ = incoming.closed() => break,
                    };
                    let Some(line) = line else { break };
                    match line {
                        Ok(line) if line.trim().is_empty() => {}
                        Ok(line) => match Message::parse(line.as_bytes()) {
                            Ok(m) => {
                                if incoming.send(m).await.is_err() {
                                    break;
                                }
                            }
                            Err(e) => {
                                warn!(error = %e, "stdio backend wrote a line that is not JSON-RPC")
                            }
                        },
                        Err(e) => {
                            warn!(error = %e, "stdio backend output unreadable; restarting it");
                            break;
                        }
                    }
                }
                let _ = child.start_kill();
                let status = child.wait().await;
                debug!(?status, "stdio backend exited");
            });
            tokio::spawn(async move {
                let mut lines = FramedRead::new(stderr, LinesCodec::new_with_max_length(16 * 1024));
                // An over-long line is skipped (the codec discards it), not
                // a reason to close the pipe under the child.
                while let Some(line) = lines.next().await {
                    if let Ok(line) = line {
                        debug!(target: "warden::backend_stderr", "{line}");
                    }
                }
            });
            tokio::spawn(async move {
                while let Some(m) = outgoing.recv().await {
                    let mut bytes = m.to_line();
                    bytes.push(b'\n');
                    if stdin.write_all(&bytes).await.is_err() || stdin.flush().await.is_err() {
                        break;
                    }
                }
            });
            Ok(Link { tx: to_child, rx: from_child })
        }
        .boxed()
    }
}
