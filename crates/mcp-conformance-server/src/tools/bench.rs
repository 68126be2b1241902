//! Plain, fast tools for load benchmarks: no notifications, no waiting.

use rmcp::{RoleServer, handler::server::wrapper::Parameters, service::RequestContext, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::server::ConformanceServer;

/// Arguments of `echo`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EchoArgs {
    /// Text returned unchanged.
    pub message: String,
}

/// Arguments of `add`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AddArgs {
    /// First addend.
    pub a: f64,
    /// Second addend.
    pub b: f64,
}

#[tool_router(router = bench_tools, vis = "pub(super)")]
impl ConformanceServer {
    #[tool(description = "Returns its `message` argument as text")]
    fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> String {
        args.message
    }

    #[tool(description = "Returns a + b as text")]
    fn add(&self, Parameters(args): Parameters<AddArgs>) -> String {
        (args.a + args.b).to_string()
    }

    /// Lets tests see exactly which HTTP headers reached the backend (for
    /// example, that a gateway never forwards the client's credentials).
    #[tool(description = "Returns the HTTP request headers this call arrived with, one `name: value` per line")]
    fn debug_request_headers(&self, ctx: RequestContext<RoleServer>) -> String {
        let Some(parts) = ctx.extensions.get::<http::request::Parts>() else { return "(not HTTP)".to_string() };
        let mut lines: Vec<String> = parts
            .headers
            .iter()
            .map(|(k, v)| format!("{}: {}", k.as_str(), String::from_utf8_lossy(v.as_bytes())))
            .collect();
        lines.sort();
        lines.join("\n")
    }
}
