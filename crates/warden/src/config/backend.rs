//! Validation of backends and curation (part of [`super::model`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use http::{HeaderName, HeaderValue};
use url::Url;

use super::model::{BackendConfig, BackendKind, BuiltinDemo, Curation, Limits, Problems};
use super::raw::{EraSetting, HttpTransport, RawBackend, RawCuration};
use crate::mcp::names::is_valid_backend_name;

fn parse_http_url(text: &str, at: &str, p: &mut Problems) -> Option<Url> {
    match Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        Ok(u) => {
            p.push(at, format!("scheme {:?} not allowed (http or https only)", u.scheme()));
            None
        }
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            p.push(at, "relative URL not allowed");
            None
        }
        Err(e) => {
            p.push(at, format!("invalid URL {text:?}: {e}"));
            None
        }
    }
}

pub(super) fn validate_backend(
    b: &RawBackend,
    at: &str,
    limits: &Limits,
    base: &Path,
    p: &mut Problems,
) -> Option<BackendConfig> {
    if !is_valid_backend_name(&b.name) {
        p.push(
            format!("{at}.name"),
            format!("{:?} is not a valid backend name (lowercase letters, digits, single hyphens; starts with a letter; at most 32)", b.name),
        );
    }
    let count = [b.url.is_some(), b.stdio.is_some(), b.builtin.is_some()].iter().filter(|x| **x).count();
    if count != 1 {
        p.push(at, "exactly one of `url`, `stdio`, `builtin` is required");
        return None;
    }
    if b.url.is_none() && (b.transport.is_some() || b.era.is_some()) {
        p.push(at, "`transport` and `era` apply only to `url` backends");
    }
    let mut headers = Vec::new();
    for (k, v) in &b.headers {
        match (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v.as_str())) {
            (Ok(n), Ok(v)) => headers.push((n, v)),
            _ => p.push(format!("{at}.headers.{k}"), "invalid header name or value"),
        }
    }
    let kind = if let Some(url) = &b.url {
        let url = parse_http_url(url, &format!("{at}.url"), p)?;
        match b.transport.unwrap_or(HttpTransport::StreamableHttp) {
            HttpTransport::StreamableHttp => {
                BackendKind::StreamableHttp { url, era: b.era.unwrap_or(EraSetting::Auto) }
            }
            HttpTransport::Sse => {
                if matches!(b.era, Some(EraSetting::Modern)) {
                    p.push(format!("{at}.era"), "the sse transport is legacy only");
                }
                BackendKind::Sse { url }
            }
        }
    } else if let Some(s) = &b.stdio {
        if s.command.trim().is_empty() {
            p.push(format!("{at}.stdio.command"), "must not be empty");
        }
        BackendKind::Stdio {
            command: s.command.clone(),
            args: s.args.clone(),
            env: s.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            working_dir: s.working_dir.clone().map(PathBuf::from),
        }
    } else {
        match b.builtin.as_deref() {
            Some("clock") => BackendKind::Builtin(BuiltinDemo::Clock),
            Some("notes") => BackendKind::Builtin(BuiltinDemo::Notes),
            other => {
                p.push(
                    format!("{at}.builtin"),
                    format!("unknown built-in {:?} (expected clock or notes)", other.unwrap_or("")),
                );
                return None;
            }
        }
    };
    let credential = b.credential.as_ref().map_or_else(Default::default, |c| {
        super::credential::validate_credential(c, &kind, base, &format!("{at}.credential"), p)
    });
    Some(BackendConfig {
        name: b.name.clone(),
        kind,
        timeout: b.timeout.map(|d| d.0).unwrap_or(limits.request_timeout),
        headers,
        credential,
    })
}

fn glob_set(patterns: &[String], at: &str, p: &mut Problems) -> Option<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for (i, pat) in patterns.iter().enumerate() {
        match Glob::new(pat) {
            Ok(g) => {
                b.add(g);
            }
            Err(e) => p.push(format!("{at}[{i}]"), format!("invalid glob: {e}")),
        }
    }
    b.build().ok()
}

pub(super) fn validate_curation(raw: Option<&RawCuration>, at: &str, p: &mut Problems) -> Curation {
    let Some(raw) = raw else {
        return Curation::default();
    };
    let allow = raw.allow.as_ref().and_then(|a| glob_set(a, &format!("{at}.allow"), p));
    let deny = if raw.deny.is_empty() { None } else { glob_set(&raw.deny, &format!("{at}.deny"), p) };
    let mut rename_back = HashMap::new();
    for (from, to) in &raw.rename {
        if !crate::mcp::names::is_valid_tool_name(to) {
            p.push(format!("{at}.rename.{from}"), format!("{to:?} is not a valid tool name"));
        }
        if rename_back.insert(to.clone(), from.clone()).is_some() {
            p.push(format!("{at}.rename.{from}"), format!("two tools renamed to {to:?}"));
        }
    }
    Curation {
        allow,
        deny,
        rename: raw.rename.clone().into_iter().collect(),
        rename_back,
        descriptions: raw.descriptions.clone().into_iter().collect(),
    }
}
