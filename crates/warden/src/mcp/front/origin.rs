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

/// Whether a request with these headers (and URI authority, which HTTP/2
/// carries instead of `Host`) may be served on `listener`.
pub fn origin_allowed(listener: &Listener, headers: &HeaderMap, authority: Option<&str>) -> bool {
    let public_host = listener.public_url.as_ref().and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    let ip = listener.address.ip();
    let loopback = ip.is_loopback();
    // Loopback and wildcard listeners only answer host names they can vouch
    // for: loopback names, the public URL's host, and (on a wildcard
    // listener) IP literals. A rebinding attack arrives with its own DNS name.
    if loopback || ip.is_unspecified() {
        let host = headers.get(http::header::HOST).and_then(|v| v.to_str().ok()).or(authority);
        if let Some(host) = host {
            let h = host_of(host).to_ascii_lowercase();
            let ip_literal = h.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok();
            let ok = is_loopback_host(&h)
                || public_host.as_deref() == Some(h.as_str())
                || (ip.is_unspecified() && ip_literal);
            if !ok {
                return false;
            }
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

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::origin_allowed;
    use crate::config::Listener;

    fn listener(addr: &str, public: Option<&str>) -> Listener {
        Listener {
            name: "l".into(),
            address: addr.parse().unwrap_or_else(|_| std::net::SocketAddr::from(([127, 0, 0, 1], 1))),
            address_text: addr.into(),
            http1: true,
            http2: true,
            tls: None,
            public_url: public.and_then(|p| url::Url::parse(p).ok()),
            allowed_origins: vec![],
        }
    }

    fn headers(host: Option<&str>, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = host.and_then(|v| v.parse().ok()) {
            h.insert(http::header::HOST, v);
        }
        if let Some(v) = origin.and_then(|v| v.parse().ok()) {
            h.insert(http::header::ORIGIN, v);
        }
        h
    }

    #[test]
    fn loopback_listener_refuses_foreign_hosts_and_origins() {
        let l = listener("127.0.0.1:8080", None);
        assert!(origin_allowed(&l, &headers(Some("localhost:8080"), None), None));
        assert!(origin_allowed(&l, &headers(Some("127.0.0.1:8080"), Some("http://localhost:3000")), None));
        assert!(!origin_allowed(&l, &headers(Some("evil.example.com"), None), None));
        assert!(!origin_allowed(&l, &headers(Some("localhost"), Some("https://evil.example.com")), None));
        // HTTP/2 carries the host in the URI authority.
        assert!(!origin_allowed(&l, &headers(None, None), Some("evil.example.com:8080")));
    }

    #[test]
    fn wildcard_listener_refuses_rebinding_names_but_takes_ips_and_the_public_host() {
        let l = listener("0.0.0.0:8080", Some("https://mcp.example.com"));
        assert!(!origin_allowed(&l, &headers(Some("evil.com"), Some("http://evil.com")), None));
        assert!(origin_allowed(&l, &headers(Some("10.1.2.3:8080"), None), None));
        assert!(origin_allowed(&l, &headers(Some("mcp.example.com"), Some("https://mcp.example.com")), None));
    }
}
