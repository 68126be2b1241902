//! Authorization on the request path, end to end through an in-process
//! Warden in front of the real conformance backend (rmcp): lists filtered per
//! caller, calls decided with typed arguments, step-up challenges, labels
//! from config, audit records with the deciding policies, tool-definition
//! pinning, an external decision point, and policy hot reload.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "auth/support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use test_support::{McpClient, Reply, spawn_conformance_server, start_in_process};

use support::{EcKey, claims, http_server, json_resp, parse_challenge, token};

const POLICIES: &str = r#"
@id("lists")
permit (principal, action in [Warden::Action::"tools/list", Warden::Action::"prompts/list",
  Warden::Action::"resources/list", Warden::Action::"resources/templates/list"], resource);

@id("echo-staff-hello")
permit (principal in Warden::Group::"staff", action == Warden::Action::"tools/call", resource)
when { resource.name == "echo" && context.args has message && context.args.message like "hello*" };

@id("add-within-limit")
permit (principal, action == Warden::Action::"tools/call", resource)
when {
  resource.name == "add" && context.args has a && principal.attributes has limit &&
  context.args.a <= principal.attributes.limit
};

@id("admins-any-tool")
permit (principal in Warden::Group::"admins", action == Warden::Action::"tools/call", resource);

@id("no-high-risk")
forbid (principal, action == Warden::Action::"tools/call", resource)
when { resource.labels has risk && resource.labels.risk == "high" };

@id("big-add-needs-admin")
@stepUpScope("mcp:admin")
forbid (principal, action == Warden::Action::"tools/call", resource)
when { resource.name == "add" && context.args has a && context.args.a > 100 }
unless { principal.scopes.contains("mcp:admin") };
"#;

struct Setup {
    gw: warden::server::RunningGateway,
    key: EcKey,
    url: String,
    audit: std::path::PathBuf,
    _backend: test_support::Proc,
    _dir: tempfile::TempDir,
}

fn config(jwks: &Value, backend: &str, policy_file: &str, audit: &str, extra_vs: &str) -> String {
    format!(
        r#"
listeners: [{{name: main, address: "127.0.0.1:0"}}]
admin: {{address: "127.0.0.1:0"}}
audit: {{file: "{audit}"}}
virtualServers:
  - name: tools
    path: /mcp
    backends: [{{name: conf, url: "{backend}"}}]
    auth:
      jwt:
        - issuer: https://idp.test
          jwks: {jwks}
          claims: {{attributes: {{limit: limit}}}}
    policy:
      files: ["{policy_file}"]
      schema:
        principalAttributes: {{limit: long}}
        args: {{message: string, a: long}}
      labels:
        tools: [{{match: "debug_*", labels: {{risk: high}}}}]
      redactArguments: [message]
{extra_vs}
"#
    )
}

async fn setup(extra_vs: &str) -> Setup {
    let (proc, backend) = spawn_conformance_server();
    let key = EcKey::generate();
    let dir = tempfile::tempdir().unwrap();
    let policy_file = dir.path().join("policies.cedar");
    std::fs::write(&policy_file, POLICIES).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let jwks = json!({"keys": [key.public_jwk("k1")]});
    let yaml = config(&jwks, &backend, &policy_file.display().to_string(), &audit.display().to_string(), extra_vs);
    let gw = start_in_process(&yaml, &[]).await;
    let url = format!("{}/mcp", gw.base_url());
    Setup { gw, key, url, audit, _backend: proc, _dir: dir }
}

/// A client whose every request carries a token for `sub` with `groups`, `scope` and `limit`.
fn client(s: &Setup, sub: &str, groups: &[&str], scope: &str, limit: i64) -> McpClient {
    let mut c = claims(&s.url, sub, scope);
    c["groups"] = json!(groups);
    c["limit"] = json!(limit);
    let t = token(&s.key, "k1", &c);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {t}").parse().unwrap());
    let mut client = McpClient::new(&s.url);
    client.http = reqwest::Client::builder().no_proxy().default_headers(headers).build().unwrap();
    client
}

fn tool_names(r: &Reply) -> Vec<String> {
    let mut n = McpClient::names(r, "tools", "name");
    n.sort();
    n
}

fn error_code(r: &Reply) -> Option<i64> {
    r.last()["error"]["code"].as_i64()
}

fn audit_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

async fn flush(s: &Setup) {
    s.gw.gateway.runtime().audit.as_ref().unwrap().flush().unwrap();
}

#[tokio::test]
async fn lists_show_only_what_the_caller_may_call() {
    let s = setup("").await;
    let staff = client(&s, "alice", &["staff"], "", 10);
    let nobody = client(&s, "bob", &[], "", 10);
    let admin = client(&s, "root", &["admins"], "", 0);
    let r = staff.modern("tools/list", json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.last());
    assert_eq!(tool_names(&r), vec!["add", "echo"], "staff: echo (for some messages) and add");
    assert_eq!(r.result()["cacheScope"], "private", "a filtered list is never shared");
    let r = nobody.modern("tools/list", json!({})).await;
    assert_eq!(tool_names(&r), vec!["add"], "without a group only add");
    // Admins may call any tool except the high-risk ones (forbid wins).
    let names = tool_names(&admin.modern("tools/list", json!({})).await);
    assert!(names.len() > 5, "admins see many tools: {names:?}");
    assert!(!names.contains(&"debug_request_headers".to_string()), "labelled high risk: hidden");
    // Legacy era: the same filter.
    let mut legacy = client(&s, "alice", &["staff"], "", 10);
    legacy.initialize(json!({})).await;
    assert_eq!(tool_names(&legacy.request("tools/list", json!({})).await), vec!["add", "echo"]);
}

#[tokio::test]
async fn calls_are_decided_with_typed_arguments_and_audited() {
    let s = setup("").await;
    let staff = client(&s, "alice", &["staff"], "", 10);
    let r = staff.modern("tools/call", json!({"name": "echo", "arguments": {"message": "hello there"}})).await;
    assert_eq!(r.result()["content"][0]["text"], "hello there", "{:?}", r.last());
    let r = staff.modern("tools/call", json!({"name": "echo", "arguments": {"message": "bye"}})).await;
    assert_eq!(error_code(&r), Some(-32003), "{:?}", r.last());
    let body = r.last().to_string();
    assert!(!body.contains("echo-staff") && !body.contains("permit"), "no policy internals: {body}");
    // Numbers typed by the tool's input schema: a <= limit.
    let r = staff.modern("tools/call", json!({"name": "add", "arguments": {"a": 5, "b": 1}})).await;
    assert_eq!(r.result()["content"][0]["text"], "6", "{:?}", r.last());
    let r = staff.modern("tools/call", json!({"name": "add", "arguments": {"a": 50, "b": 1}})).await;
    assert_eq!(error_code(&r), Some(-32003));
    // A string where the schema says number is dropped, never coerced: denied.
    let r = staff.modern("tools/call", json!({"name": "add", "arguments": {"a": "5", "b": 1}})).await;
    assert_eq!(error_code(&r), Some(-32003));
    // Only a step-up forbid stands in the way: the insufficient_scope challenge.
    let r = staff.modern("tools/call", json!({"name": "add", "arguments": {"a": 150, "b": 1}})).await;
    assert_eq!(r.status, 403, "{:?}", r.last());
    let www = r.headers.get("www-authenticate").unwrap().to_str().unwrap();
    let ch = parse_challenge(www);
    assert_eq!(ch.params.get("error").map(String::as_str), Some("insufficient_scope"));
    assert!(ch.params.get("scope").is_some_and(|sc| sc.contains("mcp:admin")), "{www}");
    // With the scope the forbid is gone, but no permit covers a = 150 > limit: denied, no challenge.
    let stepped = client(&s, "alice", &["staff"], "mcp:admin", 10);
    let r = stepped.modern("tools/call", json!({"name": "add", "arguments": {"a": 150, "b": 1}})).await;
    assert_eq!((r.status, error_code(&r)), (200, Some(-32003)));
    let request_id = r.headers.get("x-request-id").unwrap().to_str().unwrap().to_string();
    // Legacy era: same decisions.
    let mut legacy = client(&s, "alice", &["staff"], "", 10);
    legacy.initialize(json!({})).await;
    let r = legacy.request("tools/call", json!({"name": "echo", "arguments": {"message": "bye"}})).await;
    assert_eq!(error_code(&r), Some(-32003));

    flush(&s).await;
    let records = audit_lines(&s.audit);
    let calls: Vec<&Value> = records.iter().filter(|r| r["action"] == "tools/call").collect();
    assert_eq!(calls.len(), 8, "one record per call decision: {records:#?}");
    let allowed_echo = calls.iter().find(|r| r["decision"] == "allow" && r["resource"]["id"] == "echo").unwrap();
    assert_eq!(allowed_echo["policies"], json!(["echo-staff-hello"]));
    assert_eq!(allowed_echo["outcome"], "success");
    assert_eq!(allowed_echo["arguments"]["message"], "[redacted]", "marked arguments never reach the file");
    assert_eq!(allowed_echo["principal"]["subject"], "alice");
    let step_up = calls.iter().find(|r| r["policies"] == json!(["big-add-needs-admin"])).unwrap();
    assert_eq!((step_up["decision"].as_str(), step_up["outcome"].as_str()), (Some("deny"), Some("denied")));
    let by_id = calls.iter().find(|r| r["requestId"] == request_id.as_str()).unwrap();
    assert_eq!(by_id["reason"], "no policy permits");
    assert_eq!(by_id["backend"], "conf");
    let lists: Vec<&Value> = records.iter().filter(|r| r["action"] == "tools/list").collect();
    assert!(lists.is_empty(), "no list here");
    let report = warden::audit::verify(&s.audit).unwrap();
    assert!(report.ok, "{:?}", report.problem);
    assert_eq!(report.records, records.len() as u64);
}

#[tokio::test]
async fn external_decision_point_decides_after_cedar_and_fails_closed() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let pdp = http_server(move |req: http::Request<hyper::body::Incoming>| {
        let h = h.clone();
        async move {
            use http_body_util::BodyExt;
            h.fetch_add(1, Ordering::SeqCst);
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let input: Value = serde_json::from_slice(&body).unwrap();
            let allow = input["input"]["context"]["args"]["message"] != "hello vetoed";
            json_resp(200, &json!({"result": allow}))
        }
    })
    .await;
    let extra = format!(
        r#"  - name: ext
    path: /ext
    backends: [{{name: conf, url: "${{BACKEND}}"}}]
    policy:
      external: {{url: "http://{}/v1/data/warden/allow", timeout: 2s}}
  - name: down
    path: /down
    backends: [{{name: conf, url: "${{BACKEND}}"}}]
    policy:
      external: {{url: "http://127.0.0.1:9/v1/data/warden/allow", timeout: 500ms}}
"#,
        pdp.addr
    );
    // The extra virtual servers reuse the same backend URL.
    let (proc, backend) = spawn_conformance_server();
    let extra = extra.replace("${BACKEND}", &backend);
    let s = setup(&extra).await;
    let staff = client(&s, "alice", &["staff"], "", 10);
    let r = staff.modern("tools/call", json!({"name": "echo", "arguments": {"message": "hello vetoed"}})).await;
    assert_eq!(r.result()["content"][0]["text"], "hello vetoed", "the main server has no PDP: Cedar decides");
    let ext = McpClient::new(&format!("{}/ext", s.gw.base_url()));
    let r = ext.modern("tools/call", json!({"name": "echo", "arguments": {"message": "fine"}})).await;
    assert_eq!(r.result()["content"][0]["text"], "fine", "{:?}", r.last());
    let r = ext.modern("tools/call", json!({"name": "echo", "arguments": {"message": "hello vetoed"}})).await;
    assert_eq!(error_code(&r), Some(-32003), "{:?}", r.last());
    let before = hits.load(Ordering::SeqCst);
    let r = ext.modern("tools/call", json!({"name": "echo", "arguments": {"message": "fine"}})).await;
    assert_eq!(r.result()["content"][0]["text"], "fine");
    assert_eq!(hits.load(Ordering::SeqCst), before, "the same input is answered from the cache");
    let down = McpClient::new(&format!("{}/down", s.gw.base_url()));
    let r = down.modern("tools/call", json!({"name": "echo", "arguments": {"message": "fine"}})).await;
    assert_eq!(error_code(&r), Some(-32003), "unreachable PDP: fail closed");
    drop(proc);
}

#[tokio::test]
async fn pinning_hides_and_blocks_changed_tools() {
    let (proc, backend) = spawn_conformance_server();
    // The backend's own definitions, as Warden would hash them.
    let direct = McpClient::new(&backend);
    let defs = direct.modern("tools/list", json!({})).await;
    let tools = defs.result()["tools"].as_array().unwrap().clone();
    let def = |n: &str| tools.iter().find(|t| t["name"] == n).unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let pins = dir.path().join("pins.json");
    let write_pins = |echo_hash: &str| {
        let doc = json!({"version": 1, "tools": {
            "add": {"sha256": warden::pinning::tool_hash(&def("add")), "backend": "conf", "approvedAt": "2026-11-22T10:00:00Z"},
            "echo": {"sha256": echo_hash, "backend": "conf", "approvedAt": "2026-11-22T10:00:00Z"},
        }});
        std::fs::write(&pins, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    };
    // `echo` was approved with another definition: a rug pull.
    write_pins(&"0".repeat(64));
    let yaml = format!(
        r#"
listeners: [{{name: main, address: "127.0.0.1:0"}}]
admin: {{address: "127.0.0.1:0"}}
virtualServers:
  - name: pinned
    path: /mcp
    backends: [{{name: conf, url: "{backend}"}}]
    pinning: {{file: "{}"}}
"#,
        pins.display()
    );
    let gw = start_in_process(&yaml, &[]).await;
    let c = McpClient::new(&format!("{}/mcp", gw.base_url()));
    let r = c.modern("tools/list", json!({})).await;
    assert_eq!(tool_names(&r), vec!["add"], "changed and unapproved tools are hidden");
    let r = c.modern("tools/call", json!({"name": "echo", "arguments": {"message": "x"}})).await;
    assert_eq!(error_code(&r), Some(-32602), "blocked like an unknown tool: {:?}", r.last());
    assert_eq!(r.last()["error"]["message"], "Unknown tool");
    let r = c.modern("tools/call", json!({"name": "add", "arguments": {"a": 1, "b": 2}})).await;
    assert_eq!(r.result()["content"][0]["text"], "3");
    // Listing again does not count the same change twice.
    c.modern("tools/list", json!({})).await;
    let metrics = reqwest::get(format!("http://{}/metrics", gw.admin)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"warden_tool_pin_mismatch_total{virtual_server="pinned",tool="echo"} 1"#), "{metrics}");
    let blocked = metrics.lines().find(|l| l.starts_with("warden_tool_pin_blocked{")).unwrap();
    assert!(!blocked.ends_with(" 0"), "{blocked}");
    // Approving the current definition (and reloading) brings it back.
    write_pins(&warden::pinning::tool_hash(&def("echo")));
    let cfg = warden::config::load_str(&yaml, "test", &|_| None).unwrap();
    gw.gateway.reload(cfg).await.unwrap();
    let r = c.modern("tools/call", json!({"name": "echo", "arguments": {"message": "back"}})).await;
    assert_eq!(r.result()["content"][0]["text"], "back", "{:?}", r.last());
    drop(proc);
}

#[tokio::test]
async fn policies_reload_atomically_and_a_broken_one_is_refused() {
    let s = setup("").await;
    let staff = client(&s, "alice", &["staff"], "", 10);
    let call = || staff.modern("tools/call", json!({"name": "echo", "arguments": {"message": "bye"}}));
    assert_eq!(error_code(&call().await), Some(-32003));
    let policy_file = s._dir.path().join("policies.cedar");
    let yaml_for = |policies: &str| {
        std::fs::write(&policy_file, policies).unwrap();
        let (_, backend) = (0, s.gw.gateway.runtime().config.virtual_servers[0].backends[0].clone());
        let url = match &backend.kind {
            warden::config::BackendKind::StreamableHttp { url, .. } => url.to_string(),
            _ => unreachable!(),
        };
        let jwks = json!({"keys": [s.key.public_jwk("k1")]});
        config(&jwks, &url, &policy_file.display().to_string(), &s.audit.display().to_string(), "")
    };
    let opened = POLICIES.replace(r#"context.args.message like "hello*""#, "true");
    let cfg = warden::config::load_str(&yaml_for(&opened), "test", &|_| None).unwrap();
    s.gw.gateway.reload(cfg).await.unwrap();
    let r = call().await;
    assert_eq!(r.result()["content"][0]["text"], "bye", "the reloaded policy is in force: {:?}", r.last());
    // A policy naming an undeclared attribute fails validation: file, line and id in the error.
    let broken =
        format!("{opened}\n@id(\"typo\")\npermit (principal, action, resource) when {{ resource.nmae == \"x\" }};\n");
    let err = warden::config::load_str(&yaml_for(&broken), "test", &|_| None).unwrap_err().to_string();
    assert!(err.contains("policies.cedar:") && err.contains("policy typo") && err.contains("nmae"), "{err}");
    assert_eq!(call().await.result()["content"][0]["text"], "bye", "the old policies stay in force");
}

/// Over random callers and arguments, through the request path (labels
/// from config, definitions from the backend): a tool missing from a
/// caller's `tools/list` is never callable by that caller, and whatever a
/// call is allowed was listed.
#[tokio::test]
async fn list_filtering_and_call_authorization_never_disagree() {
    use rand::{Rng, SeedableRng};
    let s = setup("").await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0005_eed4);
    let group_sets: [&[&str]; 4] = [&[], &["staff"], &["admins"], &["staff", "admins"]];
    let tools = ["echo", "add", "debug_request_headers"];
    let mut allowed_calls = 0;
    for case in 0..24 {
        let groups = group_sets[rng.random_range(0..group_sets.len())];
        let scope = if rng.random_bool(0.3) { "mcp:admin" } else { "" };
        let limit = rng.random_range(-5..120);
        let c = client(&s, &format!("user{case}"), groups, scope, limit);
        let listed = tool_names(&c.modern("tools/list", json!({})).await);
        for _ in 0..4 {
            let tool = tools[rng.random_range(0..tools.len())];
            let args = match tool {
                "echo" => {
                    let m = ["hello", "hello world", "bye", ""][rng.random_range(0..4)];
                    json!({"message": m})
                }
                "add" => json!({"a": rng.random_range(-10..200), "b": 1}),
                _ => json!({}),
            };
            let r = c.modern("tools/call", json!({"name": tool, "arguments": args})).await;
            let refused = r.status == 403 || error_code(&r) == Some(-32003);
            if !refused {
                allowed_calls += 1;
                assert!(
                    listed.contains(&tool.to_string()),
                    "{tool} {args} allowed for {groups:?}/{scope}/{limit} but not listed in {listed:?}"
                );
            }
        }
    }
    assert!(allowed_calls > 5, "the sample exercises allowed calls too ({allowed_calls})");
}
