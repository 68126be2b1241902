//! The prompts the conformance scenarios get: plain text, argument substitution, an
//! embedded resource, and an image.

use rmcp::{
    ErrorData as McpError,
    model::{
        ContentBlock, ElicitResult, GetPromptRequestParams, GetPromptResponse, GetPromptResult, InputRequests,
        InputRequiredResult, JsonObject, ListPromptsResult, Prompt, PromptArgument, PromptMessage, ResourceContents,
        Role,
    },
};

use crate::{fixtures, mrtr, mrtr::StateSeal};

/// The prompt that needs user input before it can render (2026-07-28, SEP-2322).
const INPUT_REQUIRED_PROMPT: &str = "test_input_required_result_prompt";

/// Every prompt this server offers.
pub fn list() -> ListPromptsResult {
    ListPromptsResult::with_all_items(vec![
        Prompt::new("test_simple_prompt", Some("A simple prompt without arguments"), None),
        Prompt::new(
            "test_prompt_with_arguments",
            Some("A prompt that substitutes two arguments"),
            Some(vec![
                required_argument("arg1", "First test argument"),
                required_argument("arg2", "Second test argument"),
            ]),
        ),
        Prompt::new(
            "test_prompt_with_embedded_resource",
            Some("A prompt that embeds a resource"),
            Some(vec![required_argument("resourceUri", "URI of the resource to embed")]),
        ),
        Prompt::new("test_prompt_with_image", Some("A prompt that includes an image"), None),
        Prompt::new(INPUT_REQUIRED_PROMPT, Some("A prompt that asks the user for context first (2026-07-28)"), None),
    ])
}

fn required_argument(name: &str, description: &str) -> PromptArgument {
    PromptArgument::new(name).with_description(description).with_required(true)
}

/// Renders prompt `request.name` with its arguments, or asks for input first.
pub fn get(request: &GetPromptRequestParams, seal: &StateSeal) -> Result<GetPromptResponse, McpError> {
    if request.name == INPUT_REQUIRED_PROMPT {
        return input_required_prompt(request, seal);
    }
    render(request).map(GetPromptResponse::from)
}

fn render(request: &GetPromptRequestParams) -> Result<GetPromptResult, McpError> {
    let arguments = request.arguments.as_ref();
    let messages = match request.name.as_str() {
        "test_simple_prompt" => vec![PromptMessage::new_text(Role::User, "This is a simple prompt for testing.")],
        "test_prompt_with_arguments" => {
            let arg1 = argument(arguments, "arg1")?;
            let arg2 = argument(arguments, "arg2")?;
            vec![PromptMessage::new_text(Role::User, format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"))]
        }
        "test_prompt_with_embedded_resource" => {
            let uri = argument(arguments, "resourceUri")?;
            let resource =
                ResourceContents::text("Embedded resource content for testing.", uri).with_mime_type("text/plain");
            vec![
                PromptMessage::new(Role::User, ContentBlock::resource(resource)),
                PromptMessage::new_text(Role::User, "Please process the embedded resource above."),
            ]
        }
        "test_prompt_with_image" => vec![
            PromptMessage::new(Role::User, ContentBlock::image(fixtures::RED_PIXEL_PNG, "image/png")),
            PromptMessage::new_text(Role::User, "Please analyze the image above."),
        ],
        other => {
            return Err(McpError::invalid_params(format!("unknown prompt: {other}"), None));
        }
    };
    Ok(GetPromptResult::new(messages))
}

/// A required string argument, or an invalid-params error naming it.
fn argument<'a>(arguments: Option<&'a JsonObject>, name: &str) -> Result<&'a str, McpError> {
    arguments
        .and_then(|arguments| arguments.get(name))
        .and_then(|value| value.as_str())
        .ok_or_else(|| McpError::invalid_params(format!("missing argument: {name}"), None))
}

/// Round 1 asks for `user_context`; round 2 renders with it.
fn input_required_prompt(request: &GetPromptRequestParams, seal: &StateSeal) -> Result<GetPromptResponse, McpError> {
    let responses = request.input_responses.as_ref();
    if let Some(answer) = mrtr::answer::<ElicitResult>(responses, "user_context")? {
        if request.request_state.is_some() {
            seal.open(request.request_state.as_deref(), INPUT_REQUIRED_PROMPT)?;
        }
        let context = mrtr::content_str(answer.content.as_ref(), "context").unwrap_or("none");
        let message = PromptMessage::new_text(Role::User, format!("Prompt with context: {context}"));
        return Ok(GetPromptResult::new(vec![message]).into());
    }
    let question = mrtr::elicit_strings("What context should the prompt use?", &["context"])?;
    let requests = InputRequests::from([("user_context".to_owned(), question)]);
    Ok(InputRequiredResult::new(Some(requests), None).into())
}
