//! Shared fixtures for Warden's tests: the gateway in-process or as a
//! process, the conformance backend as a process (HTTP or stdio), and a small
//! MCP client that speaks both eras over raw HTTP so tests see every status
//! code and header.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test fixtures only (a dev-dependency, never linked into warden): a fixture that cannot \
              start its server or read a reply fails the test that called it by panicking with the cause"
)]

mod client;
mod procs;
pub mod redis;

pub use client::{McpClient, Reply, SseReader, parse_sse as client_parse_sse};
pub use procs::{
    Proc, WardenProc, bin_path, pgrep, spawn_conformance_server, spawn_conformance_server_at, spawn_warden,
    start_in_process,
};

/// A fresh random session key, base64.
pub fn random_session_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}
