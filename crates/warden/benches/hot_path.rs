//! Criterion benchmarks for the functions every `tools/call` passes through.
//!
//! Groups, in request-path order:
//!
//! - `envelope`: JSON-RPC envelope parse of a typical `tools/call` body and of
//!   a `tools/list` result, the `params` object the front end builds for
//!   routing, and serialising a response.
//! - `names`: prefix naming (`Naming::split_name` / `expose_name`).
//! - `route`: tool resolution of a virtual server with curation
//!   (`VirtualServer::backend_for`, which runs the same `resolve_tool` as
//!   `tools/call` routing).
//! - `session`: sealing and opening a legacy `Mcp-Session-Id`.
//! - `gateway`: one whole `tools/call echo` through `Gateway::handle` against
//!   a built-in backend, both eras, no sockets, access log off: the gateway's
//!   own CPU cost.
//!
//! Run: `cargo bench -p warden --bench hot_path` (about a minute), or pass
//! criterion options after `--`, e.g. `-- --warm-up-time 1 --measurement-time 3 session`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "benchmark set-up, not a request path")]

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use http::Request;
use http_body_util::{BodyExt, Full};
use secrecy::SecretBox;
use serde_json::{Value, json};
use warden::config::load_str;
use warden::gateway::Gateway;
use warden::mcp::jsonrpc::Message;
use warden::mcp::names::Naming;
use warden::mcp::session::{BackendSession, SessionSealer, SessionState, now_secs};

/// A `tools/call` as clients send it: id, name, a few arguments, `_meta`.
const TOOLS_CALL: &str = r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"github__search_issues","arguments":{"query":"is:open label:bug gateway timeout","repository":"example/warden","limit":20},"_meta":{"progressToken":"c0ffee-42","io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;

/// A `tools/list` result with `n` tools, each with a small input schema.
fn tools_list_result(n: usize) -> String {
    let tools: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "name": format!("backend__tool_{i}"),
                "title": format!("Tool number {i}"),
                "description": "Searches the issue tracker for issues matching a query and returns their titles.",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "Search query"},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 100}
                    },
                    "required": ["query"]
                },
                "annotations": {"readOnlyHint": true}
            })
        })
        .collect();
    json!({"jsonrpc": "2.0", "id": 7, "result": {"tools": tools, "nextCursor": null}}).to_string()
}

fn envelope(c: &mut Criterion) {
    let mut g = c.benchmark_group("envelope");
    g.throughput(Throughput::Bytes(TOOLS_CALL.len() as u64));
    g.bench_function("parse/tools_call", |b| b.iter(|| Message::parse(black_box(TOOLS_CALL.as_bytes())).unwrap()));
    let call = Message::parse(TOOLS_CALL.as_bytes()).unwrap();
    g.bench_function("params_object/tools_call", |b| b.iter(|| black_box(&call).params_object().unwrap()));
    g.bench_function("to_bytes/tools_call", |b| b.iter(|| black_box(&call).to_bytes()));

    let list = tools_list_result(20);
    g.throughput(Throughput::Bytes(list.len() as u64));
    g.bench_function("parse/tools_list_result_20", |b| b.iter(|| Message::parse(black_box(list.as_bytes())).unwrap()));
    g.finish();
}

fn names(c: &mut Criterion) {
    let mut g = c.benchmark_group("names");
    g.bench_function("split_name/prefixed", |b| {
        b.iter(|| Naming::Prefixed.split_name(black_box("github__search_issues")))
    });
    g.bench_function("split_name/passthrough", |b| {
        b.iter(|| Naming::Passthrough.split_name(black_box("search_issues")))
    });
    g.bench_function("expose_name/prefixed", |b| {
        b.iter(|| Naming::Prefixed.expose_name(black_box("github"), black_box("search_issues")))
    });
    g.finish();
}

/// Two built-in backends (prefixed names) with a deny rule and a rename.
const ROUTED_CONFIG: &str = r#"
listeners:
  - name: main
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
virtualServers:
  - name: bench
    path: /mcp
    backends:
      - name: clock
        builtin: clock
      - name: notes
        builtin: notes
    curation:
      deny: ["clock__countdown"]
      rename:
        clock__now: time
"#;

/// One built-in backend (names pass through), as a plain gateway deployment.
/// The access log is off so that the bench does not print a line per
/// iteration; the load harness (`bench/run.sh`) measures it.
const SINGLE_CONFIG: &str = r#"
accessLog: off
listeners:
  - name: main
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
sessions:
  key: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8
virtualServers:
  - name: bench
    path: /mcp
    backends:
      - name: clock
        builtin: clock
"#;

fn gateway_for(yaml: &str, rt: &tokio::runtime::Runtime) -> Arc<Gateway> {
    let config = load_str(yaml, "bench.yaml", &|_| None).unwrap();
    let _guard = rt.enter();
    let gw = Gateway::new(config).unwrap();
    rt.block_on(gw.probe_backends());
    gw
}

fn route(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let gw = gateway_for(ROUTED_CONFIG, &rt);
    let runtime = gw.runtime();
    let vs = runtime.route("main", "/mcp").unwrap().clone();
    assert_eq!(vs.backend_for(Some("tools/call"), "clock__echo").as_deref(), Some("clock"));
    assert_eq!(vs.backend_for(Some("tools/call"), "time").as_deref(), Some("clock"));
    assert_eq!(vs.backend_for(Some("tools/call"), "clock__countdown"), None);

    let mut g = c.benchmark_group("route");
    g.bench_function("runtime_route", |b| b.iter(|| runtime.route(black_box("main"), black_box("/mcp")).is_some()));
    g.bench_function("tools_call/prefixed", |b| {
        b.iter(|| vs.backend_for(black_box(Some("tools/call")), black_box("clock__echo")))
    });
    g.bench_function("tools_call/renamed", |b| {
        b.iter(|| vs.backend_for(black_box(Some("tools/call")), black_box("time")))
    });
    g.bench_function("tools_call/denied", |b| {
        b.iter(|| vs.backend_for(black_box(Some("tools/call")), black_box("clock__countdown")))
    });
    g.finish();
    gw.begin_shutdown();
}

fn session_state() -> SessionState {
    SessionState {
        id: "3q2-7wAAAABkZWFkYmVlZg".into(),
        virtual_server: "default".into(),
        protocol_version: "2025-11-25".into(),
        issued_at: now_secs(),
        backends: vec![BackendSession {
            backend: "github".into(),
            session_id: Some("5f0c1f0e-6a0b-4bde-9d8e-2f7c8f1b6a11".into()),
            protocol_version: "2025-11-25".into(),
        }],
        client_capabilities: json!({"roots": {"listChanged": true}, "sampling": {}, "elicitation": {}}),
        principal: "b3BhcXVlLWtleS0xNmI".into(),
    }
}

fn session(c: &mut Criterion) {
    let key = SecretBox::new(Box::new([7u8; 32]));
    let sealer = SessionSealer::new(Some(&key), Duration::from_secs(86_400));
    let state = session_state();
    let sealed = sealer.seal(&state);
    assert_eq!(*sealer.open(&sealed).unwrap(), state);

    let mut g = c.benchmark_group("session");
    g.bench_function("seal", |b| b.iter(|| sealer.seal(black_box(&state))));
    // The sealer keeps recently opened ids: the first request of a session
    // decrypts and parses (`open/cold`), the following ones hit the cache.
    g.bench_function("open/cold", |b| {
        b.iter_batched_ref(
            || SessionSealer::new(Some(&key), Duration::from_secs(86_400)),
            |fresh| fresh.open(black_box(&sealed)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("open/cached", |b| b.iter(|| sealer.open(black_box(&sealed)).unwrap()));
    // Flip one ciphertext character in the middle: still valid base64, so
    // the AEAD tag check is what refuses it.
    let mut tampered = sealed.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(sealer.open(&tampered).unwrap_err(), warden::mcp::session::SessionError::Forged);
    g.bench_function("open/forged", |b| b.iter(|| sealer.open(black_box(&tampered)).is_err()));
    g.finish();
}

const ECHO_MODERN: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
const ECHO_LEGACY: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}"#;
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}"#;

fn post(body: &'static str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut b = Request::post("http://127.0.0.1:8080/mcp")
        .header("host", "127.0.0.1:8080")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::from_static(body.as_bytes()))).unwrap()
}

/// Sends `req` through the gateway and reads the whole response body.
async fn round_trip(gw: &Arc<Gateway>, req: Request<Full<Bytes>>) -> (u16, Option<String>, Bytes) {
    let runtime = gw.runtime();
    let listener = &runtime.config.listeners[0];
    let resp = gw.handle(listener, req).await;
    let status = resp.status().as_u16();
    let sid = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, sid, body)
}

fn gateway(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let gw = gateway_for(SINGLE_CONFIG, &rt);

    let (status, sid, _) = rt.block_on(round_trip(&gw, post(INITIALIZE, &[])));
    assert_eq!(status, 200);
    let sid: &'static str = Box::leak(sid.unwrap().into_boxed_str());
    let legacy_headers: [(&str, &str); 2] = [("mcp-session-id", sid), ("mcp-protocol-version", "2025-11-25")];
    let modern_headers: [(&str, &str); 3] =
        [("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", "echo")];
    for (body, headers) in [(ECHO_LEGACY, &legacy_headers[..]), (ECHO_MODERN, &modern_headers[..])] {
        let (status, _, out) = rt.block_on(round_trip(&gw, post(body, headers)));
        let text = String::from_utf8_lossy(&out);
        assert!(status == 200 && text.contains("hello") && !text.contains("\"error\""), "{status} {text}");
    }

    let mut g = c.benchmark_group("gateway");
    g.bench_function("tools_call_echo/legacy", |b| {
        b.iter(|| rt.block_on(round_trip(&gw, post(ECHO_LEGACY, &legacy_headers))))
    });
    g.bench_function("tools_call_echo/modern", |b| {
        b.iter(|| rt.block_on(round_trip(&gw, post(ECHO_MODERN, &modern_headers))))
    });
    g.finish();
    gw.begin_shutdown();
}

criterion_group! {
    name = benches;
    config = common::short();
    targets = envelope, names, route, session, gateway
}
criterion_main!(benches);
