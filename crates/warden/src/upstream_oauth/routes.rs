//! Warden's HTTP surface for upstream OAuth: the redirect URI the user's
//! browser comes back to, and Warden's Client ID Metadata Document.

use http::{HeaderValue, Method, Response, StatusCode};

use super::registration::client_metadata_document;
use super::{UpstreamOAuthError, paths, registry};
use crate::error::{Body, full, json_response, status_only};

/// Whether `path` is served here.
pub fn is_upstream_path(path: &str) -> bool {
    path == paths::CALLBACK || path == paths::CLIENT_METADATA
}

/// Serves `GET /oauth/upstream/callback` and
/// `GET /oauth/upstream/client-metadata.json`; `bases` are the base URLs
/// this request may have been made under (the token service issuer, the
/// listener's public URL): a backend whose metadata URL is one of them answers.
pub async fn serve(method: &Method, path: &str, query: Option<&str>, bases: &[String]) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        return status_only(StatusCode::METHOD_NOT_ALLOWED);
    }
    match path {
        paths::CALLBACK => match registry().callback(query.unwrap_or_default()).await {
            Ok(()) => page(
                StatusCode::OK,
                "Authorized",
                "Warden may now call this server for you. Close this window and retry the request.",
            ),
            Err(e) => {
                tracing::warn!(error = %e, "upstream OAuth callback refused");
                let status = if matches!(e, UpstreamOAuthError::Callback(_)) {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::BAD_GATEWAY
                };
                page(status, "Authorization failed", e.public_message())
            }
        },
        paths::CLIENT_METADATA => match bases.iter().find_map(|b| registry().by_metadata_url(&format!("{b}{path}"))) {
            Some(c) => {
                let doc = client_metadata_document(c.client_metadata_url(), c.redirect_uri());
                let mut r = json_response(StatusCode::OK, doc.to_string().into_bytes());
                r.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
                r
            }
            None => status_only(StatusCode::NOT_FOUND),
        },
        _ => status_only(StatusCode::NOT_FOUND),
    }
}

fn page(status: StatusCode, title: &str, text: &str) -> Response<Body> {
    let html = format!(
        "<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1><p id=\"result\">{text}</p></body></html>"
    );
    let mut r = Response::new(full(html));
    *r.status_mut() = status;
    r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
