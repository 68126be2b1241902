//! Multi-round-trip requests (SEP-2322, protocol 2026-07-28): a handler that needs input
//! from the client returns an `InputRequiredResult` naming what it needs
//! (`inputRequests`), and the client calls again with `inputResponses` and the server's
//! opaque `requestState`. This module builds the requests, reads the responses, and seals
//! the state so that a client cannot forge or alter it.

use rmcp::{
    ErrorData as McpError, RoleServer,
    model::{ClientCapabilities, InputRequest, InputResponses, RequestStateCodec},
    service::RequestContext,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

/// Where a multi-round tool call stands; sealed into `requestState`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Round {
    /// The tool (or prompt) the state belongs to; state is never valid for another.
    pub handler: String,
    /// Rounds completed so far.
    pub step: u8,
    /// Answers carried from earlier rounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried: Option<String>,
}

/// Seals and opens [`Round`]s with a key generated at start-up (HMAC, via rmcp).
#[derive(Debug, Clone)]
pub struct StateSeal(RequestStateCodec);

impl StateSeal {
    /// A seal with a fresh random key: state from a previous process is rejected.
    pub fn generate() -> anyhow::Result<Self> {
        let key: [u8; 32] = rand::random();
        Ok(Self(RequestStateCodec::try_new(key.to_vec())?))
    }

    /// `round` as an opaque `requestState` string.
    pub fn seal(&self, round: &Round) -> Result<String, McpError> {
        self.0.seal_json(round).map_err(|error| McpError::internal_error(format!("sealing state: {error}"), None))
    }

    /// The [`Round`] in `state`, which must be intact and belong to `handler`.
    pub fn open(&self, state: Option<&str>, handler: &str) -> Result<Round, McpError> {
        let state = state.ok_or_else(|| McpError::invalid_params("requestState is missing", None))?;
        let round: Round = self
            .0
            .open_json(state)
            .map_err(|_| McpError::invalid_params("requestState failed its integrity check", None))?;
        if round.handler != handler {
            return Err(McpError::invalid_params("requestState belongs to another request", None));
        }
        Ok(round)
    }
}

fn input_request(request: Value) -> Result<InputRequest, McpError> {
    serde_json::from_value(request)
        .map_err(|error| McpError::internal_error(format!("bad input request: {error}"), None))
}

/// An `elicitation/create` form asking for string fields `fields`, all required.
pub fn elicit_strings(message: &str, fields: &[&str]) -> Result<InputRequest, McpError> {
    let properties: serde_json::Map<String, Value> =
        fields.iter().map(|field| ((*field).to_owned(), json!({ "type": "string" }))).collect();
    elicit(message, Value::Object(properties), fields)
}

/// An `elicitation/create` form with the given JSON Schema `properties`.
pub fn elicit(message: &str, properties: Value, required: &[&str]) -> Result<InputRequest, McpError> {
    input_request(json!({
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": message,
            "requestedSchema": { "type": "object", "properties": properties, "required": required }
        }
    }))
}

/// A `sampling/createMessage` with one user text message.
pub fn sample(prompt: &str, max_tokens: u32) -> Result<InputRequest, McpError> {
    input_request(json!({
        "method": "sampling/createMessage",
        "params": {
            "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
            "maxTokens": max_tokens
        }
    }))
}

/// A `roots/list`.
pub fn list_roots() -> Result<InputRequest, McpError> {
    input_request(json!({ "method": "roots/list", "params": {} }))
}

/// The client's answer under `key`: `None` when absent (ask again), an invalid-params
/// error when present but not a `T`.
pub fn answer<T: DeserializeOwned>(responses: Option<&InputResponses>, key: &str) -> Result<Option<T>, McpError> {
    let Some(value) = responses.and_then(|responses| responses.get(key)) else {
        return Ok(None);
    };
    serde_json::from_value(value.clone())
        .map(Some)
        .map_err(|error| McpError::invalid_params(format!("inputResponses.{key} is malformed: {error}"), None))
}

/// The capabilities the client declared: per request on 2026-07-28, per session before.
pub fn declared(ctx: &RequestContext<RoleServer>) -> ClientCapabilities {
    ctx.client_capabilities().unwrap_or_default()
}

/// A string field of an accepted elicitation's content.
pub fn content_str<'a>(content: Option<&'a Value>, field: &str) -> Option<&'a str> {
    content?.get(field)?.as_str()
}

#[cfg(test)]
mod tests;
