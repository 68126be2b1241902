//! Warden as users run it: `warden serve` processes in front of real backend
//! processes (the rmcp conformance server over HTTP and over stdio).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;
use test_support::{McpClient, random_session_key, spawn_conformance_server, spawn_warden};

fn three_backends(http_url: &str, stdio_marker: &str) -> String {
    format!(
        r#"
listeners: [{{name: main, address: "${{WARDEN_LISTEN}}"}}]
admin: {{address: "${{WARDEN_ADMIN}}"}}
sessions: {{key: "${{WARDEN_SESSION_KEY:-}}"}}
limits: {{requestTimeout: 10s}}
virtualServers:
  - name: merged
    path: /mcp
    backends:
      - {{name: rmcp, url: "{http_url}"}}
      - name: piped
        stdio:
          command: bash
          args: ["-c", "exec -a {stdio_marker} \"$0\" --stdio", "{bin}"]
      - {{name: notes, builtin: notes}}
"#,
        bin = test_support::bin_path("mcp-conformance-server").display()
    )
}

async fn wait_ready(admin: &str) {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{admin}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("warden not ready");
}

#[tokio::test]
async fn three_kinds_of_backend_merge_and_route() {
    let (_backend, url) = spawn_conformance_server();
    let w = spawn_warden(&three_backends(&url, "marker-merge"), &[]);
    wait_ready(&w.admin).await;
    let mut c = McpClient::new(&format!("{}/mcp", w.base));
    c.initialize(json!({"sampling": {}})).await;
    let tools = McpClient::names(&c.request("tools/list", json!({})).await, "tools", "name");
    for n in ["rmcp__echo", "piped__echo", "notes__add_note", "rmcp__test_simple_text"] {
        assert!(tools.contains(&n.to_string()), "{n} not in {tools:?}");
    }
    for (tool, text) in [("rmcp__echo", "via http"), ("piped__echo", "via stdio")] {
        let r = c.request("tools/call", json!({"name": tool, "arguments": {"message": text}})).await;
        assert_eq!(r.result()["content"][0]["text"], text, "{tool}: {:?}", r.messages);
    }
    let res = c.request("resources/read", json!({"uri": "rmcp+test://static-text"})).await;
    assert_eq!(res.result()["contents"][0]["uri"], "rmcp+test://static-text");
    let prompts = McpClient::names(&c.request("prompts/list", json!({})).await, "prompts", "name");
    assert!(
        prompts.contains(&"rmcp__test_simple_prompt".to_string())
            && prompts.contains(&"piped__test_simple_prompt".to_string())
    );
    let p = c
        .request(
            "prompts/get",
            json!({"name": "piped__test_prompt_with_arguments", "arguments": {"arg1": "a", "arg2": "b"}}),
        )
        .await;
    assert!(p.result()["messages"][0]["content"]["text"].as_str().unwrap().contains("arg1='a'"), "{:?}", p.messages);
    // Modern clients reach the same three backends statelessly.
    let m = c.modern("tools/call", json!({"name": "piped__echo", "arguments": {"message": "modern"}})).await;
    assert_eq!(m.result()["content"][0]["text"], "modern", "{:?}", m.messages);
    let m = c.modern("tools/call", json!({"name": "rmcp__echo", "arguments": {"message": "modern"}})).await;
    assert_eq!(m.result()["content"][0]["text"], "modern", "{:?}", m.messages);
    // A modern client gets log messages from a legacy-era backend only when
    // its `_meta` asks for them.
    let quiet = c.modern("tools/call", json!({"name": "piped__test_tool_with_logging", "arguments": {}})).await;
    assert!(quiet.notifications("notifications/message").is_empty(), "{:?}", quiet.messages);
    assert!(quiet.result()["content"].is_array(), "{:?}", quiet.messages);
    let chatty = c
        .modern_with_meta(
            "tools/call",
            json!({"name": "piped__test_tool_with_logging", "arguments": {}}),
            json!({"io.modelcontextprotocol/logLevel": "debug"}),
        )
        .await;
    assert!(!chatty.notifications("notifications/message").is_empty(), "{:?}", chatty.messages);
}

#[tokio::test]
async fn sampling_requests_are_routed_back_to_the_backend_that_asked() {
    let (_backend, url) = spawn_conformance_server();
    let w = spawn_warden(&three_backends(&url, "marker-sampling"), &[]);
    wait_ready(&w.admin).await;
    let mut c = McpClient::new(&format!("{}/mcp", w.base));
    c.initialize(json!({"sampling": {}})).await;
    // Start the call: the backend asks us (the client) to sample, on the
    // call's SSE stream, and waits for our answer.
    let resp = c
        .post_streaming(&json!({"jsonrpc":"2.0","id":77,"method":"tools/call","params":{"name":"rmcp__test_sampling","arguments":{"prompt":"hi"}}}))
        .await;
    let mut sse = test_support::SseReader::new(resp);
    let request = sse.next_matching(|m| m["method"] == "sampling/createMessage").await;
    let id = request["id"].clone();
    assert!(id.as_str().unwrap().starts_with("w.0."), "server request id is rewritten: {id}");
    let answer = json!({"jsonrpc":"2.0","id":id,"result":{"role":"assistant","content":{"type":"text","text":"sampled by the test client"},"model":"test","stopReason":"endTurn"}});
    let r = c.post_raw(serde_json::to_vec(&answer).unwrap(), &[("mcp-protocol-version", "2025-11-25")]).await;
    assert_eq!(r.status, 202);
    let result = sse.next_matching(|m| m["id"] == 77).await;
    assert!(
        result["result"]["content"][0]["text"].as_str().unwrap().contains("sampled by the test client"),
        "{result}"
    );
}

#[tokio::test]
async fn a_dead_backend_degrades_only_its_part() {
    let (backend, url) = spawn_conformance_server();
    let w = spawn_warden(&three_backends(&url, "marker-dead"), &[]);
    wait_ready(&w.admin).await;
    let mut c = McpClient::new(&format!("{}/mcp", w.base));
    c.initialize(json!({})).await;
    drop(backend);
    let tools = c.request("tools/list", json!({})).await;
    let names = McpClient::names(&tools, "tools", "name");
    assert!(names.iter().any(|n| n.starts_with("piped__")) && names.iter().any(|n| n.starts_with("notes__")));
    assert!(!names.iter().any(|n| n.starts_with("rmcp__")));
    assert_eq!(tools.result()["_meta"]["dev.warden/unavailableBackends"], json!(["rmcp"]));
    let r = c.request("tools/call", json!({"name": "rmcp__echo", "arguments": {"message": "x"}})).await;
    assert_eq!(r.last()["error"]["code"], -32010);
    assert_eq!(r.last()["error"]["data"]["backend"], "rmcp");
    let ok = c.request("tools/call", json!({"name": "piped__echo", "arguments": {"message": "still here"}})).await;
    assert_eq!(ok.result()["content"][0]["text"], "still here");
}

#[tokio::test]
async fn a_stdio_backend_that_dies_is_restarted() {
    let (_backend, url) = spawn_conformance_server();
    let w = spawn_warden(&three_backends(&url, "marker-restart-7f3a"), &[]);
    wait_ready(&w.admin).await;
    let mut c = McpClient::new(&format!("{}/mcp", w.base));
    c.initialize(json!({})).await;
    let call = |c: McpClient| async move {
        c.request("tools/call", json!({"name": "piped__echo", "arguments": {"message": "alive"}})).await
    };
    assert_eq!(call(c.clone()).await.result()["content"][0]["text"], "alive");
    let pid = || test_support::pgrep("marker-restart-7f3a");
    let before = pid();
    assert!(!before.is_empty());
    let killed = std::process::Command::new("pkill").args(["-f", "marker-restart-7f3a"]).status().unwrap();
    assert!(killed.success());
    // Bounded wait for the restart (backoff starts at 100 ms).
    let mut last = None;
    for _ in 0..100 {
        let r = call(c.clone()).await;
        if r.result()["content"][0]["text"] == "alive" && !pid().is_empty() && pid() != before {
            return;
        }
        last = Some(r.messages);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("stdio backend not restarted; last reply {last:?}");
}

#[tokio::test]
async fn a_session_created_on_one_replica_works_on_another() {
    let (_backend, url) = spawn_conformance_server();
    let key = random_session_key();
    let cfg = three_backends(&url, "marker-replicas");
    let a = spawn_warden(&cfg, &[("WARDEN_SESSION_KEY", &key)]);
    let b = spawn_warden(&cfg, &[("WARDEN_SESSION_KEY", &key)]);
    let other = spawn_warden(&cfg, &[("WARDEN_SESSION_KEY", &random_session_key())]);
    wait_ready(&a.admin).await;
    wait_ready(&b.admin).await;
    wait_ready(&other.admin).await;
    let mut on_a = McpClient::new(&format!("{}/mcp", a.base));
    on_a.initialize(json!({})).await;
    let mut on_b = McpClient::new(&format!("{}/mcp", b.base));
    on_b.session = on_a.session.clone();
    // Same backend session (sealed in the id) used from the second process.
    let r = on_b.request("tools/call", json!({"name": "rmcp__echo", "arguments": {"message": "from b"}})).await;
    assert_eq!(r.result()["content"][0]["text"], "from b", "{:?}", r.messages);
    let r = on_b.request("resources/subscribe", json!({"uri": "rmcp+test://watched-resource"})).await;
    assert_eq!(r.status, 200, "{:?}", r.messages);
    assert!(r.last().get("error").is_none(), "{:?}", r.messages);
    // A replica with another key does not know the session.
    let mut on_other = McpClient::new(&format!("{}/mcp", other.base));
    on_other.session = on_a.session.clone();
    assert_eq!(on_other.request("tools/list", json!({})).await.status, 404);
}

#[tokio::test]
async fn client_credentials_are_never_forwarded_upstream() {
    let (_backend, url) = spawn_conformance_server();
    let w = spawn_warden(&three_backends(&url, "marker-headers"), &[]);
    wait_ready(&w.admin).await;
    let mut c = McpClient::new(&format!("{}/mcp", w.base));
    c.initialize(json!({})).await;
    let secret = [
        ("authorization", "Bearer client-token-must-not-leak"),
        ("cookie", "sid=client-cookie-must-not-leak"),
        ("dpop", "client-proof-must-not-leak"),
        ("x-api-key", "client-key-must-not-leak"),
    ];
    let call = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"rmcp__debug_request_headers","arguments":{}}});
    let mut headers = secret.to_vec();
    headers.push(("mcp-protocol-version", "2025-11-25"));
    let r = c.post_raw(serde_json::to_vec(&call).unwrap(), &headers).await;
    let seen = r.result()["content"][0]["text"].as_str().unwrap_or_default().to_string();
    assert!(seen.contains("mcp-session-id: "), "the backend saw its own session: {seen}");
    assert!(!seen.contains("must-not-leak"), "client credentials reached the backend:\n{seen}");
    // Same for a modern client.
    let m = c.modern("tools/call", json!({"name": "rmcp__debug_request_headers", "arguments": {}})).await;
    assert!(m.result()["content"][0]["text"].as_str().unwrap().contains("mcp-protocol-version: 2026-07-28"));
}

/// Era bridging: the same rmcp server behind two backends, one forced to the
/// legacy era and one to the modern era; clients of both eras use both.
#[tokio::test]
async fn each_client_era_reaches_each_backend_era() {
    let (_backend, url) = spawn_conformance_server();
    let cfg = format!(
        r#"
listeners: [{{name: main, address: "${{WARDEN_LISTEN}}"}}]
admin: {{address: "${{WARDEN_ADMIN}}"}}
virtualServers:
  - name: bridge
    path: /mcp
    backends:
      - {{name: old, url: "{url}", era: legacy}}
      - {{name: new, url: "{url}", era: modern}}
"#
    );
    let w = spawn_warden(&cfg, &[]);
    wait_ready(&w.admin).await;
    let mut legacy = McpClient::new(&format!("{}/mcp", w.base));
    legacy.initialize(json!({})).await;
    let modern = McpClient::new(&format!("{}/mcp", w.base));
    for b in ["old", "new"] {
        let tool = json!({"name": format!("{b}__echo"), "arguments": {"message": format!("to {b}")}});
        let prompt = json!({"name": format!("{b}__test_simple_prompt")});
        let resource = json!({"uri": format!("{b}+test://static-text")});
        for (era, reply) in [
            ("legacy", legacy.request("tools/call", tool.clone()).await),
            ("modern", modern.modern("tools/call", tool.clone()).await),
        ] {
            assert_eq!(
                reply.result()["content"][0]["text"],
                format!("to {b}"),
                "{era} client → {b}: {:?}",
                reply.messages
            );
        }
        for (era, reply) in [
            ("legacy", legacy.request("prompts/get", prompt.clone()).await),
            ("modern", modern.modern("prompts/get", prompt.clone()).await),
        ] {
            assert!(reply.result()["messages"].is_array(), "{era} client → {b} prompt: {:?}", reply.messages);
        }
        for (era, reply) in [
            ("legacy", legacy.request("resources/read", resource.clone()).await),
            ("modern", modern.modern("resources/read", resource.clone()).await),
        ] {
            assert_eq!(
                reply.result()["contents"][0]["uri"],
                format!("{b}+test://static-text"),
                "{era} → {b}: {:?}",
                reply.messages
            );
        }
    }
    for (era, reply) in [
        ("legacy", legacy.request("tools/list", json!({})).await),
        ("modern", modern.modern("tools/list", json!({})).await),
    ] {
        let names = McpClient::names(&reply, "tools", "name");
        assert!(
            names.contains(&"old__echo".to_string()) && names.contains(&"new__echo".to_string()),
            "{era}: {names:?}"
        );
    }

    // A legacy backend's sampling request reaches a modern client as an
    // InputRequiredResult; the client's retry carries the answer back.
    let caps = json!({"io.modelcontextprotocol/clientCapabilities": {"sampling": {}}});
    let call = json!({"name": "old__test_sampling", "arguments": {"prompt": "bridge me"}});
    let r1 = modern.modern_with_meta("tools/call", call.clone(), caps.clone()).await;
    assert_eq!(r1.result()["resultType"], "input_required", "{:?}", r1.messages);
    let request = &r1.result()["inputRequests"]["w0"];
    assert_eq!(request["method"], "sampling/createMessage");
    assert_eq!(request["params"]["messages"][0]["content"]["text"], "bridge me");
    let state = r1.result()["requestState"].as_str().unwrap().to_string();
    let answer = json!({"w0": {"role": "assistant", "content": {"type": "text", "text": "answered across eras"}, "model": "m", "stopReason": "endTurn"}});
    let mut retry = call.clone();
    retry["inputResponses"] = answer.clone();
    retry["requestState"] = json!(format!("{state}-TAMPERED"));
    let bad = modern.modern_with_meta("tools/call", retry.clone(), caps.clone()).await;
    assert_eq!(bad.last()["error"]["code"], -32602, "{:?}", bad.messages);
    retry["requestState"] = json!(state);
    let r2 = modern.modern_with_meta("tools/call", retry, caps.clone()).await;
    assert_eq!(r2.result()["resultType"], "complete", "{:?}", r2.messages);
    assert!(r2.result()["content"][0]["text"].as_str().unwrap().contains("answered across eras"), "{:?}", r2.messages);
    // Without the capability, the backend's request is declined instead.
    let r = modern.modern("tools/call", call).await;
    assert_ne!(r.result()["resultType"], "input_required", "{:?}", r.messages);

    // The other way: a modern backend's InputRequiredResult reaches a legacy
    // client as a server-to-client request on the call's stream.
    let mut asker = McpClient::new(&format!("{}/mcp", w.base));
    asker.initialize(json!({"elicitation": {}})).await;
    let resp = asker
        .post_streaming(&json!({"jsonrpc": "2.0", "id": 41, "method": "tools/call",
            "params": {"name": "new__test_input_required_result_elicitation", "arguments": {}}}))
        .await;
    let mut sse = test_support::SseReader::new(resp);
    let ask = sse.next_matching(|m| m["method"] == "elicitation/create").await;
    assert!(ask["id"].as_str().unwrap().starts_with("wb."), "{ask}");
    let answer = json!({"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "accept", "content": {"name": "Ada"}}});
    assert_eq!(
        asker.post_raw(serde_json::to_vec(&answer).unwrap(), &[("mcp-protocol-version", "2025-11-25")]).await.status,
        202
    );
    let done = sse.next_matching(|m| m["id"] == 41).await;
    assert!(done["result"]["content"][0]["text"].as_str().unwrap_or_default().contains("Ada"), "{done}");
}

#[tokio::test]
async fn a_restarted_http_backend_is_reinitialized_transparently() {
    let (backend, url) = spawn_conformance_server();
    let addr = url.trim_start_matches("http://").trim_end_matches("/mcp").to_string();
    let w = spawn_warden(&three_backends(&url, "marker-reinit"), &[]);
    wait_ready(&w.admin).await;
    let mut c = McpClient::new(&format!("{}/mcp", w.base));
    c.initialize(json!({})).await;
    let echo = json!({"name": "rmcp__echo", "arguments": {"message": "before"}});
    assert_eq!(c.request("tools/call", echo).await.result()["content"][0]["text"], "before");
    // The backend restarts on the same address and forgets every session.
    drop(backend);
    let (_again, _) = test_support::spawn_conformance_server_at(&addr);
    // Same client session: Warden sees the backend's 404, opens a new backend
    // session and retries, without the client noticing.
    let echo = json!({"name": "rmcp__echo", "arguments": {"message": "after restart"}});
    let r = c.request("tools/call", echo).await;
    assert_eq!(r.result()["content"][0]["text"], "after restart", "{:?}", r.messages);
    let log = w.proc.drain().join("\n");
    assert!(log.contains("backend session expired; re-initializing"), "{log}");
}

#[tokio::test]
async fn a_client_cannot_answer_another_clients_request_on_a_shared_backend() {
    let (_backend, url) = spawn_conformance_server();
    let w = spawn_warden(&three_backends(&url, "marker-spoof"), &[]);
    wait_ready(&w.admin).await;
    let mut victim = McpClient::new(&format!("{}/mcp", w.base));
    victim.initialize(json!({"sampling": {}})).await;
    let mut attacker = McpClient::new(&format!("{}/mcp", w.base));
    attacker.initialize(json!({})).await;
    // The victim's call to the stdio (shared) backend asks the victim to sample.
    let resp = victim
        .post_streaming(&json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"piped__test_sampling","arguments":{"prompt":"mine"}}}))
        .await;
    let mut sse = test_support::SseReader::new(resp);
    let ask = sse.next_matching(|m| m["method"] == "sampling/createMessage").await;
    // The attacker guesses the backend's small counters; none may land.
    for guess in 0..8 {
        for id in [json!(format!("w.1.{guess}")), json!(format!("w.1.\"{guess}\""))] {
            let spoof = json!({"jsonrpc":"2.0","id": id,"result":{"role":"assistant","content":{"type":"text","text":"spoofed"},"model":"m","stopReason":"endTurn"}});
            attacker.post_raw(serde_json::to_vec(&spoof).unwrap(), &[("mcp-protocol-version", "2025-11-25")]).await;
        }
    }
    let answer = json!({"jsonrpc":"2.0","id": ask["id"],"result":{"role":"assistant","content":{"type":"text","text":"genuine"},"model":"m","stopReason":"endTurn"}});
    victim.post_raw(serde_json::to_vec(&answer).unwrap(), &[("mcp-protocol-version", "2025-11-25")]).await;
    let done = sse.next_matching(|m| m["id"] == 9).await;
    let text = done["result"]["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("genuine") && !text.contains("spoofed"), "{done}");
}
