//! The request path of the main listeners: discovery documents, then find the
//! virtual server, then the stages in order. Stages later issues fill in are
//! marked where they go.
//!
//! ```text
//! listener → TLS → authentication → [rate limit] → MCP decode (front,
//!          with the scope check once the method is known)
//!          → [authorization] → [upstream credential] → upstream
//! ```

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};

use super::{Gateway, Runtime};
use crate::auth::metadata::{AS_SEGMENT, ASM_PREFIX, PRM_PREFIX};
use crate::auth::{ConnInfo, RequestFacts};
use crate::config::Listener;
use crate::error::{Body, json_response, rpc_error, status_only};
use crate::mcp::front::{AuthGate, Front};
use crate::mcp::jsonrpc::code;
use crate::telemetry::AccessRecord;

impl Gateway {
    /// Serves one request that arrived on `listener`.
    pub async fn handle<B>(self: &Arc<Self>, listener: &Listener, req: Request<B>) -> Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut log = AccessRecord::new(&listener.name, req.method().as_str(), req.uri().path());
        log.request_id = request_id(req.headers());
        let rt = self.runtime();
        let path = req.uri().path();
        if crate::upstream_oauth::is_upstream_path(path) && rt.token_service.is_none() {
            // `oauthClient` redirects come back here even without a token service.
            log.outcome = "token_service";
            let path = path.to_string();
            let query = req.uri().query().map(str::to_string);
            let resp =
                crate::upstream_oauth::serve(req.method(), &path, query.as_deref(), &[listener.base_url()]).await;
            self.metrics.observe_token_service(&path, resp.status().as_u16());
            log.status = resp.status().as_u16();
            log.emit(rt.config.access_log);
            return resp;
        }
        if let Some(ts) = &rt.token_service
            && crate::token::http::is_token_path(path)
        {
            log.outcome = "token_service";
            let path = path.to_string();
            let resp = crate::token::http::serve(&rt, ts, listener, req).await;
            self.metrics.observe_token_service(&path, resp.status().as_u16());
            let mut resp = resp;
            if let Ok(v) = HeaderValue::from_str(&log.request_id) {
                resp.headers_mut().insert(REQUEST_ID, v);
            }
            log.status = resp.status().as_u16();
            log.emit(rt.config.access_log);
            return resp;
        }
        if path.starts_with("/.well-known/") || path.contains(AS_SEGMENT) {
            let resp = well_known(&rt, listener, req.method(), path);
            log.outcome = if resp.status().is_success() { "metadata" } else { "no_route" };
            log.status = resp.status().as_u16();
            log.emit(rt.config.access_log);
            return resp;
        }
        let resp = match rt.route_index(&listener.name, path) {
            None => {
                log.outcome = "no_route";
                rpc_error(StatusCode::NOT_FOUND, None, code::INVALID_REQUEST, "No MCP endpoint at this path", None)
            }
            Some(i) => {
                let vs = &rt.virtual_servers[i];
                log.virtual_server = Some(vs.config.name.clone());
                // Stage: authentication (headers and connection only; the
                // scope check runs in the front once the method is known).
                let gate = match rt.authenticator(i) {
                    None => AuthGate::open(),
                    Some(auth) => {
                        let conn = req.extensions().get::<Arc<ConnInfo>>().cloned();
                        let facts = RequestFacts {
                            headers: req.headers(),
                            method: req.method(),
                            authority: req.uri().authority().map(|a| a.as_str()),
                            conn: conn.as_deref(),
                            listener,
                        };
                        let result = auth.authenticate(&facts).await;
                        AuthGate::new(auth.clone(), listener, result)
                    }
                };
                // Stage: rate limiting runs in the front, once the method is known.
                let limiter = rt.limiters.get(i).and_then(Option::as_deref);
                let front = Front { listener, sealer: &rt.sealer, limits: &rt.config.limits, gate: &gate, limiter };
                let resp = front.serve(vs, req, &mut log).await;
                log.backend = log.name.as_deref().and_then(|n| vs.backend_for(log.method.as_deref(), n));
                resp
            }
        };
        let mut resp = resp;
        if let Ok(v) = HeaderValue::from_str(&log.request_id) {
            resp.headers_mut().insert(REQUEST_ID, v);
        }
        log.status = resp.status().as_u16();
        if log.outcome == "ok" && !resp.status().is_success() {
            log.outcome = "http_error";
        }
        self.metrics.observe(&log);
        log.emit(rt.config.access_log);
        resp
    }
}

/// The request id header.
const REQUEST_ID: &str = "x-request-id";

/// The client's `x-request-id` when it is a plain token (1–128 characters of
/// letters, digits, `-`, `_`, `.`, `:`), else a fresh random one.
fn request_id(headers: &http::HeaderMap) -> String {
    if let Some(v) = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok())
        && (1..=128).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    {
        return v.to_string();
    }
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Metadata documents: Protected Resource Metadata per virtual server (and
/// the root form when one virtual server on the listener has `auth`), and
/// authorization-server metadata Warden serves for OIDC-only issuers.
fn well_known(rt: &Runtime, listener: &Listener, method: &Method, path: &str) -> Response<Body> {
    if method == Method::OPTIONS {
        let mut r = status_only(StatusCode::NO_CONTENT);
        cors(&mut r);
        r.headers_mut().insert("access-control-allow-methods", HeaderValue::from_static("GET, OPTIONS"));
        r.headers_mut().insert("access-control-allow-headers", HeaderValue::from_static("*"));
        return r;
    }
    if method != Method::GET && method != Method::HEAD {
        return status_only(StatusCode::METHOD_NOT_ALLOWED);
    }
    let doc = if let Some(rest) = path.strip_prefix(PRM_PREFIX) {
        let auth = if rest.is_empty() || rest == "/" {
            // Root form: only when it is unambiguous.
            let mut with_auth = (0..rt.virtual_servers.len())
                .filter(|i| rt.route_index(&listener.name, &rt.virtual_servers[*i].config.path) == Some(*i))
                .filter_map(|i| rt.authenticator(i));
            match (with_auth.next(), with_auth.next()) {
                (Some(a), None) => Some(a),
                _ => None,
            }
        } else {
            rt.route_index(&listener.name, rest).and_then(|i| rt.authenticator(i))
        };
        auth.map(|a| crate::auth::metadata::protected_resource(a, listener))
    } else {
        // `/.well-known/oauth-authorization-server/<vs>/authorization-server/N`,
        // `/.well-known/openid-configuration/<same>` or `<vs>/authorization-server/N/.well-known/openid-configuration`.
        let rest = path
            .strip_prefix(ASM_PREFIX)
            .or_else(|| path.strip_prefix("/.well-known/openid-configuration"))
            .or_else(|| path.strip_suffix("/.well-known/openid-configuration"))
            .unwrap_or("");
        rest.split_once(AS_SEGMENT).and_then(|(vs_path, n)| {
            let index: usize = n.parse().ok()?;
            let i = rt.route_index(&listener.name, vs_path)?;
            let auth = rt.authenticator(i).filter(|a| a.settings.serve_as_metadata)?;
            crate::auth::metadata::authorization_server(auth, listener, index)
        })
    };
    match doc {
        Some(d) => {
            let mut r = json_response(StatusCode::OK, serde_json::to_vec(&d).unwrap_or_default());
            cors(&mut r);
            r.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
            r
        }
        None => status_only(StatusCode::NOT_FOUND),
    }
}

fn cors(r: &mut Response<Body>) {
    r.headers_mut().insert("access-control-allow-origin", HeaderValue::from_static("*"));
}
