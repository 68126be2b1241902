//! The MCP endpoint's HTTP contract, both eras, against the embedded demo
//! configuration started in-process on port 0.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use test_support::{McpClient, start_in_process};

const DEMO: &str = r#"
listeners: [{name: main, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
limits: {maxRequestBody: 64KiB}
accessLog: off
virtualServers:
  - name: demo
    path: /mcp
    backends:
      - {name: clock, builtin: clock}
      - {name: notes, builtin: notes}
"#;

async fn demo() -> (warden::server::RunningGateway, McpClient) {
    let gw = start_in_process(DEMO, &[]).await;
    let c = McpClient::new(&format!("{}/mcp", gw.base_url()));
    (gw, c)
}

#[tokio::test]
async fn legacy_session_lists_merged_names_and_routes_calls() {
    let (_gw, mut c) = demo().await;
    let init = c.initialize(json!({})).await;
    assert_eq!(init.status, 200);
    let sid = c.session.clone().expect("session id");
    assert!(sid.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    assert_eq!(init.result()["protocolVersion"], "2025-11-25");
    assert_eq!(init.result()["serverInfo"]["name"], "warden/demo");
    assert!(init.result()["capabilities"]["tools"].is_object());
    assert_eq!(init.result()["capabilities"]["resources"]["listChanged"], true);

    let tools = c.request("tools/list", json!({})).await;
    let names = McpClient::names(&tools, "tools", "name");
    for n in ["clock__now", "clock__add", "clock__echo", "clock__countdown", "notes__add_note", "notes__search_notes"] {
        assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
    }
    let add = c.request("tools/call", json!({"name": "clock__add", "arguments": {"a": 2, "b": 40}})).await;
    assert_eq!(add.status, 200);
    assert!(!add.sse, "a call that streams nothing is answered as JSON");
    assert_eq!(add.result()["content"][0]["text"], "42");

    let res = c.request("resources/list", json!({})).await;
    assert_eq!(McpClient::names(&res, "resources", "uri"), vec!["notes+note://welcome"]);
    let read = c.request("resources/read", json!({"uri": "notes+note://welcome"})).await;
    assert_eq!(read.result()["contents"][0]["uri"], "notes+note://welcome");
    let templates = c.request("resources/templates/list", json!({})).await;
    assert_eq!(templates.result()["resourceTemplates"][0]["uriTemplate"], "notes+note://{title}");
    let prompt =
        c.request("prompts/get", json!({"name": "notes__summarize_notes", "arguments": {"style": "brief"}})).await;
    assert!(prompt.result()["messages"][0]["content"]["text"].as_str().unwrap().contains("welcome"));
    let unknown = c.request("tools/call", json!({"name": "nobody__x", "arguments": {}})).await;
    assert_eq!(unknown.last()["error"]["code"], -32602);
    let ping = c.request("ping", json!({})).await;
    assert_eq!(ping.result(), &json!({}));
}

#[tokio::test]
async fn progress_streams_with_the_clients_own_token() {
    let (_gw, mut c) = demo().await;
    c.initialize(json!({})).await;
    let r = c
        .request(
            "tools/call",
            json!({"name": "clock__countdown", "arguments": {"steps": 3, "intervalMs": 1}, "_meta": {"progressToken": "my-token"}}),
        )
        .await;
    assert!(r.sse);
    assert_eq!(r.headers["x-accel-buffering"], "no");
    let progress = r.notifications("notifications/progress");
    assert_eq!(progress.len(), 3);
    assert!(progress.iter().all(|p| p["params"]["progressToken"] == "my-token"));
    assert_eq!(r.result()["content"][0]["text"], "counted down 3 steps");
}

#[tokio::test]
async fn legacy_session_errors() {
    let (_gw, mut c) = demo().await;
    // No session on a non-initialize request: 400.
    let r = c.request("tools/list", json!({})).await;
    assert_eq!(r.status, 400);
    // A forged session: 404.
    c.session = Some("w1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into());
    assert_eq!(c.request("tools/list", json!({})).await.status, 404);
    c.session = None;
    c.initialize(json!({})).await;
    // Unsupported legacy protocol version header: 400.
    let body = serde_json::to_vec(&json!({"jsonrpc":"2.0","id":9,"method":"tools/list"})).unwrap();
    assert_eq!(c.post_raw(body.clone(), &[("mcp-protocol-version", "1999-01-01")]).await.status, 400);
    // DELETE ends the session; it is then unknown (404).
    let del = c.http.delete(&c.url).header("mcp-session-id", c.session.clone().unwrap()).send().await.unwrap();
    assert_eq!(del.status(), 200);
    assert_eq!(c.request("tools/list", json!({})).await.status, 404);
}

#[tokio::test]
async fn modern_requests_are_stateless_and_validated() {
    let (_gw, c) = demo().await;
    let d = c.modern("server/discover", json!({})).await;
    assert_eq!(d.status, 200);
    assert!(d.headers.get("mcp-session-id").is_none());
    assert!(d.result()["supportedVersions"].as_array().unwrap().contains(&json!("2026-07-28")));
    assert_eq!(d.result()["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "warden/demo");
    let tools = c.modern("tools/list", json!({})).await;
    assert_eq!(tools.result()["resultType"], "complete");
    assert!(tools.result()["ttlMs"].is_u64());
    assert!(tools.result()["cacheScope"].is_string());
    let call = c.modern("tools/call", json!({"name": "clock__echo", "arguments": {"message": "héllo"}})).await;
    assert_eq!(call.status, 200, "{:?}", call.messages);
    assert_eq!(call.result()["content"][0]["text"], "héllo");
    assert_eq!(call.result()["resultType"], "complete");

    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let body = |method: &str, params: serde_json::Value| {
        serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})).unwrap()
    };
    // Mcp-Method disagrees with the body: 400 / -32020 (no smuggling past routing).
    let r = c
        .post_raw(
            body("tools/call", json!({"name": "clock__echo", "arguments": {}, "_meta": meta})),
            &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/list"), ("mcp-name", "clock__echo")],
        )
        .await;
    assert_eq!((r.status, r.last()["error"]["code"].as_i64()), (400, Some(-32020)));
    // Mcp-Name disagrees with the body.
    let r = c
        .post_raw(
            body("tools/call", json!({"name": "clock__echo", "arguments": {}, "_meta": meta})),
            &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "tools/call"), ("mcp-name", "clock__add")],
        )
        .await;
    assert_eq!((r.status, r.last()["error"]["code"].as_i64()), (400, Some(-32020)));
    // Version header and _meta disagree.
    let r = c
        .post_raw(
            body("tools/list", json!({"_meta": meta})),
            &[("mcp-protocol-version", "2026-07-29"), ("mcp-method", "tools/list")],
        )
        .await;
    assert_eq!((r.status, r.last()["error"]["code"].as_i64()), (400, Some(-32020)));
    // Unsupported version, consistently declared.
    let old = json!({"io.modelcontextprotocol/protocolVersion": "2099-01-01", "io.modelcontextprotocol/clientCapabilities": {}});
    let r = c
        .post_raw(
            body("tools/list", json!({"_meta": old})),
            &[("mcp-protocol-version", "2099-01-01"), ("mcp-method", "tools/list")],
        )
        .await;
    assert_eq!((r.status, r.last()["error"]["code"].as_i64()), (400, Some(-32022)));
    assert!(r.last()["error"]["data"]["supported"].is_array());
    // Methods removed in the modern era, and unknown ones: 404 / -32601.
    for m in ["initialize", "ping", "logging/setLevel", "no/such"] {
        let r = c
            .post_raw(body(m, json!({"_meta": meta})), &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", m)])
            .await;
        assert_eq!((r.status, r.last()["error"]["code"].as_i64()), (404, Some(-32601)), "{m}");
    }
    // GET and DELETE without a legacy session: 405.
    assert_eq!(c.http.get(&c.url).header("accept", "text/event-stream").send().await.unwrap().status(), 405);
    assert_eq!(c.http.delete(&c.url).send().await.unwrap().status(), 405);
}

#[tokio::test]
async fn hostile_inputs_get_clear_errors() {
    let (gw, c) = demo().await;
    let ok = serde_json::to_vec(&json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}})).unwrap();
    // DNS rebinding: foreign Origin or Host → 403.
    assert_eq!(c.post_raw(ok.clone(), &[("origin", "https://evil.example.com")]).await.status, 403);
    assert_eq!(c.post_raw(ok.clone(), &[("host", "evil.example.com")]).await.status, 403);
    assert_eq!(c.post_raw(ok.clone(), &[("origin", "http://localhost:1234")]).await.status, 200);
    // Body over the limit → 413.
    let big = vec![b' '; 70 * 1024];
    assert_eq!(c.post_raw(big, &[]).await.status, 413);
    // Not JSON, not JSON-RPC, a batch → 400 with the JSON-RPC code.
    let r = c.post_raw(b"{nope".to_vec(), &[]).await;
    assert_eq!((r.status, r.last()["error"]["code"].as_i64()), (400, Some(-32700)));
    let r = c.post_raw(br#"{"jsonrpc":"2.0","id":1}"#.to_vec(), &[]).await;
    assert_eq!((r.status, r.last()["error"]["code"].as_i64()), (400, Some(-32600)));
    let r = c.post_raw(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#.to_vec(), &[]).await;
    assert_eq!(r.status, 400);
    // Wrong content type → 415; token in the query string → 400; other paths → 404.
    let r = c.http.post(&c.url).header("content-type", "text/plain").body(ok.clone()).send().await.unwrap();
    assert_eq!(r.status(), 415);
    let r = c
        .http
        .post(format!("{}?access_token=abc", c.url))
        .header("content-type", "application/json")
        .body(ok.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .http
        .post(format!("{}/other", gw.base_url()))
        .header("content-type", "application/json")
        .body(ok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn admin_endpoints_report_health_and_metrics() {
    let (gw, mut c) = demo().await;
    c.initialize(json!({})).await;
    c.request("tools/call", json!({"name": "clock__now", "arguments": {}})).await;
    let admin = format!("http://{}", gw.admin);
    let http = reqwest::Client::new();
    assert_eq!(http.get(format!("{admin}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(http.get(format!("{admin}/readyz")).send().await.unwrap().status(), 200);
    let m = http.get(format!("{admin}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        m.contains(
            r#"warden_requests_total{virtual_server="demo",backend="clock",method="tools/call",outcome="ok"} 1"#
        ),
        "{m}"
    );
    assert!(m.contains("warden_request_duration_seconds_bucket"));
    assert!(m.contains(r#"warden_backend_up{virtual_server="demo",backend="notes"} 1"#));
}

#[tokio::test]
async fn list_changed_reaches_the_get_stream() {
    let (_gw, mut c) = demo().await;
    c.initialize(json!({})).await;
    let sid = c.session.clone().unwrap();
    let mut stream =
        c.http.get(&c.url).header("accept", "text/event-stream").header("mcp-session-id", &sid).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let r =
        c.request("tools/call", json!({"name": "notes__add_note", "arguments": {"title": "t1", "text": "x"}})).await;
    assert_eq!(r.result()["isError"], false);
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let mut buf = String::new();
        while let Ok(Some(chunk)) = stream.chunk().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            if buf.contains("notifications/resources/list_changed") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(got, Ok(true));
}

#[tokio::test]
async fn backend_pages_are_followed_into_one_merged_list() {
    let (_gw, mut c) = demo().await;
    c.initialize(json!({})).await;
    for i in 0..24 {
        let r = c
            .request(
                "tools/call",
                json!({"name": "notes__add_note", "arguments": {"title": format!("n{i:02}"), "text": "x"}}),
            )
            .await;
        assert_eq!(r.result()["isError"], false);
    }
    // The notes demo serves 10 resources per page; Warden returns all 25 at once.
    let list = c.request("resources/list", json!({})).await;
    let uris = McpClient::names(&list, "resources", "uri");
    assert_eq!(uris.len(), 25, "{uris:?}");
    assert!(uris.contains(&"notes+note://n23".to_string()));
    assert!(list.result().get("nextCursor").is_none());
}
