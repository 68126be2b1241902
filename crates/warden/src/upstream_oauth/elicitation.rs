//! How a client learns it must send the user through consent: the MCP
//! 2025-11-25 URL-mode elicitation error (`URLElicitationRequiredError`).

use serde_json::{Value, json};

/// JSON-RPC error code of `URLElicitationRequiredError`.
pub const URL_ELICITATION_REQUIRED: i64 = -32042;

/// The JSON-RPC `error` object telling the client to open `url`:
/// `{code: -32042, message, data: {elicitations: [{mode: "url", elicitationId, url, message}]}}`.
pub fn url_elicitation_error(elicitation_id: &str, url: &str, backend: &str) -> Value {
    let message = format!("Authorize Warden to use {backend} on your behalf, then retry.");
    json!({
        "code": URL_ELICITATION_REQUIRED,
        "message": "This request requires authorization at an upstream server.",
        "data": {
            "elicitations": [{
                "mode": "url",
                "elicitationId": elicitation_id,
                "url": url,
                "message": message,
            }]
        }
    })
}
