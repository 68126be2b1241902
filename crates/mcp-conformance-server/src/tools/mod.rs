//! The server's tools, one file per kind of behaviour the conformance scenarios probe.
//!
//! Each file adds an `impl ConformanceServer` block with its own `#[tool_router]`; this
//! module joins them into the one router the server dispatches through.

mod bench;
mod content;
mod input_required;
mod interaction;
mod schema;
mod stateless;
mod streaming;

use rmcp::handler::server::router::tool::ToolRouter;

use crate::server::ConformanceServer;

/// Every tool this server offers.
pub fn router() -> ToolRouter<ConformanceServer> {
    ConformanceServer::content_tools()
        + ConformanceServer::interaction_tools()
        + ConformanceServer::streaming_tools()
        + ConformanceServer::schema_tools()
        + ConformanceServer::input_required_tools()
        + ConformanceServer::stateless_tools()
        + ConformanceServer::bench_tools()
}
