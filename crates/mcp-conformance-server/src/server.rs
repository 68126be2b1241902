//! The MCP server handler: capabilities, and dispatch of each request kind to the module
//! that implements it.

// Logging is deprecated by SEP-2577, but the conformance scenarios still exercise it.
#![allow(deprecated)]

use std::sync::Arc;

use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler,
    handler::server::router::tool::ToolRouter,
    model::{
        CompleteRequestParams, CompleteResult, GetPromptRequestParams, GetPromptResponse, Implementation,
        InitializeResult, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
        ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig, SetLevelRequestParams,
        SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
    },
    service::{RequestContext, SubscriptionContext},
    tool_handler,
};
use serde_json::json;

use crate::{
    changes::{ListChange, ListChanges},
    completion,
    logging::LogThreshold,
    mrtr::StateSeal,
    prompts, resources,
    resources::Subscriptions,
    streams::ResumableSessions,
    tools,
};

/// State shared by every session: built once, cloned into each handler.
#[derive(Debug, Clone)]
pub struct Shared {
    tools: Arc<ToolRouter<ConformanceServer>>,
    sessions: Arc<ResumableSessions>,
    state_seal: Arc<StateSeal>,
    changes: ListChanges,
}

impl Shared {
    /// Builds the tool router and the `requestState` key once for the whole process.
    pub fn new(sessions: Arc<ResumableSessions>) -> anyhow::Result<Self> {
        Ok(Self {
            tools: Arc::new(tools::router()),
            sessions,
            state_seal: Arc::new(StateSeal::generate()?),
            changes: ListChanges::default(),
        })
    }
}

/// One MCP session's handler (one per request on the stateless 2026-07-28 path).
#[derive(Debug, Clone)]
pub struct ConformanceServer {
    tools: Arc<ToolRouter<Self>>,
    /// Sessions, for tools that act on their own response stream.
    pub(crate) sessions: Arc<ResumableSessions>,
    /// Seals `requestState` of multi-round calls.
    pub(crate) state_seal: Arc<StateSeal>,
    /// Announces list changes to `subscriptions/listen` streams.
    pub(crate) changes: ListChanges,
    /// Level set by `logging/setLevel` on this session.
    pub(crate) log: LogThreshold,
    subscriptions: Subscriptions,
}

impl ConformanceServer {
    /// A fresh handler with its own session state.
    pub fn new(shared: &Shared) -> Self {
        Self {
            tools: shared.tools.clone(),
            sessions: shared.sessions.clone(),
            state_seal: shared.state_seal.clone(),
            changes: shared.changes.clone(),
            log: LogThreshold::default(),
            subscriptions: Subscriptions::default(),
        }
    }
}

#[tool_handler(router = self.tools)]
impl ServerHandler for ConformanceServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_logging()
            .enable_completions()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_resources()
            .enable_resources_subscribe()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
        InitializeResult::new(capabilities)
            .with_server_info(Implementation::new("warden-mcp-conformance-server", env!("CARGO_PKG_VERSION")))
            .with_instructions("Conformance backend: implements the MCP conformance suite's fixtures")
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.log.set(request.level);
        Ok(())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        completion::complete(&request)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(prompts::list())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        prompts::get(&request, &self.state_seal)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(resources::list())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        resources::read(&request.uri).map(ReadResourceResponse::from)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if !resources::exists(&request.uri) {
            return Err(McpError::resource_not_found("resource not found", Some(json!({ "uri": request.uri }))));
        }
        self.subscriptions.add(request.uri);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.subscriptions.remove(&request.uri);
        Ok(())
    }

    fn accepted_subscription_filter(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        // rmcp narrows this to what `get_info` advertises.
        Some(requested.clone())
    }

    /// Forwards announced list changes until the client cancels the stream.
    async fn listen(&self, subscription: SubscriptionContext) -> Result<(), McpError> {
        let mut changes = self.changes.subscribe();
        loop {
            let change = tokio::select! {
                () = subscription.cancelled() => return Ok(()),
                change = changes.recv() => change,
            };
            let sent = match change {
                Ok(ListChange::Tools) => subscription.sink().notify_tool_list_changed().await,
                Ok(ListChange::Prompts) => subscription.sink().notify_prompt_list_changed().await,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
            };
            // A change the client did not subscribe to is refused by the sink: skip it.
            if let Err(error) = sent {
                tracing::debug!(%error, "list change not forwarded");
            }
        }
    }
}
