//! Listener transports (TLS, HTTP/2) and upstream time limits.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use test_support::{McpClient, start_in_process};

fn init_body() -> Vec<u8> {
    serde_json::to_vec(&json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}))
    .unwrap()
}

#[tokio::test]
async fn tls_listener_serves_http2_and_http1() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let yaml = format!(
        r#"
listeners: [{{name: tls, address: "127.0.0.1:0", tls: {{certFile: "{}", keyFile: "{}"}}}}]
admin: {{address: "127.0.0.1:0"}}
accessLog: off
virtualServers: [{{name: demo, path: /mcp, backends: [{{name: clock, builtin: clock}}]}}]
"#,
        cert_path.display(),
        key_path.display()
    );
    let gw = start_in_process(&yaml, &[]).await;
    let port = gw.listeners[0].1.port();
    let url = format!("https://localhost:{port}/mcp");
    let root = reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap();
    for (h2, want) in [(true, reqwest::Version::HTTP_2), (false, reqwest::Version::HTTP_11)] {
        let mut b = reqwest::Client::builder().add_root_certificate(root.clone()).no_proxy();
        if !h2 {
            b = b.http1_only();
        }
        let client = b.build().unwrap();
        let r = client
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init_body())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.version(), want);
        assert!(r.headers().contains_key("mcp-session-id"));
    }
}

#[tokio::test]
async fn cleartext_http2_with_prior_knowledge() {
    let yaml = r#"
listeners: [{name: main, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
accessLog: off
virtualServers: [{name: demo, path: /mcp, backends: [{name: clock, builtin: clock}]}]
"#;
    let gw = start_in_process(yaml, &[]).await;
    let client = reqwest::Client::builder().http2_prior_knowledge().no_proxy().build().unwrap();
    let r = client
        .post(format!("{}/mcp", gw.base_url()))
        .header("content-type", "application/json")
        .body(init_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
}

#[tokio::test]
async fn a_slow_backend_times_out_without_blocking_the_others() {
    let yaml = r#"
listeners: [{name: main, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
accessLog: off
virtualServers:
  - name: demo
    path: /mcp
    backends:
      - {name: clock, builtin: clock, timeout: 300ms}
      - {name: notes, builtin: notes}
"#;
    let gw = start_in_process(yaml, &[]).await;
    let mut c = McpClient::new(&format!("{}/mcp", gw.base_url()));
    c.initialize(json!({})).await;
    let slow = {
        let c = c.clone();
        tokio::spawn(async move {
            c.request("tools/call", json!({"name": "clock__countdown", "arguments": {"steps": 1, "intervalMs": 1000}}))
                .await
        })
    };
    // While the slow call waits, the other backend answers.
    let fast = c.request("tools/call", json!({"name": "notes__search_notes", "arguments": {"query": "warden"}})).await;
    assert_eq!(fast.result()["content"][0]["text"], "welcome");
    let r = slow.await.unwrap();
    assert_eq!(r.last()["error"]["code"], -32010, "{:?}", r.messages);
    assert_eq!(r.last()["error"]["data"], json!({"backend": "clock", "reason": "timeout"}));
}

/// A legacy-only backend that accepts connections and never answers: modern
/// callers queued behind one failing open of its shared session fail at once
/// instead of each waiting out the timeout.
#[tokio::test]
async fn callers_behind_a_failing_shared_session_fail_fast() {
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = hang.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = hang.accept().await {
            conns.push(c);
        }
    });
    let yaml = format!(
        r#"
listeners: [{{name: main, address: "127.0.0.1:0"}}]
admin: {{address: "127.0.0.1:0"}}
accessLog: off
virtualServers:
  - name: vs
    path: /mcp
    backends:
      - {{name: stuck, url: "http://{addr}/mcp", era: legacy, timeout: 300ms}}
"#
    );
    let gw = start_in_process(&yaml, &[]).await;
    let c = McpClient::new(&format!("{}/mcp", gw.base_url()));
    let call = || {
        let c = c.clone();
        tokio::spawn(async move { c.modern("tools/call", json!({"name": "x", "arguments": {}})).await })
    };
    let (a, b) = (call(), call());
    let mut reasons: Vec<String> = Vec::new();
    for r in [a.await.unwrap(), b.await.unwrap()] {
        assert_eq!(r.last()["error"]["code"], -32010, "{:?}", r.messages);
        reasons.push(r.last()["error"]["data"]["reason"].as_str().unwrap_or_default().to_string());
    }
    reasons.sort();
    assert_eq!(reasons, vec!["timeout".to_string(), "unavailable".to_string()]);
    held.abort();
}
