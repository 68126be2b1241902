//! API keys, and requests whose credentials are malformed or in the wrong
//! place: refused before anything reaches the backend.

use serde_json::json;

use super::fixture::Fixture;
use super::support::{Want, assert_echoed, call_echo, modern_body, modern_headers};

#[tokio::test]
async fn api_key_and_request_shape_refusals_never_reach_the_backend() {
    let fx = Fixture::start().await;
    let c = fx.client("/mcp");
    let prm = fx.prm("/mcp");
    let scope = Some("mcp:tools");
    let invalid = Want::unauthorized(Some("invalid_token"), &prm, scope);
    let bad_request = Want::bad_request(&prm, scope);
    let good = fx.good_token();
    let bearer = format!("Bearer {good}");

    fx.expect_refused(&c, "revoked API key", 1, &[("x-api-key", &fx.revoked_key)], &invalid).await;
    fx.expect_refused(&c, "expired API key", 2, &[("x-api-key", &fx.expired_key)], &invalid).await;
    fx.expect_refused(&c, "unknown API key", 3, &[("x-api-key", "wk_nobody")], &invalid).await;
    // An API key is not a Bearer token.
    let as_bearer = format!("Bearer {}", fx.api_key);
    fx.expect_refused(&c, "API key as Bearer token", 4, &[("authorization", &as_bearer)], &invalid).await;

    // Two Authorization headers (even both valid), two credentials, two keys.
    fx.expect_refused(
        &c,
        "two Authorization headers",
        5,
        &[("authorization", &bearer), ("authorization", &bearer)],
        &bad_request,
    )
    .await;
    fx.expect_refused(
        &c,
        "token and API key",
        6,
        &[("authorization", &bearer), ("x-api-key", &fx.api_key)],
        &bad_request,
    )
    .await;
    fx.expect_refused(&c, "two API keys", 7, &[("x-api-key", &fx.api_key), ("x-api-key", &fx.api_key)], &bad_request)
        .await;
    // Malformed Authorization headers.
    for (i, v) in ["Bearer", "Bearer ", "Bearer a b", "Bearer tok\"en", "Bearer,x"].iter().enumerate() {
        let case = format!("malformed Authorization {v:?}");
        fx.expect_refused(&c, &case, 10 + i as i64, &[("authorization", v)], &bad_request).await;
    }
    // A header value that is not visible ASCII.
    let r = c
        .http
        .post(&c.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .header("authorization", http::HeaderValue::from_bytes(b"Bearer \xffabc").unwrap())
        .body(modern_body(20, "tools/call", json!({"name": "echo", "arguments": {"message": "x"}})))
        .send()
        .await
        .unwrap();
    let r = test_support::McpClient::read(r).await;
    super::support::assert_refused("non-ASCII Authorization", &r, 20, &bad_request);
    fx.assert_backend_untouched("non-ASCII Authorization");

    // A token in the query string is refused, valid or not, with or without a header.
    for (i, (case, header)) in
        [("token in query", None), ("token in query and header", Some(bearer.as_str()))].into_iter().enumerate()
    {
        let id = 30 + i as i64;
        let mut req = c
            .http
            .post(format!("{}?access_token={good}", c.url))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        for (k, v) in modern_headers("tools/call", Some("echo")) {
            req = req.header(k, v);
        }
        if let Some(h) = header {
            req = req.header("authorization", h);
        }
        let body = modern_body(id, "tools/call", json!({"name": "echo", "arguments": {"message": "x"}}));
        let r = test_support::McpClient::read(req.body(body).send().await.unwrap()).await;
        assert_eq!(r.status, 400, "{case}: {r:?}");
        assert_eq!(r.last()["error"]["code"], -32600, "{case}: {r:?}");
        assert!(r.last()["error"]["message"].as_str().unwrap().contains("query"), "{case}: {r:?}");
        fx.assert_backend_untouched(case);
    }

    // Positive control: the valid key works and is the only call the backend saw.
    let r = call_echo(&c, 40, "keyed", &[("x-api-key", &fx.api_key)]).await;
    assert_echoed("valid API key", &r, "keyed");
    assert_eq!(fx.backend_calls(), 1);
}

/// Regression: the refusal of a token in the query string is answered once
/// the body is read, so it carries the request's id.
#[tokio::test]
async fn token_in_query_refusal_carries_the_request_id() {
    let fx = Fixture::start().await;
    let c = fx.client("/mcp");
    let mut req = c
        .http
        .post(format!("{}?access_token={}", c.url, fx.good_token()))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in modern_headers("tools/call", Some("echo")) {
        req = req.header(k, v);
    }
    let body = modern_body(77, "tools/call", json!({"name": "echo", "arguments": {"message": "x"}}));
    let r = test_support::McpClient::read(req.body(body).send().await.unwrap()).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.last()["error"]["code"], -32600, "{r:?}");
    fx.assert_backend_untouched("token in query");
    assert_eq!(r.last().get("id"), Some(&json!(77)), "the refusal must carry the request id; body {}", r.last());
}

/// Regression, JSON-RPC 2.0 §5: when the request id cannot be read, the
/// error carries `"id": null` (it once left the member out).
#[tokio::test]
async fn refusal_with_an_unknown_id_carries_id_null() {
    let fx = Fixture::start().await;
    let c = fx.client("/mcp");
    let prm = fx.prm("/mcp");
    let r = c.post_raw(b"{not json".to_vec(), &[]).await;
    // Everything else about the refusal is right.
    assert_eq!(r.status, 401, "{r:?}");
    let ch = super::support::challenges(&r);
    assert_eq!(ch.keys().collect::<Vec<_>>(), ["Bearer", "DPoP"]);
    assert_eq!(ch["Bearer"].params["resource_metadata"], prm);
    assert_eq!(r.last()["error"]["code"], -32001);
    assert_eq!(r.last().get("id"), Some(&serde_json::Value::Null), "JSON-RPC requires \"id\": null; body {}", r.last());
}
