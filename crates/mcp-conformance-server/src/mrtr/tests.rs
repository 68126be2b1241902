use super::*;

fn round(handler: &str) -> Round {
    Round { handler: handler.to_owned(), step: 1, carried: Some("Ada".to_owned()) }
}

#[test]
fn sealed_state_opens_for_its_own_handler_only() {
    let seal = StateSeal::generate().unwrap();
    let sealed = seal.seal(&round("tool_a")).unwrap();
    assert_eq!(seal.open(Some(&sealed), "tool_a").unwrap(), round("tool_a"));
    assert!(seal.open(Some(&sealed), "tool_b").is_err());
    assert!(seal.open(None, "tool_a").is_err());
}

#[test]
fn tampered_or_foreign_state_is_rejected() {
    let seal = StateSeal::generate().unwrap();
    let mut sealed = seal.seal(&round("tool_a")).unwrap();
    let last = sealed.pop().unwrap();
    sealed.push(if last == 'A' { 'B' } else { 'A' });
    assert!(seal.open(Some(&sealed), "tool_a").is_err());
    let other = StateSeal::generate().unwrap().seal(&round("tool_a")).unwrap();
    assert!(seal.open(Some(&other), "tool_a").is_err());
}

#[test]
fn answers_distinguish_missing_from_malformed() {
    let responses = InputResponses::from([
        ("good".to_owned(), json!({ "action": "accept", "content": { "name": "Ada" } })),
        ("bad".to_owned(), json!(12345)),
    ]);
    let good: Option<rmcp::model::ElicitResult> = answer(Some(&responses), "good").unwrap();
    assert_eq!(content_str(good.unwrap().content.as_ref(), "name"), Some("Ada"));
    assert!(answer::<rmcp::model::ElicitResult>(Some(&responses), "bad").is_err());
    assert!(answer::<rmcp::model::ElicitResult>(Some(&responses), "absent").unwrap().is_none());
    assert!(answer::<rmcp::model::ElicitResult>(None, "good").unwrap().is_none());
}

#[test]
fn input_requests_serialize_with_their_method() {
    for (request, method) in [
        (elicit_strings("Name?", &["name"]).unwrap(), "elicitation/create"),
        (sample("Hi", 10).unwrap(), "sampling/createMessage"),
        (list_roots().unwrap(), "roots/list"),
    ] {
        assert_eq!(serde_json::to_value(&request).unwrap()["method"], method);
    }
}
