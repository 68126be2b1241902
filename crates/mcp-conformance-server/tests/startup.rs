//! Starts the real binary on an ephemeral loopback port and speaks raw HTTP to it: the
//! readiness line, the initialize handshake, an `echo` call, and the Host check.

// Test helpers outside `#[test]` fns: a failed unwrap is a failed test here.
#![allow(clippy::unwrap_used)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Child, Command, Stdio},
};

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-conformance-server"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on http://").unwrap().to_owned();
    let addr = url.strip_suffix("/mcp").unwrap().to_owned();
    Server { child, addr }
}

/// One POST on a fresh connection; returns the status line and the body.
fn post(addr: &str, host: &str, headers: &[(&str, &str)], body: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut request = format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.lines().next().unwrap_or_default().to_owned();
    (status, response)
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"startup-test","version":"0"}}}"#;

#[test]
fn prints_its_address_and_serves_mcp() {
    let server = start();
    let (status, response) = post(&server.addr, &server.addr, &[], INITIALIZE);
    assert!(status.contains("200"), "{response}");
    assert!(response.contains("warden-mcp-conformance-server"), "{response}");
    let session = response.lines().find_map(|line| line.strip_prefix("mcp-session-id: ")).unwrap().trim().to_owned();
    let headers = [("mcp-session-id", session.as_str()), ("mcp-protocol-version", "2025-11-25")];
    post(&server.addr, &server.addr, &headers, r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let call =
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi there"}}}"#;
    let (status, response) = post(&server.addr, &server.addr, &headers, call);
    assert!(status.contains("200"), "{response}");
    assert!(response.contains(r#""text":"hi there""#), "{response}");
}

#[test]
fn rejects_foreign_host_headers() {
    let server = start();
    let (status, response) = post(&server.addr, "evil.example.com", &[], INITIALIZE);
    assert!(status.contains(" 4"), "{response}");
}
