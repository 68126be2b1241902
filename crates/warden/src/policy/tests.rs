use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::auth::principal::Actor;
use crate::auth::{AgentIdentity, Principal, PrincipalKind};

/// The HR example from the policy issue.
const HR_POLICIES: &str = r#"// Everyday tools for staff.
@id("staff-general-tools")
permit (principal in Warden::Group::"staff", action == Warden::Action::"tools/call", resource)
when { !(resource.name like "hr__*") };

// An employee may read time off only for their own employee id.
@id("hr-time-off-own")
permit (principal in Warden::Group::"staff", action == Warden::Action::"tools/call", resource)
when {
  resource.name == "hr__get_time_off" &&
  principal.attributes has employee_id && context.args has employee_id &&
  context.args.employee_id == principal.attributes.employee_id
};

// Salaries only for managers of that department.
@id("hr-salaries-managers")
permit (principal, action == Warden::Action::"tools/call", resource)
when {
  resource.name == "hr__list_salaries" && principal.roles.contains("manager") &&
  principal.attributes has department && context.args has department &&
  context.args.department == principal.attributes.department
};

// No agent may call a confidential tool on behalf of a contractor.
@id("no-agent-confidential-for-contractors")
forbid (principal in Warden::Group::"contractors", action == Warden::Action::"tools/call", resource)
when { principal has agent && resource.labels has dataClass && resource.labels.dataClass == "confidential" };

// delete_* tools need the mcp:admin scope (step-up).
@id("delete-needs-admin-scope")
@stepUpScope("mcp:admin")
forbid (principal, action == Warden::Action::"tools/call", resource)
when { resource.name like "*delete_*" }
unless { principal.scopes.contains("mcp:admin") };
"#;

fn hr_ext() -> SchemaExtensions {
    SchemaExtensions {
        principal_attributes: BTreeMap::from([
            ("employee_id".into(), AttrType::String),
            ("department".into(), AttrType::String),
        ]),
        labels: BTreeSet::new(),
        args: BTreeMap::from([("employee_id".into(), AttrType::String), ("department".into(), AttrType::String)]),
        headers: BTreeSet::from(["x-tenant".to_owned()]),
    }
}

fn hr_engine() -> &'static PolicyEngine {
    static ENGINE: OnceLock<PolicyEngine> = OnceLock::new();
    ENGINE.get_or_init(|| match PolicyEngine::load_with(&hr_ext(), &[inline("hr.cedar", HR_POLICIES)]) {
        Ok(e) => e,
        Err(errors) => panic!("load failed: {errors:#?}"),
    })
}

fn arg_free_engine() -> &'static PolicyEngine {
    static ENGINE: OnceLock<PolicyEngine> = OnceLock::new();
    ENGINE.get_or_init(|| match PolicyEngine::load(&[inline("prop", ARG_FREE_POLICIES)]) {
        Ok(e) => e,
        Err(errors) => panic!("load failed: {errors:#?}"),
    })
}

fn inline(origin: &str, text: &str) -> PolicySource {
    PolicySource::Inline { origin: origin.into(), text: text.into() }
}

fn user(subject: &str, groups: &[&str], roles: &[&str], scopes: &[&str], attrs: serde_json::Value) -> Principal {
    let mut p = Principal::anonymous();
    p.kind = PrincipalKind::User;
    p.subject = subject.into();
    p.groups = groups.iter().map(|s| (*s).to_owned()).collect();
    p.roles = roles.iter().map(|s| (*s).to_owned()).collect();
    p.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    p.attributes = Arc::new(attrs.as_object().cloned().unwrap_or_default());
    p
}

fn via_agent(mut p: Principal, agent: &str) -> Principal {
    p.agent = Some(AgentIdentity { id: agent.into(), source: "act" });
    p.act = vec![Actor { subject: agent.into(), issuer: None, client_id: None }];
    p
}

fn tool(name: &str, data_class: Option<&str>) -> ToolInfo {
    ToolInfo {
        name: name.into(),
        backend: "hr".into(),
        annotations: json!({"readOnlyHint": true}),
        labels: data_class.map(|d| BTreeMap::from([("dataClass".to_owned(), d.to_owned())])).unwrap_or_default(),
        input_schema: json!({"type": "object", "properties": {
            "employee_id": {"type": "string"}, "department": {"type": "string"}, "days": {"type": "integer"}
        }}),
    }
}

fn call(p: &Principal, t: &ToolInfo, args: serde_json::Value) -> PolicyRequest {
    PolicyRequest {
        principal: p.clone(),
        action: "tools/call".into(),
        target: Target::Tool(t.clone()),
        args,
        context: RequestContext { era: "modern".into(), ..RequestContext::default() },
    }
}

fn alice() -> Principal {
    user("alice", &["staff"], &[], &[], json!({"employee_id": "E1", "department": "sales"}))
}

#[test]
fn schema_parses_and_empty_policy_set_denies() {
    let engine = match PolicyEngine::load(&[]) {
        Ok(e) => e,
        Err(errors) => panic!("{errors:#?}"),
    };
    assert!(engine.is_empty());
    assert!(engine.schema_text().contains("action \"tools/call\" appliesTo"));
    let d = engine.decide(&call(&alice(), &tool("docs__search", None), json!({})));
    assert!(!d.allowed);
    assert!(d.policies.is_empty());
}

#[test]
fn time_off_only_for_own_employee_id() {
    let e = hr_engine();
    let t = tool("hr__get_time_off", None);
    let own = e.decide(&call(&alice(), &t, json!({"employee_id": "E1"})));
    assert!(own.allowed, "{own:?}");
    assert_eq!(own.policies, ["hr-time-off-own"]);
    let other = e.decide(&call(&alice(), &t, json!({"employee_id": "E2"})));
    assert!(!other.allowed);
    assert!(other.policies.is_empty(), "default deny: {other:?}");
    // Wrongly typed argument: dropped, so the rule cannot match.
    let wrong = e.decide(&call(&alice(), &t, json!({"employee_id": 1})));
    assert!(!wrong.allowed);
}

#[test]
fn salaries_only_for_managers_of_that_department() {
    let e = hr_engine();
    let t = tool("hr__list_salaries", Some("confidential"));
    let mgr = user("bob", &["staff"], &["manager"], &[], json!({"employee_id": "E9", "department": "sales"}));
    assert!(e.decide(&call(&mgr, &t, json!({"department": "sales"}))).allowed);
    assert!(!e.decide(&call(&mgr, &t, json!({"department": "finance"}))).allowed);
    assert!(!e.decide(&call(&alice(), &t, json!({"department": "sales"}))).allowed);
}

#[test]
fn no_agent_calls_confidential_tools_for_contractors() {
    let e = hr_engine();
    let t = tool("crm__export", Some("confidential"));
    let contractor = user("carol", &["staff", "contractors"], &[], &[], json!({}));
    // The contractor herself may; an agent acting for her may not.
    assert!(e.decide(&call(&contractor, &t, json!({}))).allowed);
    let d = e.decide(&call(&via_agent(contractor.clone(), "agent-x"), &t, json!({})));
    assert!(!d.allowed);
    assert_eq!(d.policies, ["no-agent-confidential-for-contractors"]);
    assert!(d.step_up_scopes.is_empty());
    // An agent acting for an employee may; and for the contractor on an internal tool.
    assert!(e.decide(&call(&via_agent(alice(), "agent-x"), &t, json!({}))).allowed);
    let internal = tool("crm__export", Some("internal"));
    assert!(e.decide(&call(&via_agent(contractor, "agent-x"), &internal, json!({}))).allowed);
}

#[test]
fn delete_tools_need_admin_scope_and_ask_for_step_up() {
    let e = hr_engine();
    let t = tool("docs__delete_page", None);
    let d = e.decide(&call(&alice(), &t, json!({})));
    assert!(!d.allowed);
    assert_eq!(d.policies, ["delete-needs-admin-scope"]);
    assert_eq!(d.step_up_scopes, ["mcp:admin"]);
    let admin = user("alice", &["staff"], &[], &["mcp:admin"], json!({"employee_id": "E1"}));
    let d = e.decide(&call(&admin, &t, json!({})));
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.policies, ["staff-general-tools"]);
}

#[test]
fn list_filtering_shows_argument_dependent_tools_and_hides_impossible_ones() {
    let e = hr_engine();
    let tools = [
        tool("hr__get_time_off", None),
        tool("hr__list_salaries", None),
        tool("docs__search", None),
        tool("docs__delete_page", None),
    ];
    let ctx = RequestContext::default();
    let names = |p: &Principal| e.filter(p, &tools, &ctx).iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&alice()), ["hr__get_time_off", "docs__search"]);
    let mgr =
        user("bob", &["staff"], &["manager"], &["mcp:admin"], json!({"employee_id": "E9", "department": "sales"}));
    assert_eq!(names(&mgr), ["hr__get_time_off", "hr__list_salaries", "docs__search", "docs__delete_page"]);
    let outsider = user("eve", &[], &[], &[], json!({}));
    assert!(names(&outsider).is_empty());
}

#[test]
fn typed_args_follow_the_input_schema() {
    let schema = json!({"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "ok": {"type": "boolean"},
        "ratio": {"type": "number"}, "maybe": {"type": ["string", "null"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "filter": {"type": "object", "properties": {"dept": {"type": "string"}}}
    }});
    let args = json!({
        "id": 7, "name": "x", "ok": true, "ratio": 0.5, "maybe": "y", "undeclared": 1,
        "tags": ["a", 2], "filter": {"dept": "sales", "extra": true}
    });
    let typed = typed_args(&args, &schema);
    assert_eq!(typed.get("id"), Some(&ArgValue::Long(7)));
    assert_eq!(typed.get("name"), Some(&ArgValue::String("x".into())));
    assert_eq!(typed.get("ok"), Some(&ArgValue::Bool(true)));
    assert_eq!(
        typed.get("filter"),
        Some(&ArgValue::Record(BTreeMap::from([("dept".into(), ArgValue::String("sales".into()))])))
    );
    for dropped in ["ratio", "maybe", "undeclared", "tags"] {
        assert!(!typed.contains_key(dropped), "{dropped} should be dropped");
    }
    // Mismatched type: a string where the schema says integer.
    assert!(typed_args(&json!({"id": "7"}), &schema).is_empty());
}

#[test]
fn long_arguments_and_context_reach_policies() {
    let ext = SchemaExtensions {
        args: BTreeMap::from([("days".into(), AttrType::Long)]),
        headers: BTreeSet::from(["x-tenant".to_owned()]),
        ..SchemaExtensions::default()
    };
    let policy = r#"@id("short-leave-office-hours")
permit (principal, action == Warden::Action::"tools/call", resource)
when {
  context.args has days && context.args.days <= 5 &&
  context.time.hour >= 8 && context.time.hour < 18 && context.era == "modern" &&
  context.headers has "x-tenant" && context.headers["x-tenant"] == "acme" &&
  context has clientAddress && context.clientAddress.isInRange(ip("10.0.0.0/8"))
};"#;
    let e = match PolicyEngine::load_with(&ext, &[inline("ctx", policy)]) {
        Ok(e) => e,
        Err(errors) => panic!("{errors:#?}"),
    };
    let mut req = call(&alice(), &tool("hr__request_leave", None), json!({"days": 3}));
    req.context.epoch = 9 * 3600 + 86_400 * 100;
    req.context.client_address = "10.1.2.3".parse().ok();
    req.context.headers.insert("x-tenant".into(), "acme".into());
    assert!(e.decide(&req).allowed, "{:?}", e.decide(&req));
    let mut late = req.clone();
    late.context.epoch += 10 * 3600;
    assert!(!e.decide(&late).allowed);
    let mut long = req.clone();
    long.args = json!({"days": 30});
    assert!(!e.decide(&long).allowed);
    let mut outside = req;
    outside.context.client_address = "192.168.0.1".parse().ok();
    assert!(!e.decide(&outside).allowed);
}

#[test]
fn parse_errors_name_file_line_and_id() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("broken.cedar");
    let text = "@id(\"ok\")\npermit (principal, action, resource);\n\n@id(\"broken\")\npermit (principal, action, resource)\nwhen { resource.name == };\n";
    let mut f = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    f.write_all(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let errors = PolicyEngine::load(&[PolicySource::File(path.clone())]).err().unwrap_or_default();
    assert!(!errors.is_empty());
    let first = &errors[0];
    assert!(first.starts_with(&format!("{}:6:", path.display())), "{first}");
    assert!(first.contains("policy broken"), "{first}");
}

#[test]
fn validation_errors_name_origin_line_column_and_id() {
    let text = "@id(\"fine\")\npermit (principal, action == Warden::Action::\"tools/list\", resource);\n\n\
                @id(\"typo\")\npermit (principal, action == Warden::Action::\"tools/call\", resource)\n\
                when { resource.nmae == \"x\" };\n\n\
                forbid (principal, action == Warden::Action::\"tools/call\", resource)\nwhen { context.args.nope == 1 };\n";
    let errors = PolicyEngine::load(&[inline("config:policies[0]", text)]).err().unwrap_or_default();
    eprintln!("{errors:#?}");
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].starts_with("config:policies[0]:6:8: policy typo:"), "{}", errors[0]);
    // No @id: the id is origin:line.
    assert!(errors[1].starts_with("config:policies[0]:9:"), "{}", errors[1]);
    assert!(errors[1].contains("policy config:policies[0]:8:"), "{}", errors[1]);
}

#[test]
fn duplicate_ids_are_refused_with_both_locations() {
    let a = "@id(\"same\")\npermit (principal, action, resource);\n";
    let b = "\n\n@id(\"same\")\nforbid (principal, action, resource);\n";
    let errors = PolicyEngine::load(&[inline("a", a), inline("b", b)]).err().unwrap_or_default();
    assert_eq!(errors, ["b:3:1: policy same: duplicate policy id (first defined at a:1:1)"]);
}

#[test]
fn case_file_reports_deciding_policies() {
    let e = hr_engine();
    let yaml = r#"
cases:
  - name: employee reads own time off
    principal: {subject: alice, groups: [staff], attributes: {employee_id: E1}}
    action: tools/call
    resource: {type: tool, name: hr__get_time_off, backend: hr,
               inputSchema: {type: object, properties: {employee_id: {type: string}}}}
    context: {args: {employee_id: E1}}
    expect: allow
  - name: employee reads someone else's time off
    principal: {subject: alice, groups: [staff], attributes: {employee_id: E1}}
    action: tools/call
    resource: {type: tool, name: hr__get_time_off, backend: hr,
               inputSchema: {type: object, properties: {employee_id: {type: string}}}}
    context: {args: {employee_id: E2}}
    expect: deny
  - name: agent for contractor on confidential tool
    principal: {subject: carol, groups: [staff, contractors], agent: agent-x, act: [agent-x]}
    action: tools/call
    resource: {type: tool, name: crm__export, labels: {dataClass: confidential}}
    expect: deny
  - name: deliberately wrong expectation
    principal: {subject: alice, groups: [staff]}
    action: tools/call
    resource: {type: tool, name: docs__delete_page}
    expect: allow
"#;
    let results = run_cases(e, yaml).unwrap_or_else(|err| panic!("{err}"));
    let lines: Vec<String> = results.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "PASS employee reads own time off: allow (permitted by hr-time-off-own)",
            "PASS employee reads someone else's time off: deny (no permit matched: default deny)",
            "PASS agent for contractor on confidential tool: deny (forbidden by no-agent-confidential-for-contractors)",
            "FAIL deliberately wrong expectation: deny (forbidden by delete-needs-admin-scope) (expected allow)",
        ]
    );
    let bad = run_cases(
        e,
        "cases:\n  - name: x\n    principal: {subject: a}\n    action: tools/call\n    resource: {type: tool}\n    expect: allow\n",
    );
    assert!(bad.is_err_and(|m| m.starts_with("cases[0].resource")));
}

#[test]
fn explain_names_policies_and_where_they_are() {
    let e = hr_engine();
    let text = explain(e, &call(&alice(), &tool("docs__delete_page", None), json!({})));
    assert!(text.contains("decision:  deny (forbidden by delete-needs-admin-scope)"), "{text}");
    assert!(text.contains("delete-needs-admin-scope at hr.cedar:"), "{text}");
    assert!(text.contains("step-up:   mcp:admin"), "{text}");
}

/// Argument-free policies over the principal's and tool's attributes.
const ARG_FREE_POLICIES: &str = r#"
@id("staff-tools")
permit (principal in Warden::Group::"staff", action == Warden::Action::"tools/call", resource);
@id("readonly-for-agents")
permit (principal is Warden::Agent, action == Warden::Action::"tools/call", resource)
when { resource.annotations has readOnlyHint && resource.annotations.readOnlyHint };
@id("tenant-scoped")
permit (principal, action == Warden::Action::"tools/call", resource)
when { principal has tenant && principal.tenant == "acme" && principal.scopes.contains("mcp:tools") };
@id("contractor-confidential")
forbid (principal in Warden::Group::"contractors", action == Warden::Action::"tools/call", resource)
when { principal has agent && resource.labels has dataClass && resource.labels.dataClass == "confidential" };
@id("delete-admin")
forbid (principal, action == Warden::Action::"tools/call", resource)
when { resource.name like "*delete_*" } unless { principal.scopes.contains("mcp:admin") };
@id("high-risk-needs-manager")
forbid (principal, action == Warden::Action::"tools/call", resource)
when { resource.labels has risk && resource.labels.risk == "high" && !principal.roles.contains("manager") };
"#;

fn arb_principal() -> impl Strategy<Value = Principal> {
    let kinds = prop_oneof![
        Just(PrincipalKind::User),
        Just(PrincipalKind::Agent),
        Just(PrincipalKind::Workload),
        Just(PrincipalKind::ApiKey),
        Just(PrincipalKind::Anonymous),
    ];
    let groups = proptest::sample::subsequence(vec!["staff", "contractors", "hr"], 0..=3);
    let roles = proptest::sample::subsequence(vec!["manager", "viewer"], 0..=2);
    let scopes = proptest::sample::subsequence(vec!["mcp:tools", "mcp:admin"], 0..=2);
    let tenant = proptest::option::of(prop_oneof![Just("acme"), Just("other")]);
    let agent = proptest::option::of(Just("agent-x"));
    (kinds, "[a-z]{1,6}", groups, roles, scopes, tenant, agent).prop_map(
        |(kind, subject, groups, roles, scopes, tenant, agent)| {
            let mut p = user(&subject, &groups, &roles, &scopes, json!({"employee_id": subject}));
            p.kind = kind;
            p.tenant = tenant.map(str::to_owned);
            if let Some(a) = agent {
                p = via_agent(p, a);
            }
            p
        },
    )
}

fn arb_tool() -> impl Strategy<Value = ToolInfo> {
    let names = prop_oneof![Just("docs__search"), Just("docs__delete_page"), Just("hr__get_time_off")];
    let class = proptest::option::of(prop_oneof![Just("confidential"), Just("internal")]);
    let risk = proptest::option::of(prop_oneof![Just("high"), Just("low")]);
    (names, class, risk, any::<Option<bool>>()).prop_map(|(name, class, risk, ro)| {
        let mut t = tool(name, class);
        if let Some(r) = risk {
            t.labels.insert("risk".into(), r.into());
        }
        t.annotations = ro.map_or(json!({}), |ro| json!({"readOnlyHint": ro}));
        t
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// With argument-free policies, a tool is listed exactly when calling it is allowed.
    #[test]
    fn filter_and_decide_agree_without_argument_conditions(p in arb_principal(), t in arb_tool()) {
        let e = arg_free_engine();
        let listed = !e.filter(&p, std::slice::from_ref(&t), &RequestContext::default()).is_empty();
        let decision = e.decide(&call(&p, &t, json!({})));
        prop_assert_eq!(listed, decision.allowed, "{:?}", decision);
    }

    /// With argument-dependent policies, filtering is sound: whatever is
    /// callable with some arguments is listed.
    #[test]
    fn listed_whenever_some_call_is_allowed(p in arb_principal(), t in arb_tool(), id in "E[0-9]", dept in "(sales|finance)") {
        let e = hr_engine();
        let listed = !e.filter(&p, std::slice::from_ref(&t), &RequestContext::default()).is_empty();
        let allowed = e.decide(&call(&p, &t, json!({"employee_id": id, "department": dept}))).allowed;
        prop_assert!(!allowed || listed);
    }
}
