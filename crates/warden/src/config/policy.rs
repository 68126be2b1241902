//! Validation of the `policy`, `pinning` and `audit` blocks: policies are
//! parsed and validated against the schema here, once, at load; a reload
//! with a broken policy is refused like any other invalid config.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobMatcher};

use super::model::Problems;
use super::raw_policy::{RawAttrType, RawAudit, RawLabelRule, RawPolicy, RawPolicySchema};
use crate::policy::{AttrType, PolicyEngine, PolicySource, SchemaExtensions};

/// Labels assigned by glob, in config order (later rules override earlier ones).
#[derive(Debug, Clone, Default)]
pub struct LabelRules {
    /// Over exposed tool names.
    pub tools: Vec<(GlobMatcher, BTreeMap<String, String>)>,
    /// Over exposed resource URIs.
    pub resources: Vec<(GlobMatcher, BTreeMap<String, String>)>,
    /// Over exposed prompt names.
    pub prompts: Vec<(GlobMatcher, BTreeMap<String, String>)>,
}

impl LabelRules {
    fn apply(rules: &[(GlobMatcher, BTreeMap<String, String>)], name: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (m, labels) in rules {
            if m.is_match(name) {
                out.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        out
    }

    /// The labels of tool `name`.
    pub fn tool(&self, name: &str) -> BTreeMap<String, String> {
        Self::apply(&self.tools, name)
    }

    /// The labels of resource `uri`.
    pub fn resource(&self, uri: &str) -> BTreeMap<String, String> {
        Self::apply(&self.resources, uri)
    }

    /// The labels of prompt `name`.
    pub fn prompt(&self, name: &str) -> BTreeMap<String, String> {
        Self::apply(&self.prompts, name)
    }
}

/// A virtual server's validated `policy` block.
#[derive(Debug, Clone)]
pub struct PolicySettings {
    /// The Cedar policies, validated; `None` when only an external decision point decides.
    pub engine: Option<Arc<PolicyEngine>>,
    /// Label rules.
    pub labels: LabelRules,
    /// Argument paths redacted from audit records.
    pub redact: Vec<String>,
    /// The external decision point.
    pub external: Option<crate::policy::external::ExternalSettings>,
    /// Policy files (resolved), watched for reloads.
    pub files: Vec<PathBuf>,
}

/// The validated `audit` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// The audit file.
    pub file: PathBuf,
    /// Whether tool arguments (redacted) are recorded.
    pub arguments: bool,
}

/// `path` relative to `base` unless absolute.
pub(super) fn resolve_path(base: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() || base.as_os_str().is_empty() { p.to_path_buf() } else { base.join(p) }
}

fn attr_type(raw: &RawAttrType, at: &str, p: &mut Problems) -> Option<AttrType> {
    match raw {
        RawAttrType::Name(n) => match n.to_ascii_lowercase().replace(' ', "").as_str() {
            "string" => Some(AttrType::String),
            "long" | "integer" => Some(AttrType::Long),
            "bool" | "boolean" => Some(AttrType::Bool),
            "set<string>" => Some(AttrType::StringSet),
            "set<long>" => Some(AttrType::LongSet),
            _ => {
                p.push(at, format!("unknown type {n:?} (string, long, bool, set<string>, set<long>, or a mapping)"));
                None
            }
        },
        RawAttrType::Record(fields) => {
            let mut out = BTreeMap::new();
            for (k, t) in fields {
                if let Some(t) = attr_type(t, &format!("{at}.{k}"), p) {
                    out.insert(k.clone(), t);
                }
            }
            Some(AttrType::Record(out))
        }
    }
}

fn valid_attr_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn extensions(raw: Option<&RawPolicySchema>, at: &str, p: &mut Problems) -> SchemaExtensions {
    let mut ext = SchemaExtensions::default();
    let Some(raw) = raw else { return ext };
    let typed = |map: &BTreeMap<String, RawAttrType>, key: &str, p: &mut Problems| {
        let mut out = BTreeMap::new();
        for (k, t) in map {
            let kat = format!("{at}.{key}.{k}");
            if !valid_attr_name(k) {
                p.push(&kat, "names are letters, digits, '_' and '-'");
            } else if let Some(t) = attr_type(t, &kat, p) {
                out.insert(k.clone(), t);
            }
        }
        out
    };
    ext.principal_attributes = typed(&raw.principal_attributes, "principalAttributes", p);
    ext.args = typed(&raw.args, "args", p);
    for (i, l) in raw.labels.iter().enumerate() {
        if valid_attr_name(l) {
            ext.labels.insert(l.clone());
        } else {
            p.push(format!("{at}.labels[{i}]"), "names are letters, digits, '_' and '-'");
        }
    }
    for (i, h) in raw.headers.iter().enumerate() {
        let lower = h.to_ascii_lowercase();
        if http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
            p.push(format!("{at}.headers[{i}]"), "not a valid header name");
        } else if matches!(lower.as_str(), "authorization" | "dpop" | "cookie" | "proxy-authorization") {
            p.push(format!("{at}.headers[{i}]"), "credential headers cannot be exposed to policies");
        } else {
            ext.headers.insert(lower);
        }
    }
    ext
}

fn label_rules(
    rules: &[RawLabelRule],
    declared: &BTreeSet<String>,
    at: &str,
    p: &mut Problems,
) -> Vec<(GlobMatcher, BTreeMap<String, String>)> {
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let rat = format!("{at}[{i}]");
        for k in r.labels.keys() {
            if !declared.contains(k) {
                p.push(format!("{rat}.labels.{k}"), "undeclared label (declare it in policy.schema.labels)");
            }
        }
        match Glob::new(&r.pattern) {
            Ok(g) => out.push((g.compile_matcher(), r.labels.clone())),
            Err(e) => p.push(format!("{rat}.match"), format!("invalid glob: {e}")),
        }
    }
    out
}

/// The `*.cedar` files of `path` (sorted) when it is a directory, else `path`.
fn policy_files(path: PathBuf, at: &str, p: &mut Problems) -> Vec<PathBuf> {
    if !path.is_dir() {
        return vec![path];
    }
    match std::fs::read_dir(&path) {
        Ok(rd) => {
            let mut files: Vec<PathBuf> = rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| f.extension().is_some_and(|e| e == "cedar") && f.is_file())
                .collect();
            files.sort();
            if files.is_empty() {
                p.push(at, format!("{} holds no .cedar file", path.display()));
            }
            files
        }
        Err(e) => {
            p.push(at, format!("cannot read directory {}: {e}", path.display()));
            Vec::new()
        }
    }
}

/// Validates a `policy` block: schema extensions, labels, and every policy
/// against the schema (errors name file, line and policy id).
pub(super) fn validate_policy(raw: &RawPolicy, base: &Path, at: &str, p: &mut Problems) -> Option<PolicySettings> {
    let before = p.0.len();
    let ext = extensions(raw.schema.as_ref(), &format!("{at}.schema"), p);
    let declared = ext.all_labels();
    let labels = match &raw.labels {
        Some(l) => LabelRules {
            tools: label_rules(&l.tools, &declared, &format!("{at}.labels.tools"), p),
            resources: label_rules(&l.resources, &declared, &format!("{at}.labels.resources"), p),
            prompts: label_rules(&l.prompts, &declared, &format!("{at}.labels.prompts"), p),
        },
        None => LabelRules::default(),
    };
    let mut files = Vec::new();
    for (i, f) in raw.files.iter().enumerate() {
        files.extend(policy_files(resolve_path(base, f), &format!("{at}.files[{i}]"), p));
    }
    let external =
        raw.external.as_ref().and_then(|e| super::policy_external::validate(e, &format!("{at}.external"), p));
    let engine = if raw.files.is_empty() && raw.inline.is_empty() {
        if external.is_none() {
            p.push(at, "needs policies (files or inline) or an external decision point");
        }
        None
    } else {
        let mut sources: Vec<PolicySource> = files.iter().cloned().map(PolicySource::File).collect();
        sources.extend(
            raw.inline
                .iter()
                .enumerate()
                .map(|(i, text)| PolicySource::Inline { origin: format!("{at}.inline[{i}]"), text: text.clone() }),
        );
        match PolicyEngine::load_with(&ext, &sources) {
            Ok(e) => Some(Arc::new(e)),
            Err(errors) => {
                for e in errors {
                    p.push(format!("{at}.policies"), e);
                }
                None
            }
        }
    };
    if p.0.len() > before {
        return None;
    }
    Some(PolicySettings { engine, labels, redact: raw.redact_arguments.clone(), external, files })
}

/// Validates a `pinning` block and reads its pin file (a missing file is an
/// empty set: nothing approved yet).
pub(super) fn validate_pinning(
    raw: &super::raw_policy::RawPinning,
    base: &Path,
    at: &str,
    p: &mut Problems,
) -> Option<crate::pinning::PinningSettings> {
    use super::raw_policy::RawUnpinned;
    if raw.file.trim().is_empty() {
        p.push(format!("{at}.file"), "must not be empty");
        return None;
    }
    let file = resolve_path(base, &raw.file);
    match crate::pinning::PinSet::load(&file) {
        Ok(pins) => Some(crate::pinning::PinningSettings {
            file,
            unpinned: match raw.unpinned {
                Some(RawUnpinned::Allow) => crate::pinning::Unpinned::Allow,
                Some(RawUnpinned::Hide) | None => crate::pinning::Unpinned::Hide,
            },
            pins: Arc::new(pins),
        }),
        Err(e) => {
            p.push(format!("{at}.file"), e.to_string());
            None
        }
    }
}

/// Validates the `audit` block.
pub(super) fn validate_audit(raw: &RawAudit, base: &Path, p: &mut Problems) -> Option<AuditSettings> {
    if raw.file.trim().is_empty() {
        p.push("audit.file", "must not be empty");
        return None;
    }
    Some(AuditSettings { file: resolve_path(base, &raw.file), arguments: raw.arguments.unwrap_or(true) })
}
