//! Validation of `policy.external` (the external decision point).

use std::time::Duration;

use super::model::Problems;
use super::raw_policy::{RawExternal, RawExternalStyle, RawOnError};
use crate::policy::external::{ExternalSettings, ExternalStyle, OnError};

/// Most cached decisions per virtual server.
const MAX_CACHE_ENTRIES: usize = 10_000;

/// Validates the block: an `https` URL, or `http` on a loopback host (the
/// decision travels with the caller's identity); valid header names/values;
/// a timeout between 1 ms and 10 s.
pub(super) fn validate(raw: &RawExternal, at: &str, p: &mut Problems) -> Option<ExternalSettings> {
    let before = p.0.len();
    let url = match url::Url::parse(&raw.url) {
        Ok(u) if u.scheme() == "https" && u.host().is_some() => Some(u),
        Ok(u) if u.scheme() == "http" && crate::auth::jwks::key_url_allowed(&u) => Some(u),
        Ok(_) => {
            p.push(format!("{at}.url"), "must be https (or http on a loopback address)");
            None
        }
        Err(e) => {
            p.push(format!("{at}.url"), format!("invalid URL: {e}"));
            None
        }
    };
    let timeout = raw.timeout.map_or(Duration::from_millis(250), |d| d.0);
    if timeout.is_zero() || timeout > Duration::from_secs(10) {
        p.push(format!("{at}.timeout"), "must be between 1ms and 10s");
    }
    let mut headers = Vec::new();
    for (k, v) in &raw.headers {
        match (http::HeaderName::from_bytes(k.as_bytes()), http::HeaderValue::from_str(v)) {
            (Ok(n), Ok(mut v)) => {
                v.set_sensitive(true);
                headers.push((n, v));
            }
            _ => p.push(format!("{at}.headers.{k}"), "invalid header name or value"),
        }
    }
    if p.0.len() > before {
        return None;
    }
    Some(ExternalSettings {
        url: url?,
        style: match raw.style {
            Some(RawExternalStyle::Http) => ExternalStyle::Http,
            Some(RawExternalStyle::Opa) | None => ExternalStyle::Opa,
        },
        timeout,
        on_error: match raw.on_error {
            Some(RawOnError::Allow) => OnError::Allow,
            Some(RawOnError::Deny) | None => OnError::Deny,
        },
        cache_ttl: raw.cache_ttl.map_or(Duration::from_secs(5), |d| d.0),
        max_cache_entries: MAX_CACHE_ENTRIES,
        headers,
    })
}
