//! Regressions from the security review of the authentication code: each
//! case is a request that once got through and must now be refused without
//! reaching the backend.

use serde_json::{Value, json};

use super::fixture::Fixture;
use super::support::Want;

/// Opens a legacy session at `path` with `auth`; returns the session id.
async fn legacy_session(fx: &Fixture, path: &str, auth: &str) -> String {
    let c = fx.client(path);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "review", "version": "1"}}});
    let r = c.post_raw(serde_json::to_vec(&body).unwrap(), &[("authorization", auth)]).await;
    assert_eq!(r.status, 200, "initialize: {r:?}");
    r.headers.get("mcp-session-id").unwrap().to_str().unwrap().to_string()
}

/// The per-tool scope check and routing read the same tool name: params
/// with a duplicate or mistyped `name`/`uri` are refused (legacy era, where
/// the body is not otherwise re-validated), never routed to the tool whose
/// scope was not checked.
#[tokio::test]
async fn tool_scopes_cannot_be_skipped_with_ambiguous_params() {
    let fx = Fixture::start().await;
    let aud = fx.resource("/other");
    // mcp:tools and mcp:call, but not mcp:echo which tools matching `ec*` need.
    let tok = fx.token_with(&aud, |c| c["scope"] = json!("mcp:tools mcp:call"));
    let auth = format!("Bearer {tok}");
    let sid = legacy_session(&fx, "/other", &auth).await;
    let c = fx.client("/other");
    let headers =
        [("authorization", auth.as_str()), ("mcp-session-id", sid.as_str()), ("mcp-protocol-version", "2025-11-25")];
    let plain =
        br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"x"}}}"#;
    let r = c.post_raw(plain.to_vec(), &headers).await;
    assert_eq!(r.status, 403, "the plain call needs mcp:echo: {r:?}");
    for (case, body) in [
        ("duplicate name", &br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x","name":"echo","arguments":{"message":"x"}}}"#[..]),
        ("mistyped uri", &br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","uri":5,"arguments":{"message":"x"}}}"#[..]),
    ] {
        let r = c.post_raw(body.to_vec(), &headers).await;
        assert_eq!(r.status, 400, "{case}: {r:?}");
        assert_eq!(r.last()["error"]["code"], -32602, "{case}: {}", r.last());
        assert!(r.last()["id"].is_number(), "{case}: the refusal carries the id: {}", r.last());
    }
    fx.assert_backend_untouched("ambiguous params");
}

/// A token without the mapped subject is refused: sessions and state handles
/// are bound to the subject, and subject-less principals would share one.
/// A `cnf` Warden cannot enforce is refused rather than taken as bearer.
#[tokio::test]
async fn tokens_without_a_subject_or_with_an_unknown_cnf_are_refused() {
    let fx = Fixture::start().await;
    let c = fx.client("/mcp");
    let aud = fx.resource("/mcp");
    let prm = fx.prm("/mcp");
    let invalid = Want::unauthorized(Some("invalid_token"), &prm, Some("mcp:tools"));
    let no_sub = fx.token_with(&aud, |c| {
        c.as_object_mut().unwrap().remove("sub");
    });
    let empty_sub = fx.token_with(&aud, |c| c["sub"] = json!(""));
    let jwk_cnf = fx.token_with(&aud, |c| c["cnf"] = json!({"jwk": {"kty": "EC"}}));
    let bad_jkt = fx.token_with(&aud, |c| c["cnf"] = json!({"jkt": 7}));
    for (i, (case, tok)) in
        [("no sub", &no_sub), ("empty sub", &empty_sub), ("cnf.jwk", &jwk_cnf), ("cnf.jkt not a string", &bad_jkt)]
            .into_iter()
            .enumerate()
    {
        let auth = format!("Bearer {tok}");
        fx.expect_refused(&c, case, 10 + i as i64, &[("authorization", &auth)], &invalid).await;
    }
}

/// GET streams and DELETE carry no JSON-RPC method: they still need the
/// scopes every call needs.
#[tokio::test]
async fn get_and_delete_need_the_required_scopes() {
    let fx = Fixture::start().await;
    let aud = fx.resource("/mcp");
    let good = format!("Bearer {}", fx.good_token());
    let sid = legacy_session(&fx, "/mcp", &good).await;
    let narrow = format!("Bearer {}", fx.token_with(&aud, |c| c["scope"] = json!("profile")));
    let http = reqwest::Client::new();
    let url = format!("{}/mcp", fx.base());
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = http
            .request(method.clone(), &url)
            .header("authorization", &narrow)
            .header("mcp-session-id", &sid)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{method} without mcp:tools");
        let ch = r.headers().get("www-authenticate").unwrap().to_str().unwrap().to_string();
        assert!(ch.contains("insufficient_scope") && ch.contains("scope=\"mcp:tools\""), "{method}: {ch}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], -32003);
    }
}
