//! Tools that stream while they run: log notifications, progress notifications, and a
//! response stream that the server closes mid-call for the client to resume (SEP-1699).

// Logging is deprecated by SEP-2577, but the conformance scenarios still exercise it.
#![allow(deprecated)]

use std::time::Duration;

use rmcp::{
    RoleServer,
    model::{CallToolResult, ContentBlock, LoggingLevel, ProgressNotificationParam},
    service::RequestContext,
    tool, tool_router,
};

use crate::server::ConformanceServer;

/// Pause between the notifications of one call, so that they arrive as separate events.
const STEP: Duration = Duration::from_millis(50);

/// How long a client should wait before resuming a stream the server closed.
const RESUME_AFTER: Duration = Duration::from_millis(200);

#[tool_router(router = streaming_tools, vis = "pub(super)")]
impl ConformanceServer {
    #[tool(description = "Sends three info log notifications, 50 ms apart, then returns")]
    async fn test_tool_with_logging(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        self.log.send(&ctx, LoggingLevel::Info, "Tool execution started").await;
        tokio::time::sleep(STEP).await;
        self.log.send(&ctx, LoggingLevel::Info, "Tool processing data").await;
        tokio::time::sleep(STEP).await;
        self.log.send(&ctx, LoggingLevel::Info, "Tool execution completed").await;
        CallToolResult::success(vec![ContentBlock::text("Logging test completed")])
    }

    #[tool(description = "Reports progress 0, 50 and 100 of 100, 50 ms apart, then returns")]
    async fn test_tool_with_progress(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        let token = ctx.meta.get_progress_token();
        for (step, (progress, message)) in
            [(0.0, "Started"), (50.0, "Halfway"), (100.0, "Done")].into_iter().enumerate()
        {
            if step > 0 {
                tokio::time::sleep(STEP).await;
            }
            let Some(token) = token.clone() else { continue };
            let notification = ProgressNotificationParam::new(token, progress).with_total(100.0).with_message(message);
            if let Err(error) = ctx.peer.notify_progress(notification).await {
                tracing::debug!(%error, "progress notification not delivered");
            }
        }
        CallToolResult::success(vec![ContentBlock::text("Progress test completed")])
    }

    #[tool(
        description = "Closes its own SSE response stream mid-call; the result is delivered after the client resumes with Last-Event-ID (SEP-1699)"
    )]
    async fn test_reconnection(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        if let Some(session) = crate::http::session_id(&ctx)
            && let Err(error) = self.sessions.close_response_stream(&session, &ctx.id, RESUME_AFTER).await
        {
            tracing::debug!(%error, "response stream left open");
        }
        tokio::time::sleep(STEP * 2).await;
        CallToolResult::success(vec![ContentBlock::text("Reconnection test completed")])
    }
}
