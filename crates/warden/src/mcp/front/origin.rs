//! DNS-rebinding protection: `Origin` and `Host` checks.
//!
//! A listener bound to loopback only answers requests whose `Host` names a
//! loopback host (a rebinding attack arrives with the attacker's host name),
//! and any request that carries an `Origin` must come from the listener's own
//! origin, its public URL, or a configured `allowedOrigins` entry.

use http::HeaderMap;

use crate::config::Listener;

fn host_of(authority: &str) -> &str {
    // "[::1]:8080" → "[::1]", "localhost:80" → "localhost".
    if authority.starts_with('[') {
        return authority.split_inclusive(']').next().unwrap_or(authority);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost") || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a request with these headers may be served on `listener`.
pub fn origin_allowed(listener: &Listener, headers: &HeaderMap) -> bool {
    let public_host = listener.public_url.as_ref().and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    let loopback = listener.address.ip().is_loopback();
    if loopback && let Some(host) = headers.get(http::header::HOST).and_then(|v| v.to_str().ok()) {
        let h = host_of(host).to_ascii_lowercase();
        if !is_loopback_host(&h) && public_host.as_deref() != Some(h.as_str()) {
            return false;
        }
    }
    let Some(origin) = headers.get(http::header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if listener.allowed_origins.iter().any(|o| o == origin || o == "*") {
        return true;
    }
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    let Some(oh) = url.host_str().map(str::to_ascii_lowercase) else {
        return false;
    };
    if public_host.as_deref() == Some(oh.as_str()) {
        return true;
    }
    if loopback {
        return is_loopback_host(&oh);
    }
    // Non-loopback listener: same-origin with the Host header only.
    headers.get(http::header::HOST).and_then(|v| v.to_str().ok()).is_some_and(|h| host_of(h).eq_ignore_ascii_case(&oh))
}
