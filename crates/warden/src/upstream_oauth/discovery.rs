//! Finding the upstream's authorization server: Protected Resource Metadata
//! (RFC 9728, from the 401 challenge's `resource_metadata` or the well-known
//! URLs), then the authorization server's metadata with the discovery order
//! RFC 8414 path-inserted → OpenID path-inserted → OpenID path-appended; the
//! document's `issuer` must equal the issuer used.

use serde::Deserialize;
use url::Url;

use super::{UpstreamOAuthError, fetch};

/// RFC 9728 Protected Resource Metadata (the fields used).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ResourceMetadata {
    /// The resource identifier.
    pub resource: String,
    /// Issuers of authorization servers.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// Scopes.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}

/// RFC 8414 authorization server metadata (the fields used).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// What discovery found for one backend.
#[derive(Debug, Clone)]
pub(super) struct Discovered {
    /// The `resource` to ask tokens for (RFC 8707).
    pub resource: String,
    /// Scopes the upstream says it needs (challenge `scope`, else PRM).
    pub scopes: Vec<String>,
    /// The authorization server.
    pub server: ServerMetadata,
}

/// Discovers the authorization server of `backend`; `issuer` skips PRM.
pub(super) async fn discover(
    http: &reqwest::Client,
    backend: &Url,
    issuer: Option<&str>,
) -> Result<Discovered, UpstreamOAuthError> {
    let (resource, scopes, issuer) = match issuer {
        Some(i) => (backend.as_str().to_string(), Vec::new(), i.to_string()),
        None => {
            let (prm, challenge_scopes) = resource_metadata(http, backend).await?;
            let issuer = prm.authorization_servers.first().cloned().ok_or_else(|| {
                UpstreamOAuthError::Discovery("protected resource metadata names no authorization server".into())
            })?;
            let scopes = if challenge_scopes.is_empty() { prm.scopes_supported.clone() } else { challenge_scopes };
            (prm.resource, scopes, issuer)
        }
    };
    let server = server_metadata(http, &issuer).await?;
    if !server.code_challenge_methods_supported.iter().any(|m| m == "S256") {
        return Err(UpstreamOAuthError::Discovery(format!("{issuer} does not advertise PKCE S256")));
    }
    Ok(Discovered { resource, scopes, server })
}

/// The backend's PRM and the `scope` of its 401 challenge, if any: the
/// challenge's `resource_metadata` first, then the path-inserted and root
/// well-known URLs.
async fn resource_metadata(
    http: &reqwest::Client,
    backend: &Url,
) -> Result<(ResourceMetadata, Vec<String>), UpstreamOAuthError> {
    let (from_challenge, scopes) = challenge(http, backend).await;
    let mut candidates = Vec::new();
    candidates.extend(from_challenge);
    let path = backend.path().trim_end_matches('/');
    let origin = backend.origin().ascii_serialization();
    if !path.is_empty() {
        candidates.push(format!("{origin}/.well-known/oauth-protected-resource{path}"));
    }
    candidates.push(format!("{origin}/.well-known/oauth-protected-resource"));
    for url in candidates {
        if let Some(prm) = fetch::get_json::<ResourceMetadata>(http, &url).await? {
            if !same_resource(&prm.resource, backend) {
                return Err(UpstreamOAuthError::Discovery(format!(
                    "protected resource metadata at {url} is for {:?}, not {backend}",
                    prm.resource
                )));
            }
            return Ok((prm, scopes));
        }
    }
    Err(UpstreamOAuthError::Discovery(format!("no protected resource metadata for {backend}")))
}

/// RFC 9728 §3.3: the metadata's `resource` must be the resource asked about
/// (a trailing slash aside), or its origin for the root document.
fn same_resource(resource: &str, backend: &Url) -> bool {
    let a = resource.trim_end_matches('/');
    a == backend.as_str().trim_end_matches('/') || a == backend.origin().ascii_serialization()
}

/// Probes the backend without credentials: an MCP `ping` POST; a 401's
/// `WWW-Authenticate: Bearer resource_metadata="…", scope="…"`.
async fn challenge(http: &reqwest::Client, backend: &Url) -> (Option<String>, Vec<String>) {
    let probe = http
        .post(backend.clone())
        .header(reqwest::header::ACCEPT, "application/json, text/event-stream")
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(r#"{"jsonrpc":"2.0","id":0,"method":"ping"}"#)
        .send()
        .await;
    let Ok(resp) = probe else { return (None, Vec::new()) };
    if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
        return (None, Vec::new());
    }
    let mut metadata = None;
    let mut scopes = Vec::new();
    for v in resp.headers().get_all(reqwest::header::WWW_AUTHENTICATE) {
        let Ok(v) = v.to_str() else { continue };
        if let Some(m) = auth_param(v, "resource_metadata") {
            metadata = Some(m);
        }
        if let Some(s) = auth_param(v, "scope") {
            scopes = s.split_whitespace().map(str::to_string).collect();
        }
    }
    (metadata, scopes)
}

/// One `name="value"` (or `name=token`) parameter of a challenge.
pub(super) fn auth_param(header: &str, name: &str) -> Option<String> {
    let mut rest = header;
    while let Some(at) = rest.find(name) {
        let before_ok = at == 0 || matches!(rest.as_bytes().get(at - 1), Some(b' ' | b',' | b'\t'));
        let after = &rest[at + name.len()..];
        let after_trim = after.trim_start();
        if before_ok && let Some(v) = after_trim.strip_prefix('=') {
            let v = v.trim_start();
            if let Some(q) = v.strip_prefix('"') {
                return q.find('"').map(|end| q[..end].to_string());
            }
            let end = v.find([',', ' ']).unwrap_or(v.len());
            return Some(v[..end].to_string());
        }
        rest = after;
    }
    None
}

/// The metadata URLs of `issuer`, in discovery order.
pub(super) fn metadata_urls(issuer: &Url) -> Vec<String> {
    let origin = issuer.origin().ascii_serialization();
    let path = issuer.path().trim_end_matches('/');
    if path.is_empty() {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ]
    }
}

/// The authorization server's metadata; its `issuer` must equal `issuer`.
async fn server_metadata(http: &reqwest::Client, issuer: &str) -> Result<ServerMetadata, UpstreamOAuthError> {
    let parsed = Url::parse(issuer)
        .map_err(|_| UpstreamOAuthError::Discovery(format!("authorization server {issuer:?} is not a URL")))?;
    for url in metadata_urls(&parsed) {
        if let Some(m) = fetch::get_json::<ServerMetadata>(http, &url).await? {
            if m.issuer != issuer {
                return Err(UpstreamOAuthError::Discovery(format!(
                    "metadata at {url} names issuer {:?}, expected {issuer:?}",
                    m.issuer
                )));
            }
            return Ok(m);
        }
    }
    Err(UpstreamOAuthError::Discovery(format!("no authorization server metadata for {issuer}")))
}
