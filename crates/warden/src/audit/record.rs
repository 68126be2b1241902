//! What one audit record holds, and how tool arguments are redacted.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::principal::Principal;

/// The value that replaces an operator-marked argument.
pub const REDACTED: &str = "[redacted]";

/// One authorization decision. Field order is part of the format (it fixes
/// the canonical bytes, see [`chain`](super::chain)); add new fields only
/// before `prev`, and only as optional ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// When the decision was made, RFC 3339 UTC with milliseconds.
    pub time: String,
    /// Position in the file, from 0; set by [`AuditLog::append`](super::AuditLog::append).
    pub seq: u64,
    /// The request id (as in the logs and the `x-request-id` header).
    pub request_id: String,
    /// The caller: the serialized [`Principal`], delegation chain (`act`)
    /// included. Holds no credential (the principal has none).
    pub principal: Value,
    /// The JSON-RPC method, e.g. `tools/call`.
    pub action: String,
    /// What was acted on.
    pub resource: Resource,
    /// The virtual server the request came in on.
    pub virtual_server: Option<String>,
    /// The backend the request was (or would have been) sent to.
    pub backend: Option<String>,
    /// The decision.
    pub decision: Decision,
    /// Ids of the policies that decided (the permitting ones on allow, the
    /// forbidding ones on deny; empty for a default deny).
    pub policies: Vec<String>,
    /// A short reason, for people (never a token or an argument value).
    pub reason: String,
    /// What happened afterwards.
    pub outcome: Outcome,
    /// The tool arguments, with operator-marked ones replaced by
    /// [`REDACTED`] (see [`redact`]); `null` when not recorded.
    pub arguments: Option<Value>,
    /// The previous record's `hash`; set by the writer.
    pub prev: String,
    /// SHA-256 of this record's canonical bytes; set by the writer. Always
    /// the last member of the stored line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

/// A resource as the policy engine names it: entity type and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Entity type.
    #[serde(rename = "type")]
    pub kind: ResourceKind,
    /// Entity id, e.g. the (prefixed) tool name `hr__get_time_off`.
    pub id: String,
}

/// The kinds of resource a decision is about (the Cedar entity types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResourceKind {
    /// A tool (`tools/call`).
    Tool,
    /// An MCP resource (`resources/read`).
    Resource,
    /// A prompt (`prompts/get`).
    Prompt,
    /// A backend as a whole.
    Backend,
    /// A virtual server as a whole (e.g. `tools/list`).
    VirtualServer,
}

/// An authorization decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Decision {
    /// Permitted.
    Allow,
    /// Forbidden (explicitly or by default).
    Deny,
}

/// What became of the request after the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Denied; nothing was forwarded.
    Denied,
    /// Forwarded, and the backend answered with a result.
    Success,
    /// Forwarded, and the backend answered with an error (JSON-RPC error or
    /// a tool result with `isError`).
    Error,
    /// Allowed, but the call failed in the gateway or on the way (timeout,
    /// unreachable backend, credential minting failed).
    Failed,
    /// Recorded at decision time, before the outcome was known.
    Pending,
}

impl AuditRecord {
    /// A record stamped now, with no backend, policies, reason or arguments,
    /// outcome [`Outcome::Pending`] and the chain fields empty (the writer
    /// fills them).
    pub fn new(
        request_id: impl Into<String>,
        principal: &Principal,
        action: impl Into<String>,
        resource: Resource,
        decision: Decision,
    ) -> AuditRecord {
        AuditRecord {
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            seq: 0,
            request_id: request_id.into(),
            principal: principal_json(principal),
            action: action.into(),
            resource,
            virtual_server: None,
            backend: None,
            decision,
            policies: Vec::new(),
            reason: String::new(),
            outcome: Outcome::Pending,
            arguments: None,
            prev: String::new(),
            hash: None,
        }
    }
}

/// The principal as recorded: its whole serialization (kind, subject,
/// issuer, tenant, groups, roles, scopes, agent, `act` chain, workload,
/// method, binding thumbprint, expiry, attributes). [`Principal`] holds no
/// credential, so neither does this.
pub fn principal_json(principal: &Principal) -> Value {
    // Serializing a Principal cannot fail (string keys only); `Null` is a
    // defensive fallback, never a panic.
    serde_json::to_value(principal).unwrap_or(Value::Null)
}

/// `args` with every operator-marked argument replaced by [`REDACTED`].
///
/// A marked entry is a top-level argument name (`password`) or a dotted path
/// from the top (`patient.ssn`); a `*` segment matches any key
/// (`accounts.*.pin`). Arrays are transparent: `items.secret` redacts
/// `secret` in every element of the `items` array. A marked value is
/// replaced whole, whatever its type.
pub fn redact(args: &Value, marked: &[String]) -> Value {
    let paths: Vec<Vec<&str>> = marked.iter().map(|m| m.split('.').collect()).collect();
    let live: Vec<&[&str]> = paths.iter().map(Vec::as_slice).filter(|p| !p.is_empty()).collect();
    redact_at(args, &live)
}

/// Redacts `value`, where `paths` are the marked paths' remainders relative
/// to `value`.
fn redact_at(value: &Value, paths: &[&[&str]]) -> Value {
    if paths.is_empty() {
        return value.clone();
    }
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (key, v) in map {
                let mut rest: Vec<&[&str]> = Vec::new();
                let mut hit = false;
                for path in paths {
                    if let Some((head, tail)) = path.split_first()
                        && (*head == key || *head == "*")
                    {
                        if tail.is_empty() {
                            hit = true;
                        } else {
                            rest.push(tail);
                        }
                    }
                }
                let v = if hit { Value::String(REDACTED.into()) } else { redact_at(v, &rest) };
                out.insert(key.clone(), v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| redact_at(v, paths)).collect()),
        other => other.clone(),
    }
}
