//! The policy engine: loads and validates policies, decides requests, and
//! filters lists.
//!
//! Decisions are Cedar's: default deny, any satisfied `forbid` wins over any
//! satisfied `permit`, and a policy whose evaluation errors is skipped (and the
//! error reported in [`PolicyDecision::errors`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use std::collections::HashMap;

use cedar_policy::{
    ActionConstraint, Authorizer, Decision, Effect, Policy, PolicyId, PolicySet, ResourceConstraint, Schema,
    ValidationMode, Validator,
};
use miette::Diagnostic;

use super::entities::{PolicyRequest, Target, ToolInfo, cedar_request};
use super::schema::{SchemaExtensions, schema_text};
use crate::auth::Principal;

/// Where policies come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// A `.cedar` file.
    File(PathBuf),
    /// Inline text from config, with the name errors and ids use (e.g. `config:virtualServers[0].policies[1]`).
    Inline {
        /// Name used in errors and generated ids.
        origin: String,
        /// Cedar policy text.
        text: String,
    },
}

/// One decision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyDecision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// The policy ids that determined it: the satisfied permits when allowed,
    /// the satisfied forbids when denied (empty for a default deny).
    pub policies: Vec<String>,
    /// Evaluation errors (policies that errored were skipped), or why the
    /// request could not be built (then the decision is deny).
    pub errors: Vec<String>,
    /// When every deciding policy is a `forbid` annotated `@stepUpScope("…")`,
    /// the scopes to ask for (the `insufficient_scope` challenge); else empty.
    pub step_up_scopes: Vec<String>,
}

/// Where a policy came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOrigin {
    /// File path or inline origin name.
    pub origin: String,
    /// 1-based line of the policy's first character.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl std::fmt::Display for PolicyOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.origin, self.line, self.column)
    }
}

/// Validated policies, ready to decide requests. Cheap to share behind an
/// `Arc` (decisions take `&self`); replace the whole engine to reload.
#[derive(Debug)]
pub struct PolicyEngine {
    schema: Schema,
    schema_text: String,
    ext: SchemaExtensions,
    policies: PolicySet,
    origins: BTreeMap<String, PolicyOrigin>,
    authorizer: Authorizer,
    index: ScopeIndex,
}

/// The policies that can apply to a request, found by its scope.
///
/// Cedar evaluates every policy of the set it is given, so with many
/// policies the decision time grows with their number. A policy whose scope
/// names the action (`action == …` / `action in [...]`) and the resource
/// (`resource == Warden::Tool::"…"`) can only apply to requests for exactly
/// those; every other policy is "generic" for the actions its scope admits.
/// A request is decided against the generic policies of its action plus the
/// policies naming its resource, prepared at load: the same decisions as the
/// whole set (a policy left out has a scope that cannot match), at a cost
/// that follows what can apply instead of everything loaded.
#[derive(Debug, Default)]
struct ScopeIndex {
    /// Per action (MCP method): the policies not pinned to one resource.
    generic: HashMap<String, PolicySet>,
    /// Per (action, resource uid text): the generic ones plus those pinned to it.
    specific: HashMap<(String, String), PolicySet>,
}

impl ScopeIndex {
    fn build(policies: &PolicySet) -> ScopeIndex {
        let actions: Vec<&str> = super::schema::ACTIONS.iter().map(|(a, _, _)| *a).collect();
        let admits = |p: &Policy, action: &str| match p.action_constraint() {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(uid) => uid.id().unescaped() == action,
            ActionConstraint::In(uids) => uids.iter().any(|u| u.id().unescaped() == action),
        };
        let mut index = ScopeIndex::default();
        for a in &actions {
            let mut set = PolicySet::new();
            for p in policies.policies() {
                if admits(p, a) && !matches!(p.resource_constraint(), ResourceConstraint::Eq(_)) {
                    // Ids are unique in `policies`: adding cannot fail.
                    let _ = set.add(p.clone());
                }
            }
            index.generic.insert((*a).to_owned(), set);
        }
        for p in policies.policies() {
            let ResourceConstraint::Eq(uid) = p.resource_constraint() else { continue };
            for a in actions.iter().filter(|a| admits(p, a)) {
                let key = ((*a).to_owned(), uid.to_string());
                let set =
                    index.specific.entry(key).or_insert_with(|| index.generic.get(*a).cloned().unwrap_or_default());
                let _ = set.add(p.clone());
            }
        }
        index
    }

    /// The policies that can apply to `action` on `resource`.
    fn for_request<'a>(&'a self, all: &'a PolicySet, action: &str, resource: Option<String>) -> &'a PolicySet {
        if let Some(set) = resource.and_then(|r| self.specific.get(&(action.to_owned(), r))) {
            return set;
        }
        self.generic.get(action).unwrap_or(all)
    }
}

/// 1-based line and column of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The first labelled offset of a Cedar diagnostic.
fn diagnostic_offset(d: &dyn Diagnostic) -> Option<usize> {
    d.labels().and_then(|mut l| l.next()).map(|l| l.offset())
}

/// The `@id("…")` of the policy around `offset`, best effort (for parse errors,
/// before the policy has an id).
fn id_near(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset.min(text.len()))?;
    let start = before.rfind(';').map_or(0, |i| i + 1);
    let chunk = text.get(start..)?;
    let at = chunk.find("@id(\"")?;
    let rest = chunk.get(at + 5..)?;
    rest.find('"').and_then(|end| rest.get(..end)).map(str::to_owned)
}

struct Loaded {
    policies: Vec<(Policy, PolicyOrigin)>,
}

fn parse_source(origin: &str, text: &str) -> Result<Loaded, Vec<String>> {
    let set: PolicySet = text.parse().map_err(|errs: cedar_policy::ParseErrors| {
        errs.iter()
            .map(|e| {
                let off = diagnostic_offset(e).unwrap_or(0);
                let (line, col) = line_col(text, off);
                let id = id_near(text, off).unwrap_or_else(|| format!("{origin}:{line}"));
                format!("{origin}:{line}:{col}: policy {id}: {e}")
            })
            .collect::<Vec<_>>()
    })?;
    if set.templates().next().is_some() {
        return Err(vec![format!("{origin}: policy templates are not supported")]);
    }
    // Cedar numbers the policies of one text `policy0`, `policy1`, … in order;
    // each one's text is the exact slice of the source, which gives its position.
    let mut numbered: Vec<(usize, &Policy)> = set
        .policies()
        .filter_map(|p| p.id().to_string().strip_prefix("policy").and_then(|n| n.parse().ok()).map(|n| (n, p)))
        .collect();
    numbered.sort_by_key(|(n, _)| *n);
    let mut cursor = 0;
    let mut out = Vec::new();
    for (_, p) in numbered {
        let src = p.to_string();
        let offset = text.get(cursor..).and_then(|rest| rest.find(src.as_str())).map_or(cursor, |i| cursor + i);
        cursor = offset + src.len().min(text.len().saturating_sub(offset));
        let (line, column) = line_col(text, offset);
        let origin = PolicyOrigin { origin: origin.to_owned(), line, column };
        out.push((p.clone(), origin));
    }
    Ok(Loaded { policies: out })
}

impl PolicyEngine {
    /// Loads policies against the base schema (no operator extensions).
    pub fn load(sources: &[PolicySource]) -> Result<PolicyEngine, Vec<String>> {
        PolicyEngine::load_with(&SchemaExtensions::default(), sources)
    }

    /// Loads policies against the schema with the operator's extensions. Every
    /// error names the file (or inline origin), line, column and policy id:
    /// the `@id("…")` annotation, or `origin:line` for policies without one.
    pub fn load_with(ext: &SchemaExtensions, sources: &[PolicySource]) -> Result<PolicyEngine, Vec<String>> {
        let text = schema_text(ext);
        let schema = Schema::from_cedarschema_str(&text)
            .map(|(s, _warnings)| s)
            .map_err(|e| vec![format!("policy schema: {e}")])?;
        let mut errors = Vec::new();
        let mut texts: BTreeMap<String, String> = BTreeMap::new();
        let mut policies = PolicySet::new();
        let mut origins: BTreeMap<String, PolicyOrigin> = BTreeMap::new();
        for source in sources {
            let (origin, body) = match source {
                PolicySource::File(path) => {
                    let origin = path.display().to_string();
                    match std::fs::read_to_string(path) {
                        Ok(body) => (origin, body),
                        Err(e) => {
                            errors.push(format!("{origin}: cannot read: {e}"));
                            continue;
                        }
                    }
                }
                PolicySource::Inline { origin, text } => (origin.clone(), text.clone()),
            };
            let loaded = match parse_source(&origin, &body) {
                Ok(l) => l,
                Err(mut e) => {
                    errors.append(&mut e);
                    continue;
                }
            };
            for (policy, at) in loaded.policies {
                let id = policy.annotation("id").map_or_else(|| format!("{}:{}", at.origin, at.line), str::to_owned);
                if let Some(first) = origins.get(&id) {
                    errors.push(format!("{at}: policy {id}: duplicate policy id (first defined at {first})"));
                    continue;
                }
                if let Err(e) = policies.add(policy.new_id(PolicyId::new(&id))) {
                    errors.push(format!("{at}: policy {id}: {e}"));
                    continue;
                }
                origins.insert(id, at);
            }
            texts.insert(origin, body);
        }
        let validation = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        for e in validation.validation_errors() {
            let id = e.policy_id().to_string();
            let at = origins.get(&id);
            let located = match (at, diagnostic_offset(e)) {
                (Some(at), Some(off)) => {
                    let (line, col) = texts.get(&at.origin).map_or((at.line, at.column), |t| line_col(t, off));
                    format!("{}:{line}:{col}", at.origin)
                }
                (Some(at), None) => at.to_string(),
                (None, _) => "<unknown>".to_owned(),
            };
            let help = e.help().map(|h| format!(" ({h})")).unwrap_or_default();
            errors.push(format!("{located}: policy {id}: {e}{help}"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let index = ScopeIndex::build(&policies);
        Ok(PolicyEngine {
            schema,
            schema_text: text,
            ext: ext.clone(),
            policies,
            origins,
            authorizer: Authorizer::new(),
            index,
        })
    }

    /// The schema text (Cedar schema syntax) policies were validated against.
    pub fn schema_text(&self) -> &str {
        &self.schema_text
    }

    /// The schema extensions in force.
    pub fn extensions(&self) -> &SchemaExtensions {
        &self.ext
    }

    /// How many policies are loaded.
    pub fn len(&self) -> usize {
        self.origins.len()
    }

    /// Whether no policy is loaded (everything is denied).
    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// Where policy `id` was defined.
    pub fn origin(&self, id: &str) -> Option<&PolicyOrigin> {
        self.origins.get(id)
    }

    /// Decides one request.
    pub fn decide(&self, req: &PolicyRequest) -> PolicyDecision {
        let (request, entities) = match cedar_request(req, &self.schema, &self.ext, false) {
            Ok(r) => r,
            Err(e) => return PolicyDecision { errors: vec![format!("request: {e}")], ..PolicyDecision::default() },
        };
        let set = self.index.for_request(&self.policies, &req.action, request.resource().map(ToString::to_string));
        let response = self.authorizer.is_authorized(&request, set, &entities);
        let allowed = response.decision() == Decision::Allow;
        let policies: Vec<String> = response.diagnostics().reason().map(ToString::to_string).collect();
        let errors = response.diagnostics().errors().map(ToString::to_string).collect();
        let step_up_scopes = if allowed { Vec::new() } else { self.step_up(&policies, &req.principal) };
        PolicyDecision { allowed, policies, errors, step_up_scopes }
    }

    /// The schema (for building requests other than MCP ones).
    pub(super) fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Decides a request built elsewhere in this module (the token service's
    /// `token/exchange`) against every loaded policy.
    pub(super) fn decide_prepared(
        &self,
        request: &cedar_policy::Request,
        entities: &cedar_policy::Entities,
    ) -> PolicyDecision {
        let response = self.authorizer.is_authorized(request, &self.policies, entities);
        let allowed = response.decision() == Decision::Allow;
        let policies = response.diagnostics().reason().map(ToString::to_string).collect();
        let errors = response.diagnostics().errors().map(ToString::to_string).collect();
        PolicyDecision { allowed, policies, errors, step_up_scopes: Vec::new() }
    }

    /// The scopes a step-up would add, when every deciding forbid names one.
    fn step_up(&self, deciding: &[String], principal: &Principal) -> Vec<String> {
        let mut scopes = BTreeSet::new();
        for id in deciding {
            let Some(policy) = self.policies.policy(&PolicyId::new(id)) else { return Vec::new() };
            match (policy.effect(), policy.annotation("stepUpScope")) {
                (Effect::Forbid, Some(s)) => scopes.extend(s.split_whitespace().map(str::to_owned)),
                _ => return Vec::new(),
            }
        }
        scopes.retain(|s| !principal.scopes.contains(s));
        scopes.into_iter().collect()
    }

    /// Whether `action` on `target` may be allowed for some arguments: the
    /// arguments are unknown and Cedar partially evaluates. Hidden (false) only
    /// when the decision is deny whatever the arguments are; a residual
    /// (argument-dependent) decision counts as "may be allowed". For actions
    /// without arguments this is exactly [`PolicyEngine::decide`].
    pub fn may_be_allowed(&self, req: &PolicyRequest) -> bool {
        let Ok((request, entities)) = cedar_request(req, &self.schema, &self.ext, true) else { return false };
        let set = self.index.for_request(&self.policies, &req.action, request.resource().map(ToString::to_string));
        let partial = self.authorizer.is_authorized_partial(&request, set, &entities);
        partial.decision() != Some(Decision::Deny)
    }

    /// The tools `principal` may see in `tools/list`: those for which
    /// `tools/call` may be allowed (see [`PolicyEngine::may_be_allowed`]).
    pub fn filter<'a>(
        &self,
        principal: &Principal,
        tools: &'a [ToolInfo],
        context: &super::entities::RequestContext,
    ) -> Vec<&'a ToolInfo> {
        tools
            .iter()
            .filter(|t| {
                self.may_be_allowed(&PolicyRequest {
                    principal: principal.clone(),
                    action: "tools/call".into(),
                    target: Target::Tool((*t).clone()),
                    args: serde_json::Value::Null,
                    context: context.clone(),
                })
            })
            .collect()
    }
}
