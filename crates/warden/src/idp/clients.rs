//! The development IdP's clients: pre-registered in config, registered
//! dynamically (RFC 7591, public clients only), or named by a Client ID
//! Metadata Document URL (fetched SSRF-guarded, size-capped, cached).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

use super::{Ctx, random_token, same_secret};
use crate::error::{Body, json_response};
use crate::token::http::{OAuthRequest, no_store};

/// Largest metadata document accepted (the draft suggests 5 KB).
const MAX_DOCUMENT: usize = 5 * 1024;
/// Metadata documents are cached this long without `Cache-Control: max-age`…
const DEFAULT_DOCUMENT_TTL: Duration = Duration::from_secs(300);
/// …and at least / at most this long with it.
const MIN_DOCUMENT_TTL: Duration = Duration::from_secs(30);
const MAX_DOCUMENT_TTL: Duration = Duration::from_secs(24 * 3600);
/// Dynamically registered clients are forgotten after this long.
const REGISTRATION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Time allowed to fetch a metadata document.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a client comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientKind {
    /// `devIdentityProvider.clients`.
    Configured,
    /// RFC 7591 registration.
    Dynamic,
    /// A Client ID Metadata Document.
    MetadataDocument,
}

/// A client of the development IdP.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) redirect_uris: Vec<String>,
    /// Confidential clients only.
    pub(crate) secret: Option<SecretString>,
    /// Scopes for client credentials.
    pub(crate) scopes: Vec<String>,
    pub(crate) kind: ClientKind,
}

/// Why a client is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// No such client.
    #[error("unknown client")]
    Unknown,
    /// The metadata document could not be fetched.
    #[error("client metadata document not fetched: {0}")]
    Fetch(String),
    /// The metadata document or registration is not acceptable.
    #[error("invalid client metadata: {0}")]
    Invalid(String),
    /// A redirect URI is not acceptable.
    #[error("invalid redirect URI: {0}")]
    RedirectUri(String),
}

/// Whether `u` is `http` to a loopback host (`127.0.0.1`, `[::1]`, `localhost`).
pub fn loopback_http(u: &Url) -> bool {
    u.scheme() == "http"
        && match u.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
}

/// Redirect URIs clients may register: `https`, loopback `http` (RFC 8252
/// §7.3), or a private-use scheme in reverse-domain form (RFC 8252 §7.1,
/// e.g. `com.example.app:/cb`); never with a fragment.
pub fn redirect_uri_allowed(s: &str) -> bool {
    let Ok(u) = Url::parse(s) else { return false };
    if u.fragment().is_some() || !u.username().is_empty() || u.password().is_some() {
        return false;
    }
    match u.scheme() {
        "https" => u.host().is_some(),
        "http" => loopback_http(&u),
        s => s.contains('.') && !s.starts_with("javascript") && !s.starts_with("data") && !s.starts_with("file"),
    }
}

fn redirect_uris(v: Option<&Value>) -> Result<Vec<String>, ClientError> {
    let list = v
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty() && a.len() <= 20)
        .ok_or_else(|| ClientError::RedirectUri("redirect_uris must be a non-empty list".into()))?;
    let mut out = Vec::new();
    for u in list {
        let s = u.as_str().ok_or_else(|| ClientError::RedirectUri("not a string".into()))?;
        if !redirect_uri_allowed(s) {
            return Err(ClientError::RedirectUri("must be https, loopback http or a reverse-domain scheme".into()));
        }
        out.push(s.to_string());
    }
    Ok(out)
}

/// Checks the parts RFC 7591 and the CIMD draft share: a public client
/// (`token_endpoint_auth_method` `none`) using only the code flow.
fn public_client_metadata(doc: &Value) -> Result<(Option<String>, Vec<String>), ClientError> {
    let obj = doc.as_object().ok_or_else(|| ClientError::Invalid("not a JSON object".into()))?;
    match obj.get("token_endpoint_auth_method").map(Value::as_str) {
        None | Some(Some("none")) => {}
        _ => return Err(ClientError::Invalid("only public clients (token_endpoint_auth_method none)".into())),
    }
    if obj.contains_key("client_secret") {
        return Err(ClientError::Invalid("a public client has no client_secret".into()));
    }
    let listed = |key: &str, allowed: &[&str]| match obj.get(key) {
        None => true,
        Some(Value::Array(a)) => a.iter().all(|g| g.as_str().is_some_and(|g| allowed.contains(&g))),
        Some(_) => false,
    };
    if !listed("grant_types", &["authorization_code", "refresh_token"]) {
        return Err(ClientError::Invalid("grant_types: only authorization_code and refresh_token".into()));
    }
    if !listed("response_types", &["code"]) {
        return Err(ClientError::Invalid("response_types: only code".into()));
    }
    let uris = redirect_uris(obj.get("redirect_uris"))?;
    let name = obj.get("client_name").and_then(Value::as_str).map(|n| n.chars().take(100).collect());
    Ok((name, uris))
}

/// Whether `client_id` names a metadata document: an `https` URL with a
/// path (or loopback `http`, for local tests), no fragment or credentials.
fn document_url(client_id: &str) -> Option<Url> {
    let u = Url::parse(client_id).ok()?;
    let ok = (u.scheme() == "https" || loopback_http(&u))
        && u.host().is_some()
        && u.path() != "/"
        && u.fragment().is_none()
        && u.username().is_empty()
        && u.password().is_none()
        && !client_id.contains("/./")
        && !client_id.contains("/../");
    ok.then_some(u)
}

/// Finds a client: configured, registered, or by metadata document.
pub(crate) async fn resolve(ctx: &Ctx<'_>, client_id: &str) -> Result<Arc<Client>, ClientError> {
    if let Some(c) = ctx.settings.raw.clients.iter().find(|c| c.id == client_id) {
        return Ok(Arc::new(Client {
            id: c.id.clone(),
            name: None,
            redirect_uris: c.redirect_uris.clone(),
            secret: c.secret.clone().map(SecretString::from),
            scopes: c.scopes.clone(),
            kind: ClientKind::Configured,
        }));
    }
    if let Some(c) = ctx.state.registered.get(client_id) {
        return Ok(c);
    }
    if ctx.settings.raw.client_id_metadata_documents == Some(false) {
        return Err(ClientError::Unknown);
    }
    let Some(url) = document_url(client_id) else { return Err(ClientError::Unknown) };
    if let Some(c) = ctx.state.documents.get(client_id) {
        return Ok(c);
    }
    let (doc, ttl) = fetch_document(&url).await?;
    if doc.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err(ClientError::Invalid("client_id in the document differs from its URL".into()));
    }
    let (name, redirect_uris) = public_client_metadata(&doc)?;
    let client = Arc::new(Client {
        id: client_id.to_string(),
        name,
        redirect_uris,
        secret: None,
        scopes: Vec::new(),
        kind: ClientKind::MetadataDocument,
    });
    if let Some(ttl) = ttl {
        ctx.state.documents.insert(client_id.to_string(), ttl, client.clone());
    }
    Ok(client)
}

/// Authenticates a client at the token endpoint: HTTP Basic or
/// `client_secret_post` for confidential clients, `client_id` alone for
/// public ones.
pub(crate) async fn authenticate(
    ctx: &Ctx<'_>,
    headers: &HeaderMap,
    form: &crate::token::http::Form,
) -> Result<Arc<Client>, ClientError> {
    let basic = basic_credentials(headers);
    let form_id = form.one("client_id").ok().flatten();
    let form_secret = form.one("client_secret").ok().flatten();
    let (id, secret) = match (&basic, form_id) {
        (Some((id, _)), Some(f)) if id != f => return Err(ClientError::Unknown),
        (Some((id, s)), _) => (id.as_str(), Some(s.as_str())),
        (None, Some(id)) => (id, form_secret),
        (None, None) => return Err(ClientError::Unknown),
    };
    let client = resolve(ctx, id).await?;
    match (&client.secret, secret) {
        (Some(expected), Some(given)) if same_secret(expected.expose_secret(), given) => Ok(client),
        (None, None) => Ok(client),
        _ => Err(ClientError::Unknown),
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    // RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
    let dec = |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((dec(id)?, dec(secret)?))
}

/// Whether an address may be fetched from: public unicast only.
fn public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public_ip(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x64 && s[1] == 0xff9b))
        }
    }
}

/// Fetches a metadata document: the host is resolved once and every
/// address checked (public only; loopback only for loopback `http`), the
/// connection pinned to the checked address, no redirects, 5 s, 5 KiB.
/// Returns the document and how long it may be cached (`None`: not at all).
async fn fetch_document(url: &Url) -> Result<(Value, Option<Duration>), ClientError> {
    let fetch = |e: &dyn std::fmt::Display| ClientError::Fetch(e.to_string());
    let host = url.host_str().ok_or_else(|| fetch(&"no host"))?.trim_start_matches('[').trim_end_matches(']');
    let port = url.port_or_known_default().ok_or_else(|| fetch(&"no port"))?;
    let loopback = loopback_http(url);
    let addrs: Vec<SocketAddr> = tokio::time::timeout(FETCH_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| fetch(&"name resolution timed out"))?
        .map_err(|e| fetch(&e))?
        .collect();
    let allowed = |a: &SocketAddr| if loopback { a.ip().is_loopback() } else { public_ip(a.ip()) };
    let addr = match addrs.first() {
        Some(a) if addrs.iter().all(allowed) => *a,
        Some(_) => return Err(fetch(&"the host resolves to a non-public address")),
        None => return Err(fetch(&"the host resolves to no address")),
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(FETCH_TIMEOUT)
        .resolve(host, addr)
        .build()
        .map_err(|e| fetch(&e))?;
    let resp = client.get(url.clone()).header("accept", "application/json").send().await.map_err(|e| fetch(&e))?;
    if resp.status() != StatusCode::OK {
        return Err(fetch(&format!("status {}", resp.status())));
    }
    let ttl = cache_ttl(resp.headers());
    let bytes = crate::auth::jwks::read_capped(resp, MAX_DOCUMENT).await.map_err(|e| fetch(&e))?;
    let doc = serde_json::from_slice(&bytes).map_err(|e| ClientError::Invalid(e.to_string()))?;
    Ok((doc, ttl))
}

/// `Cache-Control`: `no-store`/`no-cache` → not cached; `max-age` within
/// bounds; otherwise the default.
fn cache_ttl(headers: &HeaderMap) -> Option<Duration> {
    let cc = headers.get(http::header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut ttl = DEFAULT_DOCUMENT_TTL;
    for d in cc.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if d == "no-store" || d == "no-cache" {
            return None;
        }
        if let Some(secs) = d.strip_prefix("max-age=").and_then(|s| s.trim_matches('"').parse::<u64>().ok()) {
            ttl = Duration::from_secs(secs).clamp(MIN_DOCUMENT_TTL, MAX_DOCUMENT_TTL);
        }
    }
    Some(ttl)
}

/// RFC 7591 registration of a public client.
pub(crate) fn register(ctx: &Ctx<'_>, req: &OAuthRequest<'_>) -> Response<Body> {
    let error = |code: &str, d: &str| {
        let mut r =
            json_response(StatusCode::BAD_REQUEST, json!({"error": code, "error_description": d}).to_string().into());
        no_store(&mut r);
        r
    };
    let is_json = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
    let Some(doc) = is_json.then(|| serde_json::from_slice::<Value>(&req.body).ok()).flatten() else {
        return error("invalid_client_metadata", "expected a JSON object");
    };
    let (name, redirect_uris) = match public_client_metadata(&doc) {
        Ok(x) => x,
        Err(ClientError::RedirectUri(d)) => return error("invalid_redirect_uri", &d),
        Err(e) => return error("invalid_client_metadata", &e.to_string()),
    };
    let id = format!("dcr-{}", random_token());
    let client = Client {
        id: id.clone(),
        name: name.clone(),
        redirect_uris,
        secret: None,
        scopes: Vec::new(),
        kind: ClientKind::Dynamic,
    };
    let mut body = json!({
        "client_id": id,
        "client_id_issued_at": crate::token::now_secs(),
        "redirect_uris": client.redirect_uris,
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    });
    if let Some(n) = name {
        body["client_name"] = json!(n);
    }
    if let Some(s) = doc.get("scope").and_then(Value::as_str) {
        body["scope"] = json!(s);
    }
    tracing::info!(client_id = %client.id, "development IdP: client registered");
    ctx.state.registered.insert(client.id.clone(), REGISTRATION_TTL, Arc::new(client));
    let mut r = json_response(StatusCode::CREATED, body.to_string().into_bytes());
    no_store(&mut r);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_and_documents() {
        assert!(redirect_uri_allowed("https://app.example/cb"));
        assert!(redirect_uri_allowed("http://127.0.0.1:9/cb"));
        assert!(redirect_uri_allowed("http://localhost/cb"));
        assert!(redirect_uri_allowed("com.example.app:/cb"));
        assert!(!redirect_uri_allowed("http://app.example/cb"));
        assert!(!redirect_uri_allowed("https://app.example/cb#frag"));
        assert!(!redirect_uri_allowed("javascript:alert(1)"));
        assert!(document_url("https://app.example/client.json").is_some());
        assert!(document_url("http://127.0.0.1:5/c.json").is_some());
        assert!(document_url("https://app.example/").is_none());
        assert!(document_url("http://app.example/c.json").is_none());
        assert!(document_url("my-client").is_none());
    }

    #[test]
    fn only_public_addresses() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "192.168.1.1",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
        ] {
            assert!(!public_ip(bad.parse().unwrap()), "{bad}");
        }
        assert!(public_ip("93.184.216.34".parse().unwrap()));
        assert!(public_ip("2606:2800:220:1::1".parse().unwrap()));
    }

    #[test]
    fn cache_control_bounds() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(http::header::CACHE_CONTROL, v.parse().unwrap());
            cache_ttl(&m)
        };
        assert_eq!(h("max-age=5"), Some(MIN_DOCUMENT_TTL));
        assert_eq!(h("public, max-age=600"), Some(Duration::from_secs(600)));
        assert_eq!(h("max-age=99999999"), Some(MAX_DOCUMENT_TTL));
        assert_eq!(h("no-store"), None);
        assert_eq!(cache_ttl(&HeaderMap::new()), Some(DEFAULT_DOCUMENT_TTL));
    }
}
