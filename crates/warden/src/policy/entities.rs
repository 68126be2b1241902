//! From Warden's values (the authenticated [`Principal`], a tool's
//! description, the call's arguments) to Cedar entities, context and request.
//!
//! Everything is conformed to the schema before it reaches Cedar: a value the
//! schema does not declare, or declares with another type, is dropped, never
//! guessed. A policy that needs such a value sees it absent (`has` is false).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression, Schema,
};
use serde_json::Value;

use super::schema::{AttrType, NAMESPACE, SchemaExtensions};
use crate::auth::{Principal, PrincipalKind};

/// A tool as policy sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolInfo {
    /// Exposed (namespaced) tool name, e.g. `hr__get_time_off`.
    pub name: String,
    /// Backend that serves it.
    pub backend: String,
    /// The tool definition's `annotations` object (`readOnlyHint`, `destructiveHint`, …).
    pub annotations: Value,
    /// Operator-assigned labels (`dataClass`, `risk`, …).
    pub labels: BTreeMap<String, String>,
    /// The tool's `inputSchema` (JSON Schema), used to type the arguments.
    pub input_schema: Value,
}

/// A resource as policy sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceInfo {
    /// Exposed URI.
    pub uri: String,
    /// Its name.
    pub name: String,
    /// Backend that serves it.
    pub backend: String,
    /// Operator-assigned labels.
    pub labels: BTreeMap<String, String>,
}

/// A prompt as policy sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptInfo {
    /// Exposed prompt name.
    pub name: String,
    /// Backend that serves it.
    pub backend: String,
    /// Operator-assigned labels.
    pub labels: BTreeMap<String, String>,
}

/// What a request acts on (the Cedar resource).
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A tool (`tools/call`).
    Tool(ToolInfo),
    /// A resource (`resources/read`, `resources/subscribe`).
    Resource(ResourceInfo),
    /// A prompt (`prompts/get`).
    Prompt(PromptInfo),
    /// A virtual server, by name (the `*/list` methods).
    VirtualServer(String),
}

/// The request's surroundings (Cedar `context`, minus the arguments).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestContext {
    /// Request time, seconds since the epoch (UTC).
    pub epoch: i64,
    /// The client's address.
    pub client_address: Option<IpAddr>,
    /// MCP protocol era (`legacy` or `modern`).
    pub era: String,
    /// Request headers (lower-case names); only those the schema declares are passed on.
    pub headers: BTreeMap<String, String>,
}

/// One authorization question.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRequest {
    /// The caller.
    pub principal: Principal,
    /// The MCP method, e.g. `tools/call`.
    pub action: String,
    /// What it acts on.
    pub target: Target,
    /// The call's arguments (`params.arguments`); `Null` when there are none.
    pub args: Value,
    /// Time, address, era, headers.
    pub context: RequestContext,
}

impl PolicyRequest {
    /// The tool or prompt name, resource URI or virtual server name acted on.
    pub fn target_name(&self) -> &str {
        match &self.target {
            Target::Tool(t) => &t.name,
            Target::Resource(r) => &r.uri,
            Target::Prompt(p) => &p.name,
            Target::VirtualServer(v) => v,
        }
    }
}

/// A typed argument value, after reading the tool's input schema.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue {
    /// A JSON string the schema types `string`.
    String(String),
    /// A JSON integer the schema types `integer` (or `number` with an integral value).
    Long(i64),
    /// A JSON boolean the schema types `boolean`.
    Bool(bool),
    /// A JSON array the schema types `array` whose items all converted.
    Set(Vec<ArgValue>),
    /// A JSON object the schema types `object` (only its declared properties).
    Record(BTreeMap<String, ArgValue>),
}

/// Types `args` (a JSON object) with `input_schema` (the tool's JSON Schema).
///
/// Rules: a property is kept only when the schema declares it with a single
/// `type` and the value has that type: `string`, `integer` (→ Long), `number`
/// holding an integral value (→ Long; fractions are dropped, Cedar has no
/// floats), `boolean`, `object` (recursively, its declared properties only) and
/// `array` (→ Set, dropped whole if any item does not convert). Undeclared
/// properties, union types (`["string","null"]`), `null` and mismatched values
/// are dropped rather than guessed.
pub fn typed_args(args: &Value, input_schema: &Value) -> BTreeMap<String, ArgValue> {
    match typed_value(args, input_schema) {
        Some(ArgValue::Record(fields)) => fields,
        _ => BTreeMap::new(),
    }
}

fn typed_value(value: &Value, schema: &Value) -> Option<ArgValue> {
    let ty = schema.get("type").and_then(Value::as_str).or_else(|| {
        // An `inputSchema` without `type` but with `properties` is an object.
        schema.get("properties").map(|_| "object")
    })?;
    match (ty, value) {
        ("string", Value::String(s)) => Some(ArgValue::String(s.clone())),
        ("integer" | "number", Value::Number(n)) => n.as_i64().map(ArgValue::Long),
        ("boolean", Value::Bool(b)) => Some(ArgValue::Bool(*b)),
        ("array", Value::Array(items)) => {
            let item_schema = schema.get("items")?;
            items.iter().map(|v| typed_value(v, item_schema)).collect::<Option<Vec<_>>>().map(ArgValue::Set)
        }
        ("object", Value::Object(map)) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let mut out = BTreeMap::new();
            for (k, v) in map {
                if let Some(s) = props.and_then(|p| p.get(k))
                    && let Some(tv) = typed_value(v, s)
                {
                    out.insert(k.clone(), tv);
                }
            }
            Some(ArgValue::Record(out))
        }
        _ => None,
    }
}

/// An argument as the schema declares it, or `None` (dropped).
fn conform_arg(value: &ArgValue, ty: &AttrType) -> Option<RestrictedExpression> {
    match (ty, value) {
        (AttrType::String, ArgValue::String(s)) => Some(RestrictedExpression::new_string(s.clone())),
        (AttrType::Long, ArgValue::Long(n)) => Some(RestrictedExpression::new_long(*n)),
        (AttrType::Bool, ArgValue::Bool(b)) => Some(RestrictedExpression::new_bool(*b)),
        (AttrType::StringSet, ArgValue::Set(items)) => items
            .iter()
            .map(|i| match i {
                ArgValue::String(s) => Some(RestrictedExpression::new_string(s.clone())),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(RestrictedExpression::new_set),
        (AttrType::LongSet, ArgValue::Set(items)) => items
            .iter()
            .map(|i| match i {
                ArgValue::Long(n) => Some(RestrictedExpression::new_long(*n)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(RestrictedExpression::new_set),
        (AttrType::Record(fields), ArgValue::Record(values)) => {
            let pairs = fields
                .iter()
                .filter_map(|(k, t)| values.get(k).and_then(|v| conform_arg(v, t)).map(|e| (k.clone(), e)));
            RestrictedExpression::new_record(pairs).ok()
        }
        _ => None,
    }
}

/// A principal attribute (plain JSON from the claim mapping) as the schema
/// declares it, or `None` (dropped).
fn conform_json(value: &Value, ty: &AttrType) -> Option<RestrictedExpression> {
    match (ty, value) {
        (AttrType::String, Value::String(s)) => Some(RestrictedExpression::new_string(s.clone())),
        (AttrType::Long, Value::Number(n)) => n.as_i64().map(RestrictedExpression::new_long),
        (AttrType::Bool, Value::Bool(b)) => Some(RestrictedExpression::new_bool(*b)),
        (AttrType::StringSet | AttrType::LongSet, Value::Array(items)) => items
            .iter()
            .map(|i| match (ty, i) {
                (AttrType::StringSet, Value::String(s)) => Some(RestrictedExpression::new_string(s.clone())),
                (AttrType::LongSet, Value::Number(n)) => n.as_i64().map(RestrictedExpression::new_long),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(RestrictedExpression::new_set),
        (AttrType::Record(fields), Value::Object(map)) => {
            let pairs =
                fields.iter().filter_map(|(k, t)| map.get(k).and_then(|v| conform_json(v, t)).map(|e| (k.clone(), e)));
            RestrictedExpression::new_record(pairs).ok()
        }
        _ => None,
    }
}

/// `Warden::<ty>::"<id>"`. Type names are parsed once per process (Cedar's
/// parser is far too slow for every request); ids need no parsing.
pub fn uid(ty: &str, id: &str) -> Result<EntityUid, String> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static TYPES: OnceLock<HashMap<&'static str, EntityTypeName>> = OnceLock::new();
    let types = TYPES.get_or_init(|| {
        let names = super::schema::PRINCIPAL_TYPES.iter().chain(&[
            "Group",
            "VirtualServer",
            "Backend",
            "Tool",
            "Resource",
            "Prompt",
            "Audience",
            "Action",
        ]);
        names.filter_map(|t| format!("{NAMESPACE}::{t}").parse().ok().map(|n| (*t, n))).collect()
    });
    let name = match types.get(ty) {
        Some(n) => n.clone(),
        None => format!("{NAMESPACE}::{ty}").parse::<EntityTypeName>().map_err(|e| format!("entity type {ty}: {e}"))?,
    };
    Ok(EntityUid::from_type_name_and_id(name, EntityId::new(id)))
}

/// The Cedar entity type of a principal kind.
pub fn principal_type(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::User => "User",
        PrincipalKind::Agent => "Agent",
        PrincipalKind::Workload => "Workload",
        PrincipalKind::ApiKey => "ApiKey",
        PrincipalKind::Anonymous => "Anonymous",
    }
}

fn strings<'a>(items: impl IntoIterator<Item = &'a String>) -> RestrictedExpression {
    RestrictedExpression::new_set(items.into_iter().map(|s| RestrictedExpression::new_string(s.clone())))
}

fn labels(labels: &BTreeMap<String, String>, ext: &SchemaExtensions) -> Result<RestrictedExpression, String> {
    let declared = ext.all_labels();
    let pairs = labels
        .iter()
        .filter(|(k, _)| declared.contains(*k))
        .map(|(k, v)| (k.clone(), RestrictedExpression::new_string(v.clone())));
    RestrictedExpression::new_record(pairs).map_err(|e| e.to_string())
}

/// The principal entity and its groups.
pub fn principal_entities(p: &Principal, ext: &SchemaExtensions) -> Result<(EntityUid, Vec<Entity>), String> {
    let me = uid(principal_type(p.kind), &p.subject)?;
    let mut groups = Vec::new();
    for g in p.groups.iter().collect::<std::collections::BTreeSet<_>>() {
        groups.push(uid("Group", g)?);
    }
    let mut attrs: HashMap<String, RestrictedExpression> = HashMap::new();
    attrs.insert("subject".into(), RestrictedExpression::new_string(p.subject.clone()));
    let optional =
        [("issuer", &p.issuer), ("tenant", &p.tenant), ("clientId", &p.client_id), ("workload", &p.workload)];
    for (k, v) in optional {
        if let Some(v) = v {
            attrs.insert(k.into(), RestrictedExpression::new_string(v.clone()));
        }
    }
    if let Some(agent) = &p.agent {
        attrs.insert("agent".into(), RestrictedExpression::new_string(agent.id.clone()));
    }
    if let Some(actor) = p.act.first() {
        attrs.insert("actor".into(), RestrictedExpression::new_string(actor.subject.clone()));
    }
    attrs.insert("groups".into(), strings(&p.groups));
    attrs.insert("roles".into(), strings(&p.roles));
    attrs.insert("scopes".into(), strings(&p.scopes));
    attrs.insert("act".into(), strings(p.act.iter().map(|a| &a.subject)));
    let extra = ext
        .principal_attributes
        .iter()
        .filter_map(|(k, t)| p.attributes.get(k).and_then(|v| conform_json(v, t)).map(|e| (k.clone(), e)));
    attrs.insert("attributes".into(), RestrictedExpression::new_record(extra).map_err(|e| e.to_string())?);
    let mut entities =
        vec![Entity::new(me.clone(), attrs, groups.iter().cloned().collect()).map_err(|e| e.to_string())?];
    entities.extend(groups.into_iter().map(|g| Entity::new_no_attrs(g, HashSet::new())));
    Ok((me, entities))
}

fn named(ty: &str, name: &str, parents: HashSet<EntityUid>) -> Result<Entity, String> {
    let attrs = HashMap::from([("name".to_owned(), RestrictedExpression::new_string(name.to_owned()))]);
    Entity::new(uid(ty, name)?, attrs, parents).map_err(|e| e.to_string())
}

/// The resource entity (and its backend) for a target.
pub fn target_entities(t: &Target, ext: &SchemaExtensions) -> Result<(EntityUid, Vec<Entity>), String> {
    let with_backend = |ty: &str, id: &str, backend: &str, mut attrs: HashMap<String, RestrictedExpression>| {
        attrs.insert("backend".into(), RestrictedExpression::new_string(backend.to_owned()));
        let b = named("Backend", backend, HashSet::new())?;
        let me = uid(ty, id)?;
        let e = Entity::new(me.clone(), attrs, HashSet::from([b.uid()])).map_err(|e| e.to_string())?;
        Ok::<_, String>((me, vec![e, b]))
    };
    match t {
        Target::Tool(tool) => {
            let annotations = ["title", "readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"]
                .iter()
                .filter_map(|k| {
                    let ty = if *k == "title" { AttrType::String } else { AttrType::Bool };
                    tool.annotations.get(*k).and_then(|v| conform_json(v, &ty)).map(|e| ((*k).to_owned(), e))
                });
            let attrs = HashMap::from([
                ("name".to_owned(), RestrictedExpression::new_string(tool.name.clone())),
                ("annotations".to_owned(), RestrictedExpression::new_record(annotations).map_err(|e| e.to_string())?),
                ("labels".to_owned(), labels(&tool.labels, ext)?),
            ]);
            with_backend("Tool", &tool.name, &tool.backend, attrs)
        }
        Target::Resource(r) => {
            let attrs = HashMap::from([
                ("uri".to_owned(), RestrictedExpression::new_string(r.uri.clone())),
                ("name".to_owned(), RestrictedExpression::new_string(r.name.clone())),
                ("labels".to_owned(), labels(&r.labels, ext)?),
            ]);
            with_backend("Resource", &r.uri, &r.backend, attrs)
        }
        Target::Prompt(p) => {
            let attrs = HashMap::from([
                ("name".to_owned(), RestrictedExpression::new_string(p.name.clone())),
                ("labels".to_owned(), labels(&p.labels, ext)?),
            ]);
            with_backend("Prompt", &p.name, &p.backend, attrs)
        }
        Target::VirtualServer(name) => {
            let e = named("VirtualServer", name, HashSet::new())?;
            Ok((e.uid(), vec![e]))
        }
    }
}

/// Whether the action's context carries `args` (`tools/call`, `prompts/get`).
pub fn has_args(action: &str) -> bool {
    super::schema::ACTIONS.iter().any(|(a, _, c)| *a == action && *c == "CallContext")
}

/// The context: time, era, headers, address, and (for calls) `args`, which is
/// either the typed arguments or, for list filtering, an unknown.
pub fn context(req: &PolicyRequest, ext: &SchemaExtensions, unknown_args: bool) -> Result<Context, String> {
    let headers = req
        .context
        .headers
        .iter()
        .filter(|(k, _)| ext.headers.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), RestrictedExpression::new_string(v.clone())));
    let mut pairs = vec![
        ("time".to_owned(), time_record(req.context.epoch)?),
        ("era".to_owned(), RestrictedExpression::new_string(req.context.era.clone())),
        ("headers".to_owned(), RestrictedExpression::new_record(headers).map_err(|e| e.to_string())?),
    ];
    if let Some(ip) = req.context.client_address {
        pairs.push(("clientAddress".to_owned(), ip_expr(ip)));
    }
    if has_args(&req.action) {
        let args = if unknown_args {
            RestrictedExpression::new_unknown("args")
        } else {
            let typed = match &req.target {
                Target::Tool(t) => typed_args(&req.args, &t.input_schema),
                // Prompt arguments are strings by definition (MCP `PromptArgument`).
                _ => typed_args(&req.args, &string_object_schema(&req.args)),
            };
            let fields = ext
                .args
                .iter()
                .filter_map(|(k, t)| typed.get(k).and_then(|v| conform_arg(v, t)).map(|e| (k.clone(), e)));
            RestrictedExpression::new_record(fields).map_err(|e| e.to_string())?
        };
        pairs.push(("args".to_owned(), args));
    }
    Context::from_pairs(pairs).map_err(|e| e.to_string())
}

/// The `Time` record of `epoch` (seconds since the epoch, UTC).
pub(super) fn time_record(epoch: i64) -> Result<RestrictedExpression, String> {
    let time = [
        ("epoch", epoch),
        ("hour", epoch.rem_euclid(86_400) / 3_600),
        ("minute", epoch.rem_euclid(3_600) / 60),
        // 1970-01-01 was a Thursday; 0 = Sunday.
        ("dayOfWeek", (epoch.div_euclid(86_400) + 4).rem_euclid(7)),
    ]
    .map(|(k, v)| (k.to_owned(), RestrictedExpression::new_long(v)));
    RestrictedExpression::new_record(time).map_err(|e| e.to_string())
}

/// `ip("<addr>")`, built once per address and thread: Cedar names the
/// extension function by parsing `"ip"` with a regex on every construction,
/// which showed in the hot-path profile. Callers come from few addresses;
/// the cache is cleared when it reaches 1,024 of them.
pub(super) fn ip_expr(ip: IpAddr) -> RestrictedExpression {
    use std::cell::RefCell;
    use std::collections::HashMap as Map;
    thread_local! {
        static CACHE: RefCell<Map<IpAddr, RestrictedExpression>> = RefCell::new(Map::new());
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(e) = cache.get(&ip) {
            return e.clone();
        }
        if cache.len() >= 1024 {
            cache.clear();
        }
        let e = RestrictedExpression::new_ip(ip.to_string());
        cache.insert(ip, e.clone());
        e
    })
}

/// A JSON Schema typing every property of `args` as a string.
fn string_object_schema(args: &Value) -> Value {
    let props: serde_json::Map<String, Value> = args
        .as_object()
        .map(|m| m.keys().map(|k| (k.clone(), serde_json::json!({"type": "string"}))).collect())
        .unwrap_or_default();
    serde_json::json!({"type": "object", "properties": props})
}

/// The Cedar request and entity store for `req`. With `unknown_args`, the
/// arguments are left unknown (partial evaluation) and the request is not
/// validated against the schema (an unknown has no type yet).
///
/// The entity store is built without Cedar's schema check: every attribute
/// was conformed to the schema above (a value of another type never gets
/// here), the schema declares no action groups (so no action entities are
/// needed), and the check costs more than the decision itself on the hot
/// path. The request (action, entity types, context) is still checked.
pub fn cedar_request(
    req: &PolicyRequest,
    schema: &Schema,
    ext: &SchemaExtensions,
    unknown_args: bool,
) -> Result<(Request, Entities), String> {
    let (principal, mut entities) = principal_entities(&req.principal, ext)?;
    let (resource, target) = target_entities(&req.target, ext)?;
    entities.extend(target);
    let action = uid("Action", &req.action)?;
    let context = context(req, ext, unknown_args)?;
    let check = if unknown_args { None } else { Some(schema) };
    let request = Request::new(principal, action, resource, context, check).map_err(|e| e.to_string())?;
    let entities = Entities::from_entities(entities, None).map_err(|e| e.to_string())?;
    Ok((request, entities))
}
