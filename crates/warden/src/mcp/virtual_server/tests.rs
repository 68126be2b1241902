use serde_json::json;

use super::init::merge_capabilities;
use super::rewrite::{expose_content_uris, expose_item, resolve_tool};
use crate::config::Curation;
use crate::mcp::names::Naming;

fn curation(allow: Option<&[&str]>, deny: &[&str], rename: &[(&str, &str)]) -> Curation {
    let set = |ps: &[&str]| {
        let mut b = globset::GlobSetBuilder::new();
        for p in ps {
            b.add(globset::Glob::new(p).unwrap());
        }
        b.build().unwrap()
    };
    Curation {
        allow: allow.map(set),
        deny: if deny.is_empty() { None } else { Some(set(deny)) },
        rename: rename.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
        rename_back: rename.iter().map(|(a, b)| (b.to_string(), a.to_string())).collect(),
        descriptions: [("nice".to_string(), "Better words".to_string())].into_iter().collect(),
    }
}

#[test]
fn curation_filters_renames_and_describes() {
    let c = curation(Some(&["gh__*"]), &["gh__delete_*"], &[("gh__create_issue", "nice")]);
    let item = |name: &str| json!({"name": name, "description": "orig", "inputSchema": {"type": "object"}});
    let n = Naming::Prefixed;
    assert_eq!(expose_item("tools/list", item("list"), n, "other", &c), None);
    assert_eq!(expose_item("tools/list", item("delete_repo"), n, "gh", &c), None);
    let renamed = expose_item("tools/list", item("create_issue"), n, "gh", &c).unwrap();
    assert_eq!(renamed["name"], "nice");
    assert_eq!(renamed["description"], "Better words");
    // Calls honour the same rules as lists.
    assert_eq!(resolve_tool("nice", n, &c), Some((Some("gh"), "create_issue")));
    assert_eq!(resolve_tool("gh__create_issue", n, &c), None, "old name hidden after rename");
    assert_eq!(resolve_tool("gh__delete_repo", n, &c), None, "denied tools cannot be called");
    assert_eq!(resolve_tool("other__list", n, &c), None);
    assert_eq!(resolve_tool("gh__get", n, &c), Some((Some("gh"), "get")));
}

#[test]
fn uris_in_content_are_prefixed() {
    let mut v = json!({"content": [
        {"type": "text", "text": "x"},
        {"type": "resource", "resource": {"uri": "file:///a", "text": "t"}},
        {"type": "resource_link", "uri": "test://b", "name": "b"}
    ]});
    expose_content_uris(&mut v, Naming::Prefixed, "fs");
    assert_eq!(v["content"][1]["resource"]["uri"], "fs+file:///a");
    assert_eq!(v["content"][2]["uri"], "fs+test://b");
    let mut r = json!({"contents": [{"uri": "note://x", "text": "t"}]});
    expose_content_uris(&mut r, Naming::Prefixed, "notes");
    assert_eq!(r["contents"][0]["uri"], "notes+note://x");
    let mut p = json!({"messages": [{"role": "user", "content": {"type": "resource", "resource": {"uri": "a://b"}}}]});
    expose_content_uris(&mut p, Naming::Prefixed, "x");
    assert_eq!(p["messages"][0]["content"]["resource"]["uri"], "x+a://b");
}

#[test]
fn capabilities_merge_is_a_union() {
    let a = json!({"capabilities": {"tools": {"listChanged": true}, "logging": {}}});
    let b = json!({"capabilities": {"tools": {}, "resources": {"subscribe": true}, "prompts": {}}});
    let m = merge_capabilities(&[a, b]);
    assert_eq!(
        m,
        json!({"tools": {"listChanged": true}, "logging": {}, "resources": {"subscribe": true}, "prompts": {}})
    );
}

mod props {
    use proptest::prelude::*;
    use serde_json::json;

    use super::super::rewrite::{expose_item, resolve_tool};
    use crate::config::Curation;
    use crate::mcp::names::Naming;

    proptest! {
        /// A tool shown in a merged list can always be called by the name shown,
        /// and is routed to the backend it came from.
        #[test]
        fn listed_tools_route_back(backend in "[a-z]{1,6}", name in "[A-Za-z0-9_.-]{1,30}") {
            let c = Curation::default();
            let item = expose_item("tools/list", json!({"name": name}), Naming::Prefixed, &backend, &c).unwrap();
            let shown = item["name"].as_str().unwrap().to_string();
            prop_assert_eq!(resolve_tool(&shown, Naming::Prefixed, &c), Some((Some(backend.as_str()), name.as_str())));
        }
    }
}

#[test]
fn shared_subscriptions_are_counted_per_uri() {
    let cfg = std::sync::Arc::new(crate::config::VirtualServerConfig {
        name: "vs".into(),
        path: "/mcp".into(),
        listeners: None,
        backends: vec![],
        curation: Curation::default(),
        instructions: None,
        auth: None,
        rate_limits: None,
        policy: None,
        pinning: None,
        transaction_tokens: None,
    });
    let vs = super::VirtualServer::new(cfg, vec![]);
    let sub = |s: &str, m: &str| vs.track_shared_subscription(s, 0, m, "x+test://a");
    assert!(sub("a", "resources/subscribe"), "first subscriber reaches the backend");
    assert!(!sub("a", "resources/subscribe"), "a repeated subscribe does not");
    assert!(!sub("b", "resources/subscribe"), "a second subscriber does not");
    assert!(!sub("b", "resources/unsubscribe"), "b leaving keeps a's subscription");
    assert!(!sub("b", "resources/unsubscribe"), "unsubscribing twice is a no-op");
    assert!(sub("a", "resources/unsubscribe"), "the last unsubscribe reaches the backend");
}
