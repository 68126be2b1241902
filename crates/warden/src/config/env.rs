//! `${VAR}` and `${VAR:-default}` expansion in every string of the config.
//!
//! Expansion happens on the parsed YAML tree (not the raw text), so a value
//! containing YAML syntax cannot change the structure of the file. `$$` is a
//! literal `$`. A variable that is unset (and has no default) is an error that
//! names the key path where it was used.

use serde_norway::Value;

/// Expands variables in every string scalar of `value`, using `lookup`.
/// Returns the list of `path: message` problems (empty when all went well).
pub fn expand_tree(value: &mut Value, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut problems = Vec::new();
    walk(value, String::new(), lookup, &mut problems);
    problems
}

fn walk(v: &mut Value, path: String, lookup: &dyn Fn(&str) -> Option<String>, out: &mut Vec<String>) {
    match v {
        Value::String(s) => match expand_str(s, lookup) {
            Ok(Some(new)) => *s = new,
            Ok(None) => {}
            Err(e) => out.push(format!("{}: {e}", display_path(&path))),
        },
        Value::Sequence(seq) => {
            for (i, item) in seq.iter_mut().enumerate() {
                walk(item, format!("{path}[{i}]"), lookup, out);
            }
        }
        Value::Mapping(map) => {
            for (k, item) in map.iter_mut() {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => format!("{other:?}"),
                };
                let p = if path.is_empty() { key } else { format!("{path}.{key}") };
                walk(item, p, lookup, out);
            }
        }
        Value::Tagged(t) => walk(&mut t.value, path, lookup, out),
        _ => {}
    }
}

fn display_path(p: &str) -> &str {
    if p.is_empty() { "(root)" } else { p }
}

/// Expands one string. `Ok(None)` means it holds no `$` and is unchanged.
pub fn expand_str(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Option<String>, String> {
    if !s.contains('$') {
        return Ok(None);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| format!("unterminated variable reference in {s:?}"))?;
            let expr = &body[..end];
            let (name, default) = match expr.find(":-") {
                Some(i) => (&expr[..i], Some(&expr[i + 2..])),
                None => (expr, None),
            };
            if name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                || name.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(format!("invalid variable name {name:?}"));
            }
            match (lookup(name).filter(|v| !(v.is_empty() && default.is_some())), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(format!("environment variable {name} is not set")),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(Some(out))
}
