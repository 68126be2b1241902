//! The request path of the main listeners: find the virtual server, then the
//! stages in order. Stages later issues fill in are marked where they go.
//!
//! ```text
//! listener → TLS → [authentication] → [rate limit] → MCP decode (front)
//!          → [authorization] → [upstream credential] → upstream
//! ```

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};

use super::Gateway;
use crate::config::Listener;
use crate::error::{Body, rpc_error};
use crate::mcp::front::Front;
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
        let rt = self.runtime();
        let resp = match rt.route(&listener.name, req.uri().path()) {
            None => {
                log.outcome = "no_route";
                rpc_error(StatusCode::NOT_FOUND, None, code::INVALID_REQUEST, "No MCP endpoint at this path", None)
            }
            Some(vs) => {
                log.virtual_server = Some(vs.config.name.clone());
                // Stage: authentication (issue: front-door identity) goes here.
                // Stage: rate limiting goes here.
                let front = Front { listener, sealer: &rt.sealer, limits: &rt.config.limits };
                let resp = front.serve(vs, req, &mut log).await;
                log.backend = log.name.as_deref().and_then(|n| vs.backend_for(log.method.as_deref(), n));
                resp
            }
        };
        log.status = resp.status().as_u16();
        if log.outcome == "ok" && !resp.status().is_success() {
            log.outcome = "http_error";
        }
        self.metrics.observe(&log);
        log.emit(rt.config.access_log);
        resp
    }
}
