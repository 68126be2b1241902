//! Authorization with Cedar policies: the schema, the entities built from the
//! authenticated principal and the MCP request, the engine that decides and
//! filters lists, and the policy test runner. Pure: no I/O on the request path.
//!
//! See `docs/policy.md`.

pub mod cases;
pub mod engine;
pub mod entities;
pub mod exchange;
pub mod external;
pub mod schema;

#[cfg(test)]
mod tests;

pub use cases::{CaseResult, Expect, ParsedCase, explain, parse_cases, run_case_file, run_cases, run_cases_with};
pub use engine::{PolicyDecision, PolicyEngine, PolicyOrigin, PolicySource};
pub use entities::{ArgValue, PolicyRequest, PromptInfo, RequestContext, ResourceInfo, Target, ToolInfo, typed_args};
pub use schema::{AttrType, SchemaExtensions, schema_text};
