//! Tools that ask the client for something mid-call: an LLM completion (`sampling/createMessage`)
//! or user input (`elicitation/create`), including the SEP-1034 default values and the
//! SEP-1330 enum shapes. These are server-to-client requests, so they exist only on the
//! session-based protocol revisions (up to 2025-11-25).

// Sampling is deprecated by SEP-2577, but the conformance scenarios still exercise it.
#![allow(deprecated)]

use rmcp::{
    ErrorData as McpError, RoleServer,
    handler::server::wrapper::Parameters,
    model::{
        CallToolResult, ContentBlock, CreateMessageRequestParams, ElicitRequestParams, ElicitResult, ElicitationAction,
        ElicitationSchema, SamplingMessage,
    },
    service::RequestContext,
    tool, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::server::ConformanceServer;

/// Arguments of `test_sampling`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SamplingArgs {
    /// The prompt to send to the client's LLM.
    pub prompt: String,
}

/// Arguments of `test_elicitation`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ElicitationArgs {
    /// The message to show the user.
    pub message: String,
}

#[tool_router(router = interaction_tools, vis = "pub(super)")]
impl ConformanceServer {
    #[tool(description = "Asks the client's LLM to answer `prompt` (sampling/createMessage)")]
    async fn test_sampling(
        &self,
        Parameters(args): Parameters<SamplingArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let request = CreateMessageRequestParams::new(vec![SamplingMessage::user_text(args.prompt)], 100);
        match ctx.peer.create_message(request).await {
            Ok(result) => {
                let text = result
                    .message
                    .content
                    .first()
                    .and_then(|block| block.as_text())
                    .map_or_else(String::new, |text| text.text.clone());
                CallToolResult::success(vec![ContentBlock::text(format!("LLM response: {text}"))])
            }
            Err(error) => CallToolResult::error(vec![ContentBlock::text(format!("Sampling failed: {error}"))]),
        }
    }

    #[tool(description = "Asks the user for a username and an email (elicitation/create)")]
    async fn test_elicitation(
        &self,
        Parameters(args): Parameters<ElicitationArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let schema = json!({
            "type": "object",
            "properties": {
                "username": { "type": "string", "description": "User's response" },
                "email": { "type": "string", "description": "User's email address" }
            },
            "required": ["username", "email"]
        });
        elicit(&ctx, args.message, schema, "User response").await
    }

    #[tool(description = "Elicits one field of each primitive type, each with a default (SEP-1034)")]
    async fn test_elicitation_sep1034_defaults(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": { "type": "string", "description": "User name", "default": "John Doe" },
                "age": { "type": "integer", "description": "User age", "default": 30 },
                "score": { "type": "number", "description": "User score", "default": 95.5 },
                "status": {
                    "type": "string",
                    "description": "User status",
                    "enum": ["active", "inactive", "pending"],
                    "default": "active"
                },
                "verified": { "type": "boolean", "description": "Verified user", "default": true }
            }
        });
        let message = "Please review and update the form fields with defaults";
        elicit(&ctx, message.to_owned(), schema, "Elicitation completed").await
    }

    #[tool(description = "Elicits the five enum shapes of SEP-1330")]
    async fn test_elicitation_sep1330_enums(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let schema = json!({
            "type": "object",
            "properties": {
                "untitledSingle": {
                    "type": "string",
                    "enum": ["option1", "option2", "option3"]
                },
                "titledSingle": {
                    "type": "string",
                    "oneOf": [
                        { "const": "value1", "title": "First Option" },
                        { "const": "value2", "title": "Second Option" },
                        { "const": "value3", "title": "Third Option" }
                    ]
                },
                "legacyEnum": {
                    "type": "string",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"]
                },
                "untitledMulti": {
                    "type": "array",
                    "items": { "type": "string", "enum": ["option1", "option2", "option3"] }
                },
                "titledMulti": {
                    "type": "array",
                    "items": {
                        "anyOf": [
                            { "const": "value1", "title": "First Choice" },
                            { "const": "value2", "title": "Second Choice" },
                            { "const": "value3", "title": "Third Choice" }
                        ]
                    }
                }
            }
        });
        let message = "Please select options from the enum fields";
        elicit(&ctx, message.to_owned(), schema, "Elicitation completed").await
    }
}

/// Sends one form elicitation and reports the user's answer as `"{label}: action=…, content=…"`.
async fn elicit(
    ctx: &RequestContext<RoleServer>,
    message: String,
    schema: Value,
    label: &str,
) -> Result<CallToolResult, McpError> {
    let requested_schema: ElicitationSchema = serde_json::from_value(schema)
        .map_err(|error| McpError::internal_error(format!("bad elicitation schema: {error}"), None))?;
    let request = ElicitRequestParams::FormElicitationParams { meta: None, message, requested_schema };
    Ok(match ctx.peer.create_elicitation(request).await {
        Ok(answer) => CallToolResult::success(vec![ContentBlock::text(describe(label, &answer))]),
        Err(error) => CallToolResult::error(vec![ContentBlock::text(format!("Elicitation failed: {error}"))]),
    })
}

fn describe(label: &str, answer: &ElicitResult) -> String {
    let action = match answer.action {
        ElicitationAction::Accept => "accept",
        ElicitationAction::Decline => "decline",
        ElicitationAction::Cancel => "cancel",
        _ => "unknown",
    };
    let content = answer.content.clone().unwrap_or(Value::Null);
    format!("{label}: action={action}, content={content}")
}
