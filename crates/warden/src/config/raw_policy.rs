//! The `policy`, `pinning` and `audit` blocks as users write them.
//!
//! Relative file paths in these blocks are relative to the directory of the
//! configuration file (so an example directory can be run from anywhere).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::units::HumanDuration;

/// Authorization of every MCP request with Cedar policies (default deny),
/// optionally together with an external decision point.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPolicy {
    /// Cedar policy files (`.cedar`), or directories whose `*.cedar` files are
    /// all loaded (sorted by name).
    #[serde(default)]
    pub files: Vec<String>,
    /// Cedar policies written in the config; each entry may hold several.
    #[serde(default)]
    pub inline: Vec<String>,
    /// What the operator adds to the schema policies are validated against.
    #[serde(default)]
    pub schema: Option<RawPolicySchema>,
    /// Labels (`dataClass`, `risk`, …) assigned to tools, resources and prompts by glob.
    #[serde(default)]
    pub labels: Option<RawLabels>,
    /// Tool arguments whose values never reach the audit trail (top-level
    /// names or dotted paths, `*` for any key), e.g. `ssn`, `patient.ssn`.
    #[serde(default)]
    pub redact_arguments: Vec<String>,
    /// An external decision point consulted after Cedar allows (both must allow).
    /// With no `files` and no `inline`, it decides alone.
    #[serde(default)]
    pub external: Option<RawExternal>,
}

/// Schema extensions: each entry declares an optional attribute policies may read.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPolicySchema {
    /// Principal attributes from mapped claims (`principal.attributes.<name>`).
    #[serde(default)]
    pub principal_attributes: BTreeMap<String, RawAttrType>,
    /// Tool and prompt arguments policies may read (`context.args.<name>`),
    /// typed by the tool's input schema.
    #[serde(default)]
    pub args: BTreeMap<String, RawAttrType>,
    /// Extra label names (String values) beyond `dataClass` and `risk`.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Request headers exposed to policies as `context.headers["<name>"]`.
    #[serde(default)]
    pub headers: Vec<String>,
}

/// An attribute type: `string`, `long`, `bool`, `set<string>`, `set<long>`,
/// or a mapping of field names to types (a record).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RawAttrType {
    /// A scalar or set type by name.
    Name(String),
    /// A record.
    Record(BTreeMap<String, RawAttrType>),
}

/// Label rules, applied in order; later rules add to and override earlier ones.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawLabels {
    /// Rules over exposed tool names.
    #[serde(default)]
    pub tools: Vec<RawLabelRule>,
    /// Rules over exposed resource URIs.
    #[serde(default)]
    pub resources: Vec<RawLabelRule>,
    /// Rules over exposed prompt names.
    #[serde(default)]
    pub prompts: Vec<RawLabelRule>,
}

/// One label rule.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawLabelRule {
    /// Glob over the exposed name (or URI), e.g. `hr__list_*`.
    #[serde(rename = "match")]
    pub pattern: String,
    /// Labels to assign, e.g. `{dataClass: confidential}`.
    pub labels: BTreeMap<String, String>,
}

/// An HTTP decision point (OPA data API or Envoy ext_authz style).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawExternal {
    /// Where to POST the decision input: `https://…`, or `http://` on loopback.
    pub url: String,
    /// `opa` (POST `{"input": …}`, reads `result`) or `http` (POST the input;
    /// 2xx allows, 401/403 denies). Default `opa`.
    #[serde(default)]
    pub style: Option<RawExternalStyle>,
    /// Time allowed for one decision; default `250ms`.
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    /// What a failed or timed-out decision means: `deny` (default) or `allow`.
    #[serde(default)]
    pub on_error: Option<RawOnError>,
    /// How long answers are reused for the same input; default `5s`, `0s` disables.
    #[serde(default)]
    pub cache_ttl: Option<HumanDuration>,
    /// Extra request headers (e.g. `Authorization`); values are never logged.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// External decision point styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawExternalStyle {
    /// OPA data API.
    Opa,
    /// Envoy ext_authz-like HTTP status semantics.
    Http,
}

/// What a decision point failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawOnError {
    /// Fail closed.
    Deny,
    /// Fail open.
    Allow,
}

/// Tool-definition pinning (rug-pull protection).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPinning {
    /// The pin file written by `warden tools pin` (JSON). Missing: nothing approved yet.
    pub file: String,
    /// Tools not in the pin file: `hide` (default) or `allow`.
    #[serde(default)]
    pub unpinned: Option<RawUnpinned>,
}

/// Treatment of tools nobody approved yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawUnpinned {
    /// Hidden and blocked.
    Hide,
    /// Served.
    Allow,
}

/// The audit trail: one hash-chained JSON line per authorization decision.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAudit {
    /// The audit file (appended; created if missing). Check it with `warden audit verify FILE`.
    pub file: String,
    /// Record tool arguments (with `policy.redactArguments` redacted); default true.
    #[serde(default)]
    pub arguments: Option<bool>,
}
