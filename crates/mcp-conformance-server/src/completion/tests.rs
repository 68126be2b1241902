use rmcp::model::{ArgumentInfo, PromptReference};

use super::*;

fn request(reference: Reference, name: &str, value: &str) -> CompleteRequestParams {
    serde_json::from_value(serde_json::json!({
        "ref": reference,
        "argument": ArgumentInfo::new(name, value),
    }))
    .unwrap()
}

#[test]
fn completes_prompt_arguments_by_prefix() {
    let reference = Reference::Prompt(PromptReference::new("test_prompt_with_arguments"));
    let result = complete(&request(reference, "arg1", "par")).unwrap();
    assert_eq!(result.completion.values, ["paris", "park", "party"]);
}

#[test]
fn unknown_arguments_complete_to_nothing() {
    let reference = Reference::Prompt(PromptReference::new("test_simple_prompt"));
    let result = complete(&request(reference, "arg1", "")).unwrap();
    assert!(result.completion.values.is_empty());
}
