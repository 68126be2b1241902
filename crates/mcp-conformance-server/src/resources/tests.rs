use super::*;

#[test]
fn template_id_takes_one_path_segment() {
    assert_eq!(template_id("test://template/123/data"), Some("123"));
    assert_eq!(template_id("test://template//data"), None);
    assert_eq!(template_id("test://template/a/b/data"), None);
    assert_eq!(template_id("test://template/123/other"), None);
}

#[test]
fn template_read_names_the_id_as_json() {
    let result = read("test://template/a\"b/data").unwrap();
    let value = serde_json::to_value(&result).unwrap();
    let text = value["contents"][0]["text"].as_str().unwrap();
    let body: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(body["id"], "a\"b");
    assert_eq!(body["templateTest"], true);
}

#[test]
fn unknown_resource_is_not_found() {
    let error = read("test://nope").unwrap_err();
    assert_eq!(error.code, rmcp::model::ErrorCode::RESOURCE_NOT_FOUND);
    assert!(!exists("test://nope"));
    assert!(exists("test://watched-resource"));
}
