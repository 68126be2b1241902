//! The Cedar schema every policy is validated against (namespace `Warden`).
//!
//! The schema is fixed except for four records the operator extends in
//! config, each field optional (a caller or a tool may not have it):
//!
//! - `Attributes`: the principal's extra claims (`principal.attributes.employee_id`),
//! - `Labels`: the labels the operator assigns to tools, resources and prompts
//!   (`dataClass` and `risk` are always declared),
//! - `Args`: tool (and prompt) arguments policies may inspect (`context.args.employee_id`),
//! - `Headers`: request headers the operator exposes (`context.headers["x-tenant"]`).
//!
//! Cedar records are closed, so a policy can only name what is declared here;
//! values that are not declared (or are of another type) never reach Cedar.
//!
//! The rendered schema (with nothing extended) reads:
//!
//! ```text
//! namespace Warden {
//!   type Attributes = { … operator … };
//!   type Labels = { "dataClass"?: String, "risk"?: String, … operator … };
//!   type Args = { … operator … };
//!   type Headers = { … operator … };
//!   type Annotations = { "title"?: String, "readOnlyHint"?: Bool, "destructiveHint"?: Bool,
//!                        "idempotentHint"?: Bool, "openWorldHint"?: Bool };
//!   type Time = { epoch: Long, hour: Long, minute: Long, dayOfWeek: Long };
//!   type RequestContext = { time: Time, era: String, headers: Headers, clientAddress?: ipaddr };
//!   type CallContext = { args: Args, time: Time, era: String, headers: Headers, clientAddress?: ipaddr };
//!   entity Group in [Group];
//!   entity User in [Group] = { subject: String, issuer?: String, tenant?: String,
//!     groups: Set<String>, roles: Set<String>, scopes: Set<String>, clientId?: String,
//!     agent?: String, act: Set<String>, actor?: String, workload?: String, attributes: Attributes };
//!   entity Agent, Workload, ApiKey, Anonymous  — the same shape as User
//!   entity VirtualServer = { name: String };
//!   entity Backend in [VirtualServer] = { name: String };
//!   entity Tool in [Backend] = { name: String, backend: String, annotations: Annotations, labels: Labels };
//!   entity Resource in [Backend] = { uri: String, name: String, backend: String, labels: Labels };
//!   entity Prompt in [Backend] = { name: String, backend: String, labels: Labels };
//!   action "tools/call"      appliesTo { principal: [User, Agent, Workload, ApiKey, Anonymous], resource: [Tool], context: CallContext };
//!   action "prompts/get"     appliesTo { … resource: [Prompt], context: CallContext };
//!   action "resources/read", "resources/subscribe"  appliesTo { … resource: [Resource], context: RequestContext };
//!   action "tools/list", "prompts/list", "resources/list", "resources/templates/list"
//!                            appliesTo { … resource: [VirtualServer], context: RequestContext };
//!   entity Audience = { name: String };
//!   type ExchangeContext = { client: String, actor?: String, scopes: Set<String>, impersonation: Bool,
//!                            time: Time, era: String, headers: Headers, clientAddress?: ipaddr };
//!   action "token/exchange"  appliesTo { … resource: [Audience], context: ExchangeContext };
//! }
//!
//! `token/exchange` is asked by the token service (RFC 8693, see
//! `docs/token-exchange.md`): the principal is the subject of the exchanged
//! token, the resource the audience asked for (its `name` is the URI).
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The Cedar namespace of every Warden entity type and action.
pub const NAMESPACE: &str = "Warden";

/// The principal entity types, one per [`crate::auth::PrincipalKind`].
pub const PRINCIPAL_TYPES: [&str; 5] = ["User", "Agent", "Workload", "ApiKey", "Anonymous"];

/// Labels every schema declares, whatever the operator adds.
pub const BUILTIN_LABELS: [&str; 2] = ["dataClass", "risk"];

/// The type of an operator-declared attribute, argument or nested field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrType {
    /// `String`.
    String,
    /// `Long` (64-bit integer).
    Long,
    /// `Bool`.
    Bool,
    /// `Set<String>`.
    StringSet,
    /// `Set<Long>`.
    LongSet,
    /// A nested record; every field optional.
    Record(BTreeMap<String, AttrType>),
}

/// What the operator adds to the schema (from config). Every field declared
/// here is optional in Cedar: policies test it with `has` before use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaExtensions {
    /// Extra principal attributes (`principal.attributes.<name>`), e.g. `employee_id`.
    pub principal_attributes: BTreeMap<String, AttrType>,
    /// Extra String labels on tools, resources and prompts, beyond [`BUILTIN_LABELS`].
    pub labels: BTreeSet<String>,
    /// Arguments policies may inspect (`context.args.<name>`).
    pub args: BTreeMap<String, AttrType>,
    /// Request headers exposed to policies (lower-case names, String values).
    pub headers: BTreeSet<String>,
}

impl SchemaExtensions {
    /// All labels: the built-in ones and the operator's.
    pub fn all_labels(&self) -> BTreeSet<String> {
        let mut all: BTreeSet<String> = BUILTIN_LABELS.iter().map(|s| (*s).to_owned()).collect();
        all.extend(self.labels.iter().cloned());
        all
    }
}

/// One action per MCP method, with the resource type it applies to.
pub const ACTIONS: [(&str, &str, &str); 8] = [
    ("tools/call", "Tool", "CallContext"),
    ("tools/list", "VirtualServer", "RequestContext"),
    ("prompts/get", "Prompt", "CallContext"),
    ("prompts/list", "VirtualServer", "RequestContext"),
    ("resources/read", "Resource", "RequestContext"),
    ("resources/subscribe", "Resource", "RequestContext"),
    ("resources/list", "VirtualServer", "RequestContext"),
    ("resources/templates/list", "VirtualServer", "RequestContext"),
];

/// The token service's action: may the subject's token be exchanged for a
/// token for this audience (see [`super::exchange`]).
pub const EXCHANGE_ACTION: &str = "token/exchange";

/// A Cedar string literal (also valid as a quoted attribute name).
pub(crate) fn quoted(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn render_type(ty: &AttrType) -> String {
    match ty {
        AttrType::String => "String".into(),
        AttrType::Long => "Long".into(),
        AttrType::Bool => "Bool".into(),
        AttrType::StringSet => "Set<String>".into(),
        AttrType::LongSet => "Set<Long>".into(),
        AttrType::Record(fields) => render_record(fields),
    }
}

fn render_record(fields: &BTreeMap<String, AttrType>) -> String {
    let body: Vec<String> = fields.iter().map(|(k, t)| format!("{}?: {}", quoted(k), render_type(t))).collect();
    format!("{{ {} }}", body.join(", "))
}

fn render_strings(names: &BTreeSet<String>) -> String {
    let body: Vec<String> = names.iter().map(|k| format!("{}?: String", quoted(k))).collect();
    format!("{{ {} }}", body.join(", "))
}

/// The fields every principal entity has, whatever its kind.
const PRINCIPAL_SHAPE: &str = "{ subject: String, issuer?: String, tenant?: String, groups: Set<String>, \
roles: Set<String>, scopes: Set<String>, clientId?: String, agent?: String, act: Set<String>, actor?: String, \
workload?: String, attributes: Attributes }";

/// The schema text (Cedar schema syntax) for these extensions.
pub fn schema_text(ext: &SchemaExtensions) -> String {
    let mut s = String::new();
    let principals = PRINCIPAL_TYPES.join(", ");
    let _ = writeln!(s, "namespace {NAMESPACE} {{");
    let _ = writeln!(s, "  type Attributes = {};", render_record(&ext.principal_attributes));
    let _ = writeln!(s, "  type Labels = {};", render_strings(&ext.all_labels()));
    let _ = writeln!(s, "  type Args = {};", render_record(&ext.args));
    let _ = writeln!(s, "  type Headers = {};", render_strings(&ext.headers));
    let _ = writeln!(
        s,
        "  type Annotations = {{ \"title\"?: String, \"readOnlyHint\"?: Bool, \"destructiveHint\"?: Bool, \
         \"idempotentHint\"?: Bool, \"openWorldHint\"?: Bool }};"
    );
    let _ = writeln!(s, "  type Time = {{ epoch: Long, hour: Long, minute: Long, dayOfWeek: Long }};");
    let _ =
        writeln!(s, "  type RequestContext = {{ time: Time, era: String, headers: Headers, clientAddress?: ipaddr }};");
    let _ = writeln!(
        s,
        "  type CallContext = {{ args: Args, time: Time, era: String, headers: Headers, clientAddress?: ipaddr }};"
    );
    let _ = writeln!(s, "  entity Group in [Group];");
    for p in PRINCIPAL_TYPES {
        let _ = writeln!(s, "  entity {p} in [Group] = {PRINCIPAL_SHAPE};");
    }
    let _ = writeln!(s, "  entity VirtualServer = {{ name: String }};");
    let _ = writeln!(s, "  entity Backend in [VirtualServer] = {{ name: String }};");
    let _ = writeln!(
        s,
        "  entity Tool in [Backend] = {{ name: String, backend: String, annotations: Annotations, labels: Labels }};"
    );
    let _ = writeln!(
        s,
        "  entity Resource in [Backend] = {{ uri: String, name: String, backend: String, labels: Labels }};"
    );
    let _ = writeln!(s, "  entity Prompt in [Backend] = {{ name: String, backend: String, labels: Labels }};");
    // `era`, `time`, `headers` and `clientAddress` as in every other context,
    // so policies that read them without naming an action stay valid.
    let _ = writeln!(s, "  entity Audience = {{ name: String }};");
    let _ = writeln!(
        s,
        "  type ExchangeContext = {{ client: String, actor?: String, scopes: Set<String>, impersonation: Bool, \
         time: Time, era: String, headers: Headers, clientAddress?: ipaddr }};"
    );
    let _ = writeln!(
        s,
        "  action {} appliesTo {{ principal: [{principals}], resource: [Audience], context: ExchangeContext }};",
        quoted(EXCHANGE_ACTION)
    );
    for (action, resource, context) in ACTIONS {
        let _ = writeln!(
            s,
            "  action {} appliesTo {{ principal: [{principals}], resource: [{resource}], context: {context} }};",
            quoted(action)
        );
    }
    s.push_str("}\n");
    s
}
