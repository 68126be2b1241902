//! `warden policy test` and `warden policy explain` as library functions: a
//! YAML file of cases (principal, action, resource, context → expected
//! decision), each run through the engine and reported with the policy ids
//! that permitted or forbade it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::engine::{PolicyDecision, PolicyEngine};
use super::entities::{PolicyRequest, PromptInfo, RequestContext, ResourceInfo, Target, ToolInfo};
use crate::auth::principal::Actor;
use crate::auth::{AgentIdentity, AuthMethod, Binding, Principal, PrincipalKind};

/// The expected decision of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
}

/// A case file: `cases: [...]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    cases: Vec<Case>,
}

/// One case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    principal: CasePrincipal,
    action: String,
    resource: CaseResource,
    #[serde(default)]
    context: CaseContext,
    expect: Expect,
}

/// The principal of a case (the fields of [`Principal`] policy can see).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CasePrincipal {
    #[serde(default)]
    kind: CaseKind,
    subject: String,
    issuer: Option<String>,
    tenant: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    scopes: BTreeSet<String>,
    client_id: Option<String>,
    /// The acting agent's id.
    agent: Option<String>,
    /// The delegation chain, current actor first, as subjects.
    #[serde(default)]
    act: Vec<String>,
    workload: Option<String>,
    #[serde(default)]
    attributes: serde_json::Map<String, Value>,
}

/// [`PrincipalKind`] as written in a case file.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
enum CaseKind {
    #[default]
    User,
    Agent,
    Workload,
    ApiKey,
    Anonymous,
}

impl From<CaseKind> for PrincipalKind {
    fn from(k: CaseKind) -> PrincipalKind {
        match k {
            CaseKind::User => PrincipalKind::User,
            CaseKind::Agent => PrincipalKind::Agent,
            CaseKind::Workload => PrincipalKind::Workload,
            CaseKind::ApiKey => PrincipalKind::ApiKey,
            CaseKind::Anonymous => PrincipalKind::Anonymous,
        }
    }
}

/// The resource of a case, by `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
enum CaseResource {
    #[serde(rename_all = "camelCase")]
    Tool {
        name: String,
        #[serde(default)]
        backend: String,
        #[serde(default)]
        annotations: Value,
        #[serde(default)]
        labels: BTreeMap<String, String>,
        #[serde(default)]
        input_schema: Value,
    },
    Resource {
        uri: String,
        #[serde(default)]
        name: String,
        #[serde(default)]
        backend: String,
        #[serde(default)]
        labels: BTreeMap<String, String>,
    },
    Prompt {
        name: String,
        #[serde(default)]
        backend: String,
        #[serde(default)]
        labels: BTreeMap<String, String>,
    },
    VirtualServer {
        name: String,
    },
}

/// The context of a case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CaseContext {
    #[serde(default)]
    args: Value,
    /// Seconds since the epoch (default 0).
    #[serde(default)]
    time: i64,
    client_address: Option<IpAddr>,
    #[serde(default = "default_era")]
    era: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

fn default_era() -> String {
    "modern".into()
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// What the file expected.
    pub expected: Expect,
    /// What the engine decided, with the deciding policy ids.
    pub decision: PolicyDecision,
}

impl CaseResult {
    /// Whether the decision matched the expectation.
    pub fn passed(&self) -> bool {
        self.decision.allowed == (self.expected == Expect::Allow)
    }
}

impl std::fmt::Display for CaseResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        write!(f, "{verdict} {}: {}", self.name, decision_summary(&self.decision))?;
        if !self.passed() {
            write!(f, " (expected {})", if self.expected == Expect::Allow { "allow" } else { "deny" })?;
        }
        Ok(())
    }
}

/// `allow (permitted by a, b)`, `deny (forbidden by c)` or `deny (no permit matched)`.
fn decision_summary(d: &PolicyDecision) -> String {
    match (d.allowed, d.policies.is_empty()) {
        (true, _) => format!("allow (permitted by {})", d.policies.join(", ")),
        (false, false) => format!("deny (forbidden by {})", d.policies.join(", ")),
        (false, true) => "deny (no permit matched: default deny)".to_owned(),
    }
}

impl Case {
    fn into_request(self) -> PolicyRequest {
        let p = self.principal;
        let principal = Principal {
            kind: p.kind.into(),
            subject: p.subject,
            issuer: p.issuer,
            tenant: p.tenant,
            groups: p.groups,
            roles: p.roles,
            scopes: p.scopes,
            client_id: p.client_id,
            agent: p.agent.map(|id| AgentIdentity { id, source: "claim" }),
            act: p.act.into_iter().map(|subject| Actor { subject, issuer: None, client_id: None }).collect(),
            workload: p.workload,
            method: AuthMethod::None,
            binding: Binding::None,
            expires_at: None,
            attributes: Arc::new(p.attributes),
        };
        let target = match self.resource {
            CaseResource::Tool { name, backend, annotations, labels, input_schema } => {
                Target::Tool(ToolInfo { name, backend, annotations, labels, input_schema })
            }
            CaseResource::Resource { uri, name, backend, labels } => {
                Target::Resource(ResourceInfo { uri, name, backend, labels })
            }
            CaseResource::Prompt { name, backend, labels } => Target::Prompt(PromptInfo { name, backend, labels }),
            CaseResource::VirtualServer { name } => Target::VirtualServer(name),
        };
        let c = self.context;
        PolicyRequest {
            principal,
            action: self.action,
            target,
            args: c.args,
            context: RequestContext { epoch: c.time, client_address: c.client_address, era: c.era, headers: c.headers },
        }
    }
}

/// One parsed case: its name, the expected decision and the request.
pub type ParsedCase = (String, Expect, PolicyRequest);

/// Parses the cases in `yaml` (a case file's text). Errors are YAML errors
/// with their location.
pub fn parse_cases(yaml: &str) -> Result<Vec<ParsedCase>, String> {
    let de = serde_norway::Deserializer::from_str(yaml);
    let file: CaseFile = serde_path_to_error::deserialize(de).map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
    Ok(file.cases.into_iter().map(|case| (case.name.clone(), case.expect, case.into_request())).collect())
}

/// Runs the cases in `yaml` (a case file's text) and returns one result per
/// case, in order. Errors are YAML errors with their location.
pub fn run_cases(engine: &PolicyEngine, yaml: &str) -> Result<Vec<CaseResult>, String> {
    run_cases_with(engine, yaml, &|_| {})
}

/// [`run_cases`], with `fill` completing each request first (the CLI gives
/// resources the labels the config assigns when a case names none).
pub fn run_cases_with(
    engine: &PolicyEngine,
    yaml: &str,
    fill: &dyn Fn(&mut PolicyRequest),
) -> Result<Vec<CaseResult>, String> {
    Ok(parse_cases(yaml)?
        .into_iter()
        .map(|(name, expected, mut req)| {
            fill(&mut req);
            CaseResult { name, expected, decision: engine.decide(&req) }
        })
        .collect())
}

/// Reads and runs a case file; errors name the file.
pub fn run_case_file(engine: &PolicyEngine, path: &Path) -> Result<Vec<CaseResult>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    run_cases(engine, &text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A human explanation of one decision: the request, the decision, each
/// deciding policy with where it is defined, errors and any step-up.
pub fn explain(engine: &PolicyEngine, req: &PolicyRequest) -> String {
    let d = engine.decide(req);
    let mut out = String::new();
    let resource = match &req.target {
        Target::Tool(t) => format!("Tool {} (backend {})", t.name, t.backend),
        Target::Resource(r) => format!("Resource {} (backend {})", r.uri, r.backend),
        Target::Prompt(p) => format!("Prompt {} (backend {})", p.name, p.backend),
        Target::VirtualServer(v) => format!("VirtualServer {v}"),
    };
    let _ = writeln!(out, "principal: {}", req.principal.log_label());
    let _ = writeln!(out, "action:    {}", req.action);
    let _ = writeln!(out, "resource:  {resource}");
    let _ = writeln!(out, "decision:  {}", decision_summary(&d));
    for id in &d.policies {
        let at = engine.origin(id).map_or_else(|| "?".to_owned(), ToString::to_string);
        let _ = writeln!(out, "  {id} at {at}");
    }
    for e in &d.errors {
        let _ = writeln!(out, "  error: {e}");
    }
    if !d.step_up_scopes.is_empty() {
        let _ = writeln!(out, "step-up:   {}", d.step_up_scopes.join(" "));
    }
    out
}
