//! Tools that need input from the client on protocol 2026-07-28, where a server may no
//! longer send requests of its own: they answer `InputRequiredResult` and finish when
//! called again with `inputResponses` (SEP-2322). Missing answers are asked for again;
//! malformed ones and tampered `requestState` are invalid params.

// Sampling and roots are deprecated by SEP-2577, but the conformance scenarios still use them.
#![allow(deprecated)]

use rmcp::{
    ErrorData as McpError, RoleServer,
    handler::server::tool::{InputResponses, RequestState},
    model::{
        CallToolResponse, CallToolResult, ContentBlock, CreateMessageResult, ElicitResult, InputRequests,
        InputRequiredResult, ListRootsResult,
    },
    service::RequestContext,
    tool, tool_router,
};

use crate::{
    mrtr::{self, Round},
    server::ConformanceServer,
};

fn done(text: impl Into<String>) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(text)]).into()
}

fn ask(requests: InputRequests, state: Option<String>) -> CallToolResponse {
    InputRequiredResult::new(Some(requests), state).into()
}

fn one(key: &str, request: rmcp::model::InputRequest) -> InputRequests {
    InputRequests::from([(key.to_owned(), request)])
}

/// The text of a sampling answer, or a placeholder when it has none.
fn sampled_text(answer: &CreateMessageResult) -> String {
    answer
        .message
        .content
        .first()
        .and_then(|block| block.as_text())
        .map_or_else(|| "(no text)".to_owned(), |text| text.text.clone())
}

const REQUEST_STATE_TOOL: &str = "test_input_required_result_request_state";
const MULTIPLE_TOOL: &str = "test_input_required_result_multiple_inputs";
const MULTI_ROUND_TOOL: &str = "test_input_required_result_multi_round";
const TAMPERED_TOOL: &str = "test_input_required_result_tampered_state";

#[tool_router(router = input_required_tools, vis = "pub(super)")]
impl ConformanceServer {
    #[tool(description = "Asks for the user's name by elicitation, then greets them (SEP-2322)")]
    fn test_input_required_result_elicitation(
        &self,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, McpError> {
        match mrtr::answer::<ElicitResult>(responses.as_ref(), "user_name")? {
            Some(answer) => {
                let name = mrtr::content_str(answer.content.as_ref(), "name").unwrap_or("stranger");
                Ok(done(format!("Hello, {name}!")))
            }
            None => Ok(ask(one("user_name", mrtr::elicit_strings("What is your name?", &["name"])?), None)),
        }
    }

    #[tool(description = "Asks the client's LLM a question by sampling, then reports the answer (SEP-2322)")]
    fn test_input_required_result_sampling(
        &self,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, McpError> {
        match mrtr::answer::<CreateMessageResult>(responses.as_ref(), "capital_question")? {
            Some(answer) => Ok(done(format!("Sampling response: {}", sampled_text(&answer)))),
            None => Ok(ask(one("capital_question", mrtr::sample("What is the capital of France?", 100)?), None)),
        }
    }

    #[tool(description = "Asks for the client's roots, then lists them (SEP-2322)")]
    fn test_input_required_result_list_roots(
        &self,
        InputResponses(responses): InputResponses,
    ) -> Result<CallToolResponse, McpError> {
        match mrtr::answer::<ListRootsResult>(responses.as_ref(), "client_roots")? {
            Some(answer) => {
                let uris: Vec<&str> = answer.roots.iter().map(|root| root.uri.as_str()).collect();
                Ok(done(format!("Client roots: {}", uris.join(", "))))
            }
            None => Ok(ask(one("client_roots", mrtr::list_roots()?), None)),
        }
    }

    #[tool(description = "Asks for a confirmation and round-trips a sealed requestState (SEP-2322)")]
    fn test_input_required_result_request_state(
        &self,
        InputResponses(responses): InputResponses,
        RequestState(state): RequestState,
    ) -> Result<CallToolResponse, McpError> {
        let confirm = || mrtr::elicit("Please confirm", serde_json::json!({ "ok": { "type": "boolean" } }), &["ok"]);
        match mrtr::answer::<ElicitResult>(responses.as_ref(), "confirm")? {
            Some(answer) => {
                self.state_seal.open(state.as_deref(), REQUEST_STATE_TOOL)?;
                let ok = answer.content.as_ref().and_then(|content| content.get("ok"));
                let ok = ok.map_or_else(|| "none".to_owned(), ToString::to_string);
                Ok(done(format!("state-ok: confirmed={ok}")))
            }
            None => {
                let round = Round { handler: REQUEST_STATE_TOOL.to_owned(), step: 1, carried: None };
                Ok(ask(one("confirm", confirm()?), Some(self.state_seal.seal(&round)?)))
            }
        }
    }

    #[tool(description = "Asks for an elicitation, a sampling and the roots at once (SEP-2322)")]
    fn test_input_required_result_multiple_inputs(
        &self,
        InputResponses(responses): InputResponses,
        RequestState(state): RequestState,
    ) -> Result<CallToolResponse, McpError> {
        let responses = responses.as_ref();
        let name = mrtr::answer::<ElicitResult>(responses, "user_name")?;
        let greeting = mrtr::answer::<CreateMessageResult>(responses, "greeting")?;
        let roots = mrtr::answer::<ListRootsResult>(responses, "client_roots")?;
        if responses.is_some() {
            self.state_seal.open(state.as_deref(), MULTIPLE_TOOL)?;
        }
        if let (Some(name), Some(greeting), Some(roots)) = (&name, &greeting, &roots) {
            let name = mrtr::content_str(name.content.as_ref(), "name").unwrap_or("stranger");
            return Ok(done(format!("name={name}; greeting={}; roots={}", sampled_text(greeting), roots.roots.len())));
        }
        let mut requests = InputRequests::new();
        if name.is_none() {
            requests.insert("user_name".into(), mrtr::elicit_strings("What is your name?", &["name"])?);
        }
        if greeting.is_none() {
            requests.insert("greeting".into(), mrtr::sample("Generate a greeting", 50)?);
        }
        if roots.is_none() {
            requests.insert("client_roots".into(), mrtr::list_roots()?);
        }
        let round = Round { handler: MULTIPLE_TOOL.to_owned(), step: 1, carried: None };
        Ok(ask(requests, Some(self.state_seal.seal(&round)?)))
    }

    #[tool(description = "Asks two questions in two rounds, carrying the first answer in requestState (SEP-2322)")]
    fn test_input_required_result_multi_round(
        &self,
        InputResponses(responses): InputResponses,
        RequestState(state): RequestState,
    ) -> Result<CallToolResponse, McpError> {
        let responses = responses.as_ref();
        if let Some(answer) = mrtr::answer::<ElicitResult>(responses, "step2")? {
            let round = self.state_seal.open(state.as_deref(), MULTI_ROUND_TOOL)?;
            if round.step != 2 {
                return Err(McpError::invalid_params("step2 answered out of order", None));
            }
            let color = mrtr::content_str(answer.content.as_ref(), "color").unwrap_or("none");
            let name = round.carried.unwrap_or_default();
            return Ok(done(format!("Hello, {name}! Your favorite color is {color}.")));
        }
        if let Some(answer) = mrtr::answer::<ElicitResult>(responses, "step1")? {
            self.state_seal.open(state.as_deref(), MULTI_ROUND_TOOL)?;
            let name = mrtr::content_str(answer.content.as_ref(), "name").unwrap_or("stranger");
            let round = Round { handler: MULTI_ROUND_TOOL.to_owned(), step: 2, carried: Some(name.to_owned()) };
            let question = mrtr::elicit_strings("Step 2: What is your favorite color?", &["color"])?;
            return Ok(ask(one("step2", question), Some(self.state_seal.seal(&round)?)));
        }
        let round = Round { handler: MULTI_ROUND_TOOL.to_owned(), step: 1, carried: None };
        let question = mrtr::elicit_strings("Step 1: What is your name?", &["name"])?;
        Ok(ask(one("step1", question), Some(self.state_seal.seal(&round)?)))
    }

    #[tool(description = "Rejects a requestState that fails its integrity check (SEP-2322)")]
    fn test_input_required_result_tampered_state(
        &self,
        InputResponses(responses): InputResponses,
        RequestState(state): RequestState,
    ) -> Result<CallToolResponse, McpError> {
        if responses.is_some() || state.is_some() {
            self.state_seal.open(state.as_deref(), TAMPERED_TOOL)?;
            return Ok(done("requestState verified"));
        }
        let round = Round { handler: TAMPERED_TOOL.to_owned(), step: 1, carried: None };
        let question = mrtr::elicit_strings("Please confirm to continue", &["answer"])?;
        Ok(ask(one("confirm", question), Some(self.state_seal.seal(&round)?)))
    }

    #[tool(description = "Asks only for input the client declared it can give (SEP-2322)")]
    fn test_input_required_result_capabilities(
        &self,
        InputResponses(responses): InputResponses,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if responses.is_some() {
            return Ok(done("Input received"));
        }
        let declared = mrtr::declared(&ctx);
        let mut requests = InputRequests::new();
        if declared.elicitation.is_some() {
            requests.insert("user_name".into(), mrtr::elicit_strings("What is your name?", &["name"])?);
        }
        if declared.sampling.is_some() {
            requests.insert("greeting".into(), mrtr::sample("Generate a greeting", 50)?);
        }
        if requests.is_empty() {
            return Ok(done("The client declared no capability to ask through"));
        }
        Ok(ask(requests, None))
    }
}
