//! The admin listener: `/healthz`, `/readyz`, `/metrics`.

use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode};

use crate::error::{Body, full, status_only};
use crate::gateway::Gateway;

/// Serves one admin request.
pub fn handle<B>(gw: &Arc<Gateway>, req: &Request<B>) -> Response<Body> {
    match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => {
            if gw.is_ready() {
                text(StatusCode::OK, "ready\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready: backends not probed yet\n")
            }
        }
        "/metrics" => {
            gw.update_backend_gauges();
            let rt = gw.runtime();
            for (vs, limiter) in rt.virtual_servers.iter().zip(&rt.limiters) {
                if let Some(l) = limiter {
                    gw.metrics.sync_fallbacks(&vs.config.name, l.fallbacks());
                }
            }
            let mut r = Response::new(full(gw.metrics.encode()));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            );
            r
        }
        _ => status_only(StatusCode::NOT_FOUND),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}
