//! Stage: authorization. Every request that names a tool, prompt or resource
//! is decided by the virtual server's policy (Cedar, then the external
//! decision point when one is configured) before it is routed; lists show
//! only what the caller may use; each decision is appended to the audit
//! trail. Tool-definition pinning is checked first: a blocked tool is
//! unknown to the caller and never reaches policy.
//!
//! List filtering and call authorization use the same question: an item is
//! listed when a call to it may be allowed for *some* arguments (Cedar's
//! partial evaluation with the arguments unknown), and a call is allowed
//! when the policy allows it with *these* arguments; an item that is not
//! listed is therefore never callable.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::catalog::{Catalog, CatalogTool};
use super::rewrite::{exposed_tool_name, resolve_tool};
use super::{BackendHandle, Caller, RouteError, VirtualServer};
use crate::audit::{AuditLog, AuditRecord, Decision, Outcome as AuditOutcome, Resource, ResourceKind, redact};
use crate::auth::Principal;
use crate::config::PolicySettings;
use crate::mcp::jsonrpc::Message;
use crate::pinning::PinVerdict;
use crate::policy::external::ExternalDecider;
use crate::policy::{PolicyRequest, PromptInfo, RequestContext, ResourceInfo, Target, ToolInfo};
use crate::telemetry::Metrics;

/// Who asks, and the request's surroundings, as policy sees them.
#[derive(Debug, Clone)]
pub struct Access {
    /// The authenticated principal (anonymous without `auth`).
    pub principal: Principal,
    /// Time, client address, era and the headers the policy schema exposes.
    pub context: RequestContext,
    /// The request id (access log, `x-request-id`, audit records).
    pub request_id: String,
}

impl Access {
    /// An anonymous caller with an empty context (tests, probes).
    pub fn anonymous() -> Access {
        Access { principal: Principal::anonymous(), context: now_context(), request_id: String::new() }
    }
}

/// A context stamped now, with nothing else known.
pub fn now_context() -> RequestContext {
    let epoch = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    RequestContext { epoch, ..RequestContext::default() }
}

/// Where audit records go.
#[derive(Debug, Clone)]
pub struct AuditSink {
    /// The chained file.
    pub log: AuditLog,
    /// Whether tool arguments (redacted) are recorded.
    pub arguments: bool,
}

/// The runtime side of a virtual server's policy and pinning.
pub struct Authz {
    /// Validated policy (absent: no authorization, pinning only).
    pub policy: Option<Arc<PolicySettings>>,
    /// External decision point client.
    pub external: Option<ExternalDecider>,
    /// Audit trail.
    pub audit: Option<AuditSink>,
    /// Metrics (decisions, pinning).
    pub metrics: Arc<Metrics>,
    /// Tool definitions (pinning and argument types).
    pub(super) catalog: Catalog,
}

impl std::fmt::Debug for Authz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authz").field("policy", &self.policy.is_some()).finish_non_exhaustive()
    }
}

impl Authz {
    /// A policy stage; `external` is built from the policy's settings.
    pub fn new(
        policy: Option<Arc<PolicySettings>>,
        http: &reqwest::Client,
        audit: Option<AuditSink>,
        metrics: Arc<Metrics>,
    ) -> Authz {
        let external = policy.as_ref().and_then(|p| p.external.clone()).map(|s| ExternalDecider::new(s, http.clone()));
        Authz { policy, external, audit, metrics, catalog: Catalog::default() }
    }
}

/// One decision, before it is recorded.
#[derive(Debug, Default)]
pub(super) struct Decided {
    pub allowed: bool,
    pub policies: Vec<String>,
    pub reason: String,
    pub step_up: Vec<String>,
}

/// An allowed call whose audit record waits for the outcome.
pub(super) struct PendingAudit {
    record: Option<AuditRecord>,
}

fn target_resource(t: &Target) -> Resource {
    let (kind, id) = match t {
        Target::Tool(x) => (ResourceKind::Tool, x.name.clone()),
        Target::Resource(x) => (ResourceKind::Resource, x.uri.clone()),
        Target::Prompt(x) => (ResourceKind::Prompt, x.name.clone()),
        Target::VirtualServer(x) => (ResourceKind::VirtualServer, x.clone()),
    };
    Resource { kind, id }
}

fn backend_of(t: &Target) -> Option<String> {
    match t {
        Target::Tool(x) => Some(x.backend.clone()),
        Target::Resource(x) => Some(x.backend.clone()),
        Target::Prompt(x) => Some(x.backend.clone()),
        Target::VirtualServer(_) => None,
    }
}

impl Authz {
    /// Decides `req`: Cedar (when policies are configured), then the external
    /// decision point (when configured); both must allow. With `any_args`,
    /// the arguments are unknown (list filtering).
    pub(super) async fn decide(&self, req: &PolicyRequest, any_args: bool) -> Decided {
        let Some(policy) = &self.policy else { return Decided { allowed: true, ..Decided::default() } };
        let mut d = match &policy.engine {
            Some(engine) if any_args => Decided { allowed: engine.may_be_allowed(req), ..Decided::default() },
            Some(engine) => {
                let pd = engine.decide(req);
                if !pd.errors.is_empty() {
                    tracing::debug!(errors = ?pd.errors, "policy evaluation errors (erroring policies were skipped)");
                }
                let reason = match (pd.allowed, pd.policies.is_empty()) {
                    (true, _) => "permitted".to_string(),
                    (false, true) => "no policy permits".to_string(),
                    (false, false) => "forbidden by policy".to_string(),
                };
                Decided { allowed: pd.allowed, policies: pd.policies, reason, step_up: pd.step_up_scopes }
            }
            None => Decided { allowed: true, reason: "permitted".into(), ..Decided::default() },
        };
        if d.allowed
            && let Some(x) = &self.external
        {
            let xd = x.decide(req).await;
            if !xd.allowed {
                d.allowed = false;
                d.policies = vec!["external".into()];
                d.reason = match (&xd.error, &xd.reason) {
                    (Some(_), _) => "external decision point failed (fail closed)".into(),
                    (None, Some(r)) => format!("external: {}", r.chars().take(200).collect::<String>()),
                    (None, None) => "denied by the external decision point".into(),
                };
            } else if xd.error.is_some() {
                d.reason = "external decision point failed (fail open)".into();
            }
        }
        d
    }

    fn count(&self, vs: &str, action: &str, allowed: bool) {
        let labels = crate::telemetry::PolicyLabels {
            virtual_server: vs.to_string(),
            action: crate::telemetry::metric_method(action).to_string(),
            decision: if allowed { "allow" } else { "deny" }.to_string(),
        };
        self.metrics.policy_decisions.get_or_create(&labels).inc();
    }

    /// Appends a record (nothing without an audit file).
    fn record(&self, record: Option<AuditRecord>) {
        if let (Some(sink), Some(record)) = (&self.audit, record)
            && let Err(e) = sink.log.append(record)
        {
            tracing::error!(error = %e, "audit record not written");
        }
    }

    /// The audit record of a decision; `None` (and no work) without an audit file.
    fn draft(&self, vs: &str, access: &Access, req: &PolicyRequest, d: &Decided, method: &str) -> Option<AuditRecord> {
        self.audit.as_ref()?;
        let decision = if d.allowed { Decision::Allow } else { Decision::Deny };
        let mut r =
            AuditRecord::new(&access.request_id, &access.principal, method, target_resource(&req.target), decision);
        r.virtual_server = Some(vs.to_string());
        r.backend = backend_of(&req.target);
        r.policies.clone_from(&d.policies);
        r.reason.clone_from(&d.reason);
        if let Some(sink) = &self.audit
            && sink.arguments
            && !req.args.is_null()
        {
            let marked = self.policy.as_ref().map(|p| p.redact.as_slice()).unwrap_or_default();
            r.arguments = Some(redact(&req.args, marked));
        }
        if !d.allowed {
            r.outcome = AuditOutcome::Denied;
        }
        Some(r)
    }
}

impl PendingAudit {
    /// Records the outcome of the call this decision allowed.
    pub(super) fn finish(self, authz: &Authz, outcome: Result<&super::Outcome, &RouteError>) {
        let Some(mut record) = self.record else { return };
        record.outcome = match outcome {
            Ok(super::Outcome::Response(m)) if m.error_code().is_some() => AuditOutcome::Error,
            Ok(super::Outcome::Response(m)) if m.result.as_ref().is_some_and(|r| is_error_result(r.get())) => {
                AuditOutcome::Error
            }
            Ok(super::Outcome::Response(_)) => AuditOutcome::Success,
            Ok(_) => AuditOutcome::Pending,
            Err(_) => AuditOutcome::Failed,
        };
        authz.record(Some(record));
    }
}

/// Whether a tool result says `isError: true` (a textual look first: the
/// result is parsed only when the marker may be there).
fn is_error_result(raw: &str) -> bool {
    raw.contains("isError")
        && serde_json::from_str::<Map<String, Value>>(raw)
            .is_ok_and(|m| m.get("isError").and_then(Value::as_bool) == Some(true))
}

impl VirtualServer {
    /// The labels of a tool, resource or prompt.
    fn labels(&self, f: impl Fn(&crate::config::LabelRules) -> BTreeMap<String, String>) -> BTreeMap<String, String> {
        self.authz.as_ref().and_then(|a| a.policy.as_ref()).map(|p| f(&p.labels)).unwrap_or_default()
    }

    /// Puts a complete tool listing of backend `b` into the catalog (pin
    /// verdicts, alerts for definitions that changed since approval).
    pub(super) fn record_tools(&self, b: &BackendHandle, items: &[Value]) {
        let Some(authz) = &self.authz else { return };
        let tools: Vec<(String, &Value)> = items
            .iter()
            .filter_map(|item| {
                let name = item.get("name")?.as_str()?;
                Some((exposed_tool_name(name, self.naming, &b.name, &self.config.curation)?, item))
            })
            .collect();
        let vs = &self.config.name;
        let on_changed = |tool: &str, v: &PinVerdict| {
            if let PinVerdict::Changed { approved, actual } = v {
                tracing::warn!(
                    virtual_server = %vs, tool, backend = %b.name, approved = %approved, actual = %actual,
                    "tool definition changed since approval; hidden and blocked until approved again"
                );
                let labels = crate::telemetry::PinLabels { virtual_server: vs.clone(), tool: tool.to_string() };
                authz.metrics.pin_mismatches.get_or_create(&labels).inc();
            }
        };
        authz.catalog.replace(b.index, &b.name, tools, self.config.pinning.as_deref(), &on_changed);
        if self.config.pinning.is_some() {
            let labels = crate::telemetry::VsLabels { virtual_server: vs.clone() };
            let blocked = i64::try_from(authz.catalog.blocked()).unwrap_or(i64::MAX);
            authz.metrics.pin_blocked.get_or_create(&labels).set(blocked);
        }
    }

    /// The catalog entry of tool `name` on backend `b`, listing the backend
    /// when the catalog has nothing fresh. `Ok(None)`: the backend does not
    /// list it.
    async fn catalog_tool(
        &self,
        caller: &Caller,
        authz: &Authz,
        b: &Arc<BackendHandle>,
        name: &str,
    ) -> Result<Option<Arc<CatalogTool>>, RouteError> {
        if let Some(found) = authz.catalog.lookup(name, b.index) {
            return Ok(found);
        }
        let lock = authz.catalog.refresh_lock(b.index);
        let _guard = lock.lock().await;
        if let Some(found) = authz.catalog.lookup(name, b.index) {
            return Ok(found);
        }
        let page = self.list_backend(caller, b, "tools/list").await?;
        self.record_tools(b, &page.items);
        Ok(authz.catalog.get(name).filter(|t| t.backend == b.name))
    }

    /// Authorizes a request that names one tool, prompt or resource. `Ok(None)`:
    /// nothing to decide (no policy applies to this method, or the name is
    /// unknown and routing will say so).
    pub(super) async fn authorize(
        &self,
        caller: &Caller,
        access: &Access,
        msg: &Message,
    ) -> Result<Option<PendingAudit>, RouteError> {
        let Some(authz) = &self.authz else { return Ok(None) };
        let method = msg.method.as_deref().unwrap_or_default();
        let params: Map<String, Value> = msg.params_object().unwrap_or_default();
        if params
            .get("requestState")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with(super::bridge::STATE_PREFIX))
        {
            // A retry of a parked call, bound to the principal that made it;
            // the call was decided when it was first made.
            return Ok(None);
        }
        let name = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_string);
        let (target, any_args) = match method {
            "tools/call" => {
                let Some(tool) = name("name") else { return Ok(None) };
                let Some((b, _)) = resolve_tool(&tool, self.naming, &self.config.curation) else { return Ok(None) };
                let Ok(b) = self.pick(b, "tool", &tool).cloned() else { return Ok(None) };
                let entry = self.catalog_tool(caller, authz, &b, &tool).await?;
                let unknown = || RouteError::UnknownName { kind: "tool", name: tool.clone() };
                let Some(entry) = entry else { return Err(unknown()) };
                if !entry.served {
                    // Pinning blocks it: to the caller it does not exist.
                    let reason = match &entry.pin {
                        Some(PinVerdict::Changed { .. }) => "pinning: definition changed since approval",
                        _ => "pinning: tool not approved",
                    };
                    let d = Decided { reason: reason.into(), ..Decided::default() };
                    let info = self.tool_info(&tool, &entry);
                    let req = self.policy_request(access, method, Target::Tool(info), &params);
                    authz.count(&self.config.name, method, false);
                    authz.record(authz.draft(&self.config.name, access, &req, &d, method));
                    return Err(unknown());
                }
                if authz.policy.is_none() {
                    return Ok(None);
                }
                (Target::Tool(self.tool_info(&tool, &entry)), false)
            }
            "prompts/get" => {
                let Some(prompt) = name("name") else { return Ok(None) };
                let Some((b, _)) = self.naming.split_name(&prompt) else { return Ok(None) };
                let Ok(b) = self.pick(b, "prompt", &prompt) else { return Ok(None) };
                (Target::Prompt(self.prompt_info(&prompt, &b.name)), false)
            }
            "resources/read" | "resources/subscribe" => {
                let Some(uri) = name("uri") else { return Ok(None) };
                let Some((b, _)) = self.naming.split_uri(&uri) else { return Ok(None) };
                let Ok(b) = self.pick(b, "resource", &uri) else { return Ok(None) };
                (Target::Resource(self.resource_info(&uri, "", &b.name)), false)
            }
            "completion/complete" => {
                // Completing a prompt's or template's arguments is allowed when
                // using it may be (whatever the arguments).
                let r = params.get("ref").and_then(Value::as_object);
                let field = |k: &str| r.and_then(|r| r.get(k)).and_then(Value::as_str).map(str::to_string);
                match (field("type").as_deref(), field("name"), field("uri")) {
                    (Some("ref/prompt"), Some(n), _) => {
                        let Some((b, _)) = self.naming.split_name(&n) else { return Ok(None) };
                        let Ok(b) = self.pick(b, "prompt", &n) else { return Ok(None) };
                        (Target::Prompt(self.prompt_info(&n, &b.name)), true)
                    }
                    (Some("ref/resource"), _, Some(u)) => {
                        let Some((b, _)) = self.naming.split_uri(&u) else { return Ok(None) };
                        let Ok(b) = self.pick(b, "resource", &u) else { return Ok(None) };
                        (Target::Resource(self.resource_info(&u, "", &b.name)), true)
                    }
                    _ => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        if authz.policy.is_none() {
            return Ok(None);
        }
        let action = match (&target, method) {
            (Target::Prompt(_), "completion/complete") => "prompts/get",
            (Target::Resource(_), "completion/complete") => "resources/read",
            _ => method,
        };
        let req = self.policy_request(access, action, target, &params);
        let d = authz.decide(&req, any_args).await;
        authz.count(&self.config.name, action, d.allowed);
        let record = authz.draft(&self.config.name, access, &req, &d, method);
        if d.allowed {
            return Ok(Some(PendingAudit { record }));
        }
        tracing::info!(
            virtual_server = %self.config.name, method, resource = %req.target_name(),
            principal = %access.principal.log_label(), policies = ?d.policies, reason = %d.reason,
            "request denied by policy"
        );
        authz.record(record);
        if d.step_up.is_empty() { Err(RouteError::Denied) } else { Err(RouteError::StepUp(d.step_up)) }
    }

    fn policy_request(
        &self,
        access: &Access,
        action: &str,
        target: Target,
        params: &Map<String, Value>,
    ) -> PolicyRequest {
        let args = match action {
            "tools/call" | "prompts/get" => params.get("arguments").cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        };
        PolicyRequest {
            principal: access.principal.clone(),
            action: action.to_string(),
            target,
            args,
            context: access.context.clone(),
        }
    }

    fn tool_info(&self, name: &str, entry: &CatalogTool) -> ToolInfo {
        ToolInfo {
            name: name.to_string(),
            backend: entry.backend.clone(),
            annotations: entry.annotations.clone(),
            labels: self.labels(|l| l.tool(name)),
            input_schema: entry.input_schema.clone(),
        }
    }

    fn prompt_info(&self, name: &str, backend: &str) -> PromptInfo {
        PromptInfo { name: name.to_string(), backend: backend.to_string(), labels: self.labels(|l| l.prompt(name)) }
    }

    fn resource_info(&self, uri: &str, name: &str, backend: &str) -> ResourceInfo {
        ResourceInfo {
            uri: uri.to_string(),
            name: name.to_string(),
            backend: backend.to_string(),
            labels: self.labels(|l| l.resource(uri)),
        }
    }

    /// Decides the list action itself (`tools/list` on the virtual server);
    /// the permitting policies, for the list's audit record.
    pub(super) async fn authorize_list(&self, access: &Access, method: &str) -> Result<Vec<String>, RouteError> {
        let Some(authz) = self.authz.as_ref().filter(|a| a.policy.is_some()) else { return Ok(Vec::new()) };
        let req = self.policy_request(access, method, Target::VirtualServer(self.config.name.clone()), &Map::new());
        let d = authz.decide(&req, false).await;
        authz.count(&self.config.name, method, d.allowed);
        if d.allowed {
            return Ok(d.policies);
        }
        authz.record(authz.draft(&self.config.name, access, &req, &d, method));
        Err(RouteError::Denied)
    }

    /// The items of a merged list `caller` may see: pinning first (tools),
    /// then policy: an item stays when using it may be allowed. Records one
    /// audit line for the list.
    pub(super) async fn filter_list(
        &self,
        access: &Access,
        method: &str,
        permitted_by: Vec<String>,
        items: Vec<(String, Value)>,
    ) -> Vec<Value> {
        let Some(authz) = &self.authz else { return items.into_iter().map(|(_, v)| v).collect() };
        let total = items.len();
        let mut kept = Vec::with_capacity(total);
        let mut candidates = Vec::with_capacity(total);
        for (backend, item) in items {
            let target = match method {
                "tools/list" => {
                    let Some(name) = item.get("name").and_then(Value::as_str) else { continue };
                    match authz.catalog.get(name) {
                        Some(entry) if entry.served => Target::Tool(self.tool_info(name, &entry)),
                        Some(_) => continue,
                        None if self.config.pinning.is_some() => continue,
                        None => Target::Tool(ToolInfo {
                            name: name.to_string(),
                            backend,
                            annotations: item.get("annotations").cloned().unwrap_or(Value::Null),
                            labels: self.labels(|l| l.tool(name)),
                            input_schema: item.get("inputSchema").cloned().unwrap_or(Value::Null),
                        }),
                    }
                }
                "prompts/list" => {
                    let Some(name) = item.get("name").and_then(Value::as_str) else { continue };
                    Target::Prompt(self.prompt_info(name, &backend))
                }
                "resources/list" => {
                    let Some(uri) = item.get("uri").and_then(Value::as_str) else { continue };
                    let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
                    Target::Resource(self.resource_info(uri, name, &backend))
                }
                _ => {
                    let Some(uri) = item.get("uriTemplate").and_then(Value::as_str) else { continue };
                    let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
                    Target::Resource(self.resource_info(uri, name, &backend))
                }
            };
            candidates.push((target, item));
        }
        if authz.policy.is_none() {
            return candidates.into_iter().map(|(_, v)| v).collect();
        }
        let action = match method {
            "tools/list" => "tools/call",
            "prompts/list" => "prompts/get",
            _ => "resources/read",
        };
        let decisions = futures::future::join_all(candidates.iter().map(|(target, _)| {
            let req = PolicyRequest {
                principal: access.principal.clone(),
                action: action.to_string(),
                target: target.clone(),
                args: Value::Null,
                context: access.context.clone(),
            };
            async move { authz.decide(&req, true).await.allowed }
        }))
        .await;
        for ((_, item), allowed) in candidates.into_iter().zip(decisions) {
            if allowed {
                kept.push(item);
            }
        }
        let req = self.policy_request(access, method, Target::VirtualServer(self.config.name.clone()), &Map::new());
        let reason = format!("listed {} of {total}", kept.len());
        let d = Decided { allowed: true, policies: permitted_by, reason, ..Decided::default() };
        let mut record = authz.draft(&self.config.name, access, &req, &d, method);
        if let Some(r) = record.as_mut() {
            r.outcome = AuditOutcome::Success;
        }
        authz.record(record);
        kept
    }
}
