//! The token service's HTTP surface: RFC 8414 metadata, JWKS, the token
//! endpoint (grant dispatch) and, with the development identity provider,
//! the authorization and registration endpoints. Shared helpers for OAuth
//! forms and OAuth error responses live here so every endpoint answers alike.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde_json::json;

use super::{TokenService, paths};
use crate::auth::ConnInfo;
use crate::config::Listener;
use crate::error::{Body, json_response, status_only};
use crate::gateway::Runtime;

/// Largest form accepted at the token, authorization and registration endpoints.
const MAX_FORM: usize = 64 * 1024;

/// One request to an OAuth endpoint, body read.
#[derive(Debug)]
pub struct OAuthRequest<'a> {
    /// Method.
    pub method: Method,
    /// Path.
    pub path: String,
    /// Raw query.
    pub query: Option<String>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body (at most 64 KiB).
    pub body: Bytes,
    /// The TLS connection (client certificate, SPIFFE ID), when any.
    pub conn: Option<Arc<ConnInfo>>,
    /// The listener it arrived on.
    pub listener: &'a Listener,
}

/// An `application/x-www-form-urlencoded` body or query.
#[derive(Debug, Default, Clone)]
pub struct Form(pub Vec<(String, String)>);

/// A parameter given twice where RFC 6749 §3.1 allows once.
#[derive(Debug, thiserror::Error)]
#[error("parameter {0} given more than once")]
pub struct Repeated(pub String);

impl Form {
    /// Parses a form.
    pub fn parse(bytes: &[u8]) -> Form {
        Form(url::form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    /// A single-valued parameter; empty values count as absent.
    pub fn one(&self, name: &str) -> Result<Option<&str>, Repeated> {
        let mut it = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        match (it.next(), it.next()) {
            (Some(_), Some(_)) => Err(Repeated(name.to_string())),
            (Some(v), None) if !v.is_empty() => Ok(Some(v)),
            _ => Ok(None),
        }
    }

    /// Every value of a repeatable parameter (`resource`, `audience`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty()).collect()
    }
}

/// An OAuth error response (RFC 6749 §5.2): JSON `error` and an optional
/// fixed description; `Cache-Control: no-store`. `invalid_client` with
/// HTTP authentication also gets `WWW-Authenticate: Basic`.
pub fn oauth_error(status: StatusCode, error: &str, description: Option<&str>) -> Response<Body> {
    let mut body = json!({ "error": error });
    if let Some(d) = description {
        body["error_description"] = json!(d);
    }
    let mut r = json_response(status, body.to_string().into_bytes());
    no_store(&mut r);
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"warden\""));
    }
    r
}

/// A successful token response: JSON with `Cache-Control: no-store`.
pub fn token_response(body: &serde_json::Value) -> Response<Body> {
    let mut r = json_response(StatusCode::OK, body.to_string().into_bytes());
    no_store(&mut r);
    r
}

/// Marks a response uncacheable (token responses, RFC 6749 §5.1).
pub fn no_store(r: &mut Response<Body>) {
    r.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut().insert(http::header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn public_json(v: &serde_json::Value) -> Response<Body> {
    let mut r = json_response(StatusCode::OK, v.to_string().into_bytes());
    r.headers_mut().insert("access-control-allow-origin", HeaderValue::from_static("*"));
    r.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    r
}

/// Whether `path` belongs to the token service (given it is configured).
pub fn is_token_path(path: &str) -> bool {
    path == paths::METADATA || path == "/.well-known/openid-configuration" || path.starts_with("/oauth/")
}

/// Serves a token-service request.
pub async fn serve<B>(rt: &Runtime, ts: &Arc<TokenService>, listener: &Listener, req: Request<B>) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let dev_idp = rt.config.dev_idp.as_deref();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    match (&parts.method, path.as_str()) {
        (&Method::GET | &Method::HEAD, paths::METADATA) => return public_json(&ts.metadata(dev_idp)),
        (&Method::GET | &Method::HEAD, "/.well-known/openid-configuration") if dev_idp.is_some() => {
            return public_json(&ts.metadata(dev_idp));
        }
        (&Method::GET | &Method::HEAD, paths::JWKS) => return public_json(&ts.jwks()),
        // Warden as the OAuth client of upstream servers (`oauthClient` credentials).
        (_, p) if crate::upstream_oauth::is_upstream_path(p) => {
            return crate::upstream_oauth::serve(
                &parts.method,
                p,
                parts.uri.query(),
                &[ts.issuer().to_string(), listener.base_url()],
            )
            .await;
        }
        (&Method::OPTIONS, _) => {
            let mut r = status_only(StatusCode::NO_CONTENT);
            r.headers_mut().insert("access-control-allow-origin", HeaderValue::from_static("*"));
            r.headers_mut().insert("access-control-allow-methods", HeaderValue::from_static("GET, POST, OPTIONS"));
            r.headers_mut().insert("access-control-allow-headers", HeaderValue::from_static("*"));
            return r;
        }
        _ => {}
    }
    let body = match Limited::new(body, MAX_FORM).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return oauth_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", Some("request too large")),
    };
    // Brute-force brake before any secret is looked at.
    if parts.method == Method::POST
        && matches!(path.as_str(), paths::TOKEN | paths::AUTHORIZE | paths::REGISTER)
        && let Err(wait) = ts.brake.check(parts.extensions.get::<Arc<ConnInfo>>().and_then(|c| c.peer).map(|p| p.ip()))
    {
        let mut r = oauth_error(StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable", Some("too many requests"));
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
            r.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
        return r;
    }
    let req = OAuthRequest {
        method: parts.method.clone(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body,
        conn: parts.extensions.get::<Arc<ConnInfo>>().cloned(),
        listener,
    };
    match path.as_str() {
        paths::TOKEN if req.method == Method::POST => token_endpoint(rt, ts, &req).await,
        paths::TOKEN => status_only(StatusCode::METHOD_NOT_ALLOWED),
        _ if dev_idp.is_some() => crate::idp::serve(rt, ts, &req).await,
        _ => status_only(StatusCode::NOT_FOUND),
    }
}

/// The token endpoint: RFC 8693 exchanges here, the development IdP's
/// grants there.
async fn token_endpoint(rt: &Runtime, ts: &Arc<TokenService>, req: &OAuthRequest<'_>) -> Response<Body> {
    let is_form = req.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !is_form {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", Some("expected a form body"));
    }
    let form = Form::parse(&req.body);
    let grant = match form.one("grant_type") {
        Ok(Some(g)) => g.to_string(),
        Ok(None) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", Some("grant_type is required")),
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", Some(&e.to_string())),
    };
    match grant.as_str() {
        super::exchange::GRANT_TYPE => super::exchange::handle(rt, ts, req, &form).await,
        _ if rt.config.dev_idp.is_some() => crate::idp::token_grant(rt, ts, req, &form, &grant).await,
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", None),
    }
}
