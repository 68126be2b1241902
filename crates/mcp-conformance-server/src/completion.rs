//! `completion/complete` for the prompt arguments and the resource template variable.

use rmcp::{
    ErrorData as McpError,
    model::{CompleteRequestParams, CompleteResult, CompletionInfo, Reference},
};

/// Candidate values for one completable argument.
fn candidates(reference: &Reference, argument: &str) -> &'static [&'static str] {
    match (reference, argument) {
        (Reference::Prompt(prompt), "arg1" | "arg2") if prompt.name == "test_prompt_with_arguments" => {
            &["paris", "park", "party", "test", "testing", "tested"]
        }
        (Reference::Prompt(prompt), "resourceUri") if prompt.name == "test_prompt_with_embedded_resource" => {
            &["test://static-text", "test://static-binary", "test://watched-resource"]
        }
        (Reference::Resource(template), "id") if template.uri == "test://template/{id}/data" => &["1", "2", "3", "123"],
        _ => &[],
    }
}

/// The candidates that start with what the user has typed so far.
pub fn complete(request: &CompleteRequestParams) -> Result<CompleteResult, McpError> {
    let typed = request.argument.value.as_str();
    let values = candidates(&request.r#ref, &request.argument.name)
        .iter()
        .filter(|candidate| candidate.starts_with(typed))
        .map(|candidate| (*candidate).to_owned())
        .collect();
    let completion = CompletionInfo::new(values).map_err(|error| McpError::internal_error(error, None))?;
    Ok(CompleteResult::new(completion))
}

#[cfg(test)]
mod tests;
