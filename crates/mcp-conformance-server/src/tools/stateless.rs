//! Diagnostic tools of the stateless 2026-07-28 scenarios (SEP-2575): a tool that needs an
//! undeclared client capability, one whose response stream must carry no server requests,
//! one that logs only when the request asked for a log level, and hooks that change the
//! tool and prompt lists so listen streams get notified.

// Logging is deprecated by SEP-2577, but the conformance scenarios still exercise it.
#![allow(deprecated)]

use rmcp::{
    ErrorData as McpError, RoleServer,
    model::{
        CallToolResponse, CallToolResult, ClientCapabilities, ContentBlock, InputRequests, InputRequiredResult,
        LoggingLevel,
    },
    service::RequestContext,
    tool, tool_router,
};

use crate::{changes::ListChange, mrtr, server::ConformanceServer};

#[tool_router(router = stateless_tools, vis = "pub(super)")]
impl ConformanceServer {
    #[tool(description = "Needs the client's sampling capability; fails with -32021 when it was not declared")]
    fn test_missing_capability(&self, ctx: RequestContext<RoleServer>) -> Result<CallToolResult, McpError> {
        if mrtr::declared(&ctx).sampling.is_none() {
            return Err(McpError::missing_required_client_capability(
                ClientCapabilities::builder().enable_sampling().build(),
            ));
        }
        Ok(CallToolResult::success(vec![ContentBlock::text("The client declared sampling")]))
    }

    #[tool(description = "Needs user input; asks for it in its result, never as a request on the stream")]
    fn test_streaming_elicitation(&self) -> Result<CallToolResponse, McpError> {
        let question = mrtr::elicit_strings("What is your name?", &["name"])?;
        let requests = InputRequests::from([("user_name".to_owned(), question)]);
        Ok(InputRequiredResult::new(Some(requests), None).into())
    }

    #[tool(description = "Logs one info message, if the request's _meta asked for a log level")]
    async fn test_logging_tool(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        self.log.send(&ctx, LoggingLevel::Info, "test_logging_tool ran").await;
        CallToolResult::success(vec![ContentBlock::text("Logging tool completed")])
    }

    #[tool(description = "Announces a tool list change to open subscriptions/listen streams")]
    fn test_trigger_tool_change(&self) -> CallToolResult {
        self.changes.announce(ListChange::Tools);
        CallToolResult::success(vec![ContentBlock::text("Tool list change announced")])
    }

    #[tool(description = "Announces a prompt list change to open subscriptions/listen streams")]
    fn test_trigger_prompt_change(&self) -> CallToolResult {
        self.changes.announce(ListChange::Prompts);
        CallToolResult::success(vec![ContentBlock::text("Prompt list change announced")])
    }
}
