//! Rate limits on the request path, as users run Warden: per-principal
//! buckets in one process, and one global bucket held by two `warden serve`
//! processes sharing a real Redis (started by test-support on a unix socket).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use test_support::redis::RedisServer;
use test_support::{McpClient, spawn_warden};

fn config(rules: &str, store: &str) -> String {
    format!(
        r#"
listeners: [{{name: main, address: "${{WARDEN_LISTEN}}"}}]
admin: {{address: "${{WARDEN_ADMIN}}"}}
accessLog: off
virtualServers:
  - name: limited
    path: /mcp
    backends: [{{name: clock, builtin: clock}}]
    auth:
      apiKeys:
        - {{name: alice, owner: alice, hash: "{alice}", scopes: [mcp:tools]}}
        - {{name: bob, owner: bob, hash: "{bob}", scopes: [mcp:tools]}}
    rateLimits:
      rules: {rules}
      store: {store}
"#,
        alice = hash("alice-key"),
        bob = hash("bob-key"),
    )
}

fn hash(key: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    format!("sha256:{}", d.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

async fn echo(c: &McpClient, key: &str, id: i64) -> (u16, Value, Option<String>) {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "echo",
        "arguments": {"message": "hi"}, "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}}});
    let r = c
        .post_raw(
            serde_json::to_vec(&body).unwrap(),
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
                ("x-api-key", key),
            ],
        )
        .await;
    let retry = r.headers.get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (r.status, r.last().clone(), retry)
}

async fn ready(admin: &str) {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(format!("{admin}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{admin} not ready");
}

#[tokio::test]
async fn per_principal_buckets_answer_429_with_retry_after() {
    let w = spawn_warden(
        &config("[{name: per-user, key: principal, rate: 3/1m, match: {methods: [tools/call]}}]", "local"),
        &[],
    );
    ready(&w.admin).await;
    let c = McpClient::new(&format!("{}/mcp", w.base));
    for i in 1..=3 {
        let (status, body, _) = echo(&c, "alice-key", i).await;
        assert_eq!(status, 200, "call {i}: {body}");
    }
    let (status, body, retry) = echo(&c, "alice-key", 4).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["id"], 4);
    assert_eq!(body["error"]["code"], -32029);
    let secs: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=20).contains(&secs), "Retry-After {secs}: one token comes back every 20 s");
    assert_eq!(body["error"]["data"]["retryAfterSeconds"], secs);
    // Another principal has its own bucket.
    let (status, body, _) = echo(&c, "bob-key", 5).await;
    assert_eq!(status, 200, "{body}");
    // Only tools/call is limited by this rule.
    let list = json!({"jsonrpc": "2.0", "id": 6, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}});
    let r = c
        .post_raw(
            serde_json::to_vec(&list).unwrap(),
            &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/list"), ("x-api-key", "alice-key")],
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn two_warden_processes_share_one_global_bucket_through_redis() {
    let redis = RedisServer::start();
    let store = format!(r#"{{redis: {{url: "{}", timeout: 2s, fallback: deny}}}}"#, redis.url());
    let yaml = config("[{name: whole-server, key: virtualServer, rate: 5/1m}]", &store);
    let a = spawn_warden(&yaml, &[]);
    let b = spawn_warden(&yaml, &[]);
    ready(&a.admin).await;
    ready(&b.admin).await;
    let ca = McpClient::new(&format!("{}/mcp", a.base));
    let cb = McpClient::new(&format!("{}/mcp", b.base));
    let mut allowed = 0;
    let mut limited = 0;
    for i in 0..12 {
        let (c, key) = if i % 2 == 0 { (&ca, "alice-key") } else { (&cb, "bob-key") };
        match echo(c, key, i).await {
            (200, _, _) => allowed += 1,
            (429, _, Some(_)) => limited += 1,
            other => panic!("call {i}: {other:?}"),
        }
    }
    assert_eq!((allowed, limited), (5, 7), "one bucket of 5 for both processes");
    // Redis gone: the configured fallback (deny) applies, not acceptance.
    drop(redis);
    let (status, body, _) = echo(&ca, "alice-key", 99).await;
    assert_eq!(status, 429, "{body}");
    // … and is reported: a log warning and the fallback counter.
    let metrics = reqwest::get(format!("{}/metrics", a.admin)).await.unwrap().text().await.unwrap();
    let line = metrics.lines().find(|l| l.starts_with("warden_ratelimit_fallbacks_total{")).unwrap_or_default();
    assert!(line.ends_with(" 1") || line.ends_with(" 2"), "one fallback decision counted: {line:?}\n{metrics}");
}
