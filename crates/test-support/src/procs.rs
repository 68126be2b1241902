//! Processes under test: every one bound to loopback port 0, waited on by
//! reading what it prints when ready (never by sleeping), killed on drop.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Where cargo put this workspace's binaries (`target/debug`).
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let p = dir.join(name);
    assert!(p.exists(), "{} is not built: run `cargo build --workspace` first", p.display());
    p
}

/// A child process killed when dropped.
pub struct Proc {
    /// The child.
    pub child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn");
        let (tx, lines) = mpsc::channel();
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Proc { child, lines }
    }

    /// Waits (bounded) for a line containing `needle`; returns it.
    pub fn wait_line(&self, needle: &str, within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(l) => seen.push(l),
                Err(_) => panic!("no line containing {needle:?} within {within:?}; saw:\n{}", seen.join("\n")),
            }
        }
    }

    /// Asserts that no line containing `needle` appears during `window`
    /// (a bounded observation, for things that must not happen).
    pub fn expect_no_line(&self, needle: &str, window: Duration) {
        let deadline = std::time::Instant::now() + window;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => panic!("unexpected line: {l}"),
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }

    /// Every line printed so far (non-blocking).
    pub fn drain(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Sends a signal (e.g. `"HUP"`, `"TERM"`).
    pub fn signal(&self, sig: &str) {
        let status =
            Command::new("kill").arg(format!("-{sig}")).arg(self.child.id().to_string()).status().expect("kill");
        assert!(status.success());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `mcp-conformance-server` on a free loopback port; returns it and its MCP URL.
pub fn spawn_conformance_server() -> (Proc, String) {
    spawn_conformance_server_at("127.0.0.1:0")
}

/// Starts `mcp-conformance-server` on `addr` (to restart one on the same port).
pub fn spawn_conformance_server_at(addr: &str) -> (Proc, String) {
    let mut cmd = Command::new(bin_path("mcp-conformance-server"));
    cmd.args(["--listen", addr]);
    let p = Proc::spawn(cmd);
    let line = p.wait_line("listening on ", Duration::from_secs(20));
    let url = line.trim_start_matches("listening on ").trim().to_string();
    (p, url)
}

/// A `warden serve` process.
pub struct WardenProc {
    /// The process.
    pub proc: Proc,
    /// `http://127.0.0.1:PORT` of the first listener.
    pub base: String,
    /// `http://127.0.0.1:PORT` of the admin listener.
    pub admin: String,
    /// The config file (kept alive with the process).
    pub config: tempfile::NamedTempFile,
}

/// Starts `warden serve -c <yaml>` with `env`; listeners should use port 0.
pub fn spawn_warden(yaml: &str, env: &[(&str, &str)]) -> WardenProc {
    use std::io::Write;
    let mut config = tempfile::Builder::new().suffix(".yaml").tempfile().expect("tempfile");
    config.write_all(yaml.as_bytes()).expect("write config");
    config.flush().expect("flush");
    let mut cmd = Command::new(bin_path("warden"));
    cmd.arg("serve").arg("-c").arg(config.path());
    cmd.env("WARDEN_LISTEN", "127.0.0.1:0").env("WARDEN_ADMIN", "127.0.0.1:0").env("WARDEN_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let proc = Proc::spawn(cmd);
    let endpoint = proc.wait_line("MCP endpoint", Duration::from_secs(20));
    let admin = proc.wait_line("Admin", Duration::from_secs(5));
    let base = endpoint.split_whitespace().nth(2).expect("url").to_string();
    let base = base[..base.find("/mcp").unwrap_or(base.len())].to_string();
    let admin = admin.split_whitespace().nth(1).expect("admin url").trim_end_matches("/healthz").to_string();
    WardenProc { proc, base, admin, config }
}

/// Starts a gateway in-process from YAML (listeners on port 0).
pub async fn start_in_process(yaml: &str, env: &[(&str, &str)]) -> warden::server::RunningGateway {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let cfg = warden::config::load_str(yaml, "test", &lookup).expect("config");
    let running = warden::server::start(cfg).await.expect("start");
    // Ready when every backend has been probed.
    for _ in 0..200 {
        if running.gateway.is_ready() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(running.gateway.is_ready(), "gateway not ready");
    running
}

/// Pids of processes whose command line contains `marker` (`pgrep -f`).
pub fn pgrep(marker: &str) -> String {
    let out = Command::new("pgrep").args(["-f", marker]).output().expect("pgrep");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
