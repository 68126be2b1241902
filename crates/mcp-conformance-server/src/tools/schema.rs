//! `json_schema_2020_12_tool`: a tool whose input schema uses JSON Schema 2020-12 keywords
//! (`$schema`, `$defs`, `$ref`, `$anchor`, `additionalProperties`, `allOf`/`anyOf`,
//! `if`/`then`/`else`) that must reach clients intact (SEP-1613, SEP-2106), and one whose
//! argument is mirrored in an HTTP header (`x-mcp-header`, SEP-2243).

use std::sync::Arc;

use rmcp::{
    model::{CallToolResult, ContentBlock, JsonObject},
    tool, tool_router,
};
use serde_json::{Value, json};

use crate::server::ConformanceServer;

/// The input schema, written by hand so that no keyword is rewritten or dropped.
fn json_schema_2020_12_input() -> Arc<JsonObject> {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "$anchor": "addressDef",
                "type": "object",
                "properties": {
                    "street": { "type": "string" },
                    "city": { "type": "string" }
                }
            }
        },
        "properties": {
            "name": { "type": "string" },
            "address": { "$ref": "#/$defs/address" },
            "contactMethod": { "type": "string", "enum": ["phone", "email"] },
            "phone": { "type": "string" },
            "email": { "type": "string" }
        },
        "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
        "if": {
            "properties": { "contactMethod": { "const": "phone" } },
            "required": ["contactMethod"]
        },
        "then": { "required": ["phone"] },
        "else": { "required": ["email"] },
        "additionalProperties": false
    });
    match schema {
        Value::Object(object) => Arc::new(object),
        _ => Arc::new(JsonObject::new()),
    }
}

/// A string argument that clients also send as the `Mcp-Param-Region` header (SEP-2243);
/// rmcp's transport checks that header against the body.
fn custom_header_input() -> Arc<JsonObject> {
    let schema = json!({
        "type": "object",
        "properties": {
            "region": { "type": "string", "description": "Echoed back", "x-mcp-header": "Region" }
        },
        "required": ["region"]
    });
    match schema {
        Value::Object(object) => Arc::new(object),
        _ => Arc::new(JsonObject::new()),
    }
}

#[tool_router(router = schema_tools, vis = "pub(super)")]
impl ConformanceServer {
    #[tool(
        description = "Tool with JSON Schema 2020-12 features",
        input_schema = json_schema_2020_12_input()
    )]
    fn json_schema_2020_12_tool(&self, args: JsonObject) -> CallToolResult {
        let name = args.get("name").and_then(Value::as_str).unwrap_or("world");
        CallToolResult::success(vec![ContentBlock::text(format!("Hello, {name}!"))])
    }

    #[tool(
        description = "Echoes `region`, which is also carried in the Mcp-Param-Region header",
        input_schema = custom_header_input()
    )]
    fn test_custom_headers(&self, args: JsonObject) -> CallToolResult {
        let region = args.get("region").and_then(Value::as_str).unwrap_or_default();
        CallToolResult::success(vec![ContentBlock::text(format!("region={region}"))])
    }
}
