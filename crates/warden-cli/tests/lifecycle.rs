//! Reloading configuration without dropping sessions, refusing bad reloads,
//! and draining in-flight requests at shutdown.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;
use test_support::{McpClient, spawn_warden};

const ONE: &str = r#"
listeners: [{name: main, address: "${WARDEN_LISTEN}"}]
admin: {address: "${WARDEN_ADMIN}"}
virtualServers:
  - name: vs
    path: /mcp
    backends:
      - {name: clock, builtin: clock}
"#;

fn two(listen: &str, admin: &str) -> String {
    format!(
        r#"
listeners: [{{name: main, address: "{listen}"}}]
admin: {{address: "{admin}"}}
virtualServers:
  - name: vs
    path: /mcp
    backends:
      - {{name: clock, builtin: clock}}
      - {{name: notes, builtin: notes}}
"#
    )
}

async fn tool_names(c: &McpClient) -> Vec<String> {
    McpClient::names(&c.request("tools/list", json!({})).await, "tools", "name")
}

#[tokio::test]
async fn config_changes_apply_without_dropping_sessions_and_bad_ones_are_refused() {
    let w = spawn_warden(ONE, &[]);
    let listen = w.base.trim_start_matches("http://").to_string();
    let admin = w.admin.trim_start_matches("http://").to_string();
    let mut c = McpClient::new(&format!("{}/mcp", w.base));
    c.initialize(json!({})).await;
    assert!(tool_names(&c).await.contains(&"now".to_string()), "one backend: names unchanged");

    // A valid change, picked up by the file watcher.
    std::fs::write(w.config.path(), two(&listen, &admin)).unwrap();
    let mut merged = false;
    for _ in 0..200 {
        if tool_names(&c).await.contains(&"notes__add_note".to_string()) {
            merged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(merged, "reload did not apply");
    // The session from before the reload still works.
    let r = c.request("tools/call", json!({"name": "clock__echo", "arguments": {"message": "same session"}})).await;
    assert_eq!(r.result()["content"][0]["text"], "same session");
    // The access log names the call, never its arguments.
    let line = w.proc.wait_line(r#""name":"clock__echo""#, Duration::from_secs(5));
    let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(entry["method"], "tools/call");
    assert_eq!(entry["backend"], "clock");
    assert_eq!(entry["status"], 200);
    assert!(entry["duration_ms"].is_number());
    assert!(!line.contains("same session"), "argument values must not be logged: {line}");

    // An invalid change is refused; the old config keeps serving.
    std::fs::write(w.config.path(), "virtualServers: [{name: vs, path: nope}]\n").unwrap();
    w.proc.wait_line("configuration reload refused", Duration::from_secs(10));
    assert!(tool_names(&c).await.contains(&"notes__add_note".to_string()));

    // SIGHUP reloads explicitly.
    std::fs::write(w.config.path(), two(&listen, &admin)).unwrap();
    w.proc.wait_line("configuration reloaded", Duration::from_secs(10));
    w.proc.signal("HUP");
    w.proc.wait_line("SIGHUP: reloading configuration", Duration::from_secs(10));
    w.proc.wait_line("configuration reloaded", Duration::from_secs(10));
    // Reading the file must not trigger reloads (a reload reads the file, so
    // reacting to reads would reload forever).
    for _ in 0..5 {
        let _ = std::fs::read(w.config.path()).unwrap();
    }
    w.proc.expect_no_line("configuration reloaded", Duration::from_secs(1));
    let metrics = reqwest::get(format!("{}/metrics", w.admin)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"warden_config_reloads_total{result="invalid"} 1"#), "{metrics}");
    let oks: u64 = metrics
        .lines()
        .find(|l| l.starts_with(r#"warden_config_reloads_total{result="ok"}"#))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap();
    assert!((3..=5).contains(&oks), "expected 3 reloads (two writes, one SIGHUP), got {oks}");
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests() {
    let mut w = spawn_warden(ONE, &[]);
    let mut c = McpClient::new(&format!("{}/mcp", w.base));
    c.initialize(json!({})).await;
    let mut resp = c
        .post_streaming(&json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{
            "name":"countdown","arguments":{"steps":8,"intervalMs":100},"_meta":{"progressToken":"p"}}}))
        .await;
    // Once the call is visibly under way, ask Warden to stop.
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("notifications/progress"));
    w.proc.signal("TERM");
    let mut rest = String::from_utf8_lossy(&first).to_string();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), resp.chunk()).await.unwrap().unwrap() {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(rest.contains("counted down 8 steps"), "in-flight call was cut: {rest}");
    let status = tokio::task::spawn_blocking(move || w.proc.child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn a_stdio_child_that_ignores_its_stdin_is_stopped_when_its_backend_goes_away() {
    let marker = "warden-test-hung-child-5e1d";
    let hung = format!(
        r#"
listeners: [{{name: main, address: "${{WARDEN_LISTEN}}"}}]
admin: {{address: "${{WARDEN_ADMIN}}"}}
virtualServers:
  - name: vs
    path: /mcp
    backends:
      - {{name: clock, builtin: clock}}
      - name: hung
        stdio: {{command: bash, args: ["-c", "exec -a {marker} sleep 600"]}}
"#
    );
    let w = spawn_warden(&hung, &[]);
    let alive = || !test_support::pgrep(marker).is_empty();
    let mut started = false;
    for _ in 0..200 {
        if alive() {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(started, "the stdio child did not start");
    // The backend is removed; its child never reads stdin, so only Warden
    // killing it ends it.
    let listen = w.base.trim_start_matches("http://").to_string();
    let admin = w.admin.trim_start_matches("http://").to_string();
    let without = format!(
        "listeners: [{{name: main, address: \"{listen}\"}}]\nadmin: {{address: \"{admin}\"}}\nvirtualServers: [{{name: vs, path: /mcp, backends: [{{name: clock, builtin: clock}}]}}]\n"
    );
    std::fs::write(w.config.path(), without).unwrap();
    w.proc.wait_line("configuration reloaded", Duration::from_secs(20));
    for _ in 0..600 {
        if !alive() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the hung stdio child outlived its backend");
}
