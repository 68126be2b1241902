//! Policy decision time with 1,000 Cedar policies (the benchmark):
//! one `tools/call` decision (allowed, and denied by default), the list
//! filter's partial evaluation for one tool, and filtering a 100-tool list.
//!
//! The policy set: 1,000 policies over 1,000 tools — per-tool permits for a
//! group with a typed argument condition, every tenth a forbid on a label —
//! validated against the schema exactly as `warden serve` loads them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "benchmark set-up, not a request path")]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main};
use serde_json::json;
use warden::auth::{AuthMethod, Binding, Principal, PrincipalKind};
use warden::policy::{
    AttrType, PolicyEngine, PolicyRequest, PolicySource, RequestContext, SchemaExtensions, Target, ToolInfo,
};

mod common;

const POLICIES: usize = 1_000;

/// With `scoped`, each policy names its tool in the scope
/// (`resource == Warden::Tool::"tool_i"`, which the engine indexes); else in
/// the `when` clause (`resource.name == "tool_i"`, evaluated for every request).
fn policy_text(scoped: bool) -> String {
    let mut s = String::new();
    for i in 0..POLICIES {
        let (scope, cond) = if scoped {
            (format!("Warden::Tool::\"tool_{i}\""), "true".to_string())
        } else {
            (String::new(), format!("resource.name == \"tool_{i}\""))
        };
        let resource = if scoped { format!("resource == {scope}") } else { "resource".to_string() };
        if i % 10 == 9 {
            s.push_str(&format!(
                "@id(\"forbid-{i}\")\nforbid (principal, action == Warden::Action::\"tools/call\", {resource})\n\
                 when {{ {cond} && resource.labels has dataClass && \
                 resource.labels.dataClass == \"confidential\" && !principal.roles.contains(\"manager\") }};\n"
            ));
        } else {
            s.push_str(&format!(
                "@id(\"permit-{i}\")\npermit (principal in Warden::Group::\"group_{}\", \
                 action == Warden::Action::\"tools/call\", {resource})\n\
                 when {{ {cond} && context.args has employee_id && \
                 principal.attributes has employee_id && context.args.employee_id == principal.attributes.employee_id }};\n",
                i % 50
            ));
        }
    }
    s
}

fn engine(scoped: bool) -> PolicyEngine {
    let ext = SchemaExtensions {
        principal_attributes: BTreeMap::from([("employee_id".into(), AttrType::String)]),
        args: BTreeMap::from([("employee_id".into(), AttrType::String)]),
        ..SchemaExtensions::default()
    };
    let engine =
        PolicyEngine::load_with(&ext, &[PolicySource::Inline { origin: "bench".into(), text: policy_text(scoped) }]);
    match engine {
        Ok(e) => e,
        Err(errors) => panic!("bench policies do not load: {errors:?}"),
    }
}

fn principal() -> Principal {
    Principal {
        kind: PrincipalKind::User,
        subject: "alice".into(),
        issuer: Some("https://idp.example".into()),
        tenant: None,
        groups: vec!["group_7".into(), "staff".into()],
        roles: vec!["employee".into()],
        scopes: ["mcp:tools".to_string()].into_iter().collect(),
        client_id: Some("agent-1".into()),
        agent: None,
        act: Vec::new(),
        workload: None,
        method: AuthMethod::None,
        binding: Binding::None,
        expires_at: None,
        attributes: Arc::new(json!({"employee_id": "e-100"}).as_object().cloned().unwrap_or_default()),
    }
}

fn tool(i: usize) -> ToolInfo {
    ToolInfo {
        name: format!("tool_{i}"),
        backend: "hr".into(),
        annotations: json!({"readOnlyHint": true}),
        labels: BTreeMap::from([("dataClass".into(), "internal".into())]),
        input_schema: json!({"type": "object", "properties": {"employee_id": {"type": "string"}}}),
    }
}

fn call(i: usize) -> PolicyRequest {
    PolicyRequest {
        principal: principal(),
        action: "tools/call".into(),
        target: Target::Tool(tool(i)),
        args: json!({"employee_id": "e-100"}),
        context: RequestContext { epoch: 1_800_000_000, era: "modern".into(), ..RequestContext::default() },
    }
}

fn bench(c: &mut criterion::Criterion) {
    for (group, scoped) in [("policy_1000_scoped", true), ("policy_1000_when", false)] {
        bench_set(c, group, &engine(scoped));
    }
}

fn bench_set(c: &mut criterion::Criterion, group: &str, e: &PolicyEngine) {
    assert_eq!(e.len(), POLICIES);
    // tool_7 is permitted for group_7 with the caller's own employee id.
    let allowed = call(7);
    assert!(e.decide(&allowed).allowed);
    let denied = call(8);
    assert!(!e.decide(&denied).allowed);
    let mut g = c.benchmark_group(group);
    g.bench_function("decide_allow", |b| b.iter(|| black_box(e.decide(black_box(&allowed)))));
    g.bench_function("decide_default_deny", |b| b.iter(|| black_box(e.decide(black_box(&denied)))));
    g.bench_function("list_filter_one_tool", |b| b.iter(|| black_box(e.may_be_allowed(black_box(&allowed)))));
    let tools: Vec<ToolInfo> = (0..100).map(tool).collect();
    let p = principal();
    let ctx = RequestContext::default();
    g.bench_function("filter_100_tools", |b| b.iter(|| black_box(e.filter(&p, black_box(&tools), &ctx).len())));
    g.finish();
}

criterion_group! { name = benches; config = common::short(); targets = bench }
criterion_main!(benches);
