//! What good credentials get: credentials never forwarded to the backend,
//! sessions bound to their principal, the Protected Resource Metadata,
//! exempt methods, and optional authentication.

use serde_json::{Value, json};

use super::fixture::{Fixture, OTHER_ECHO_SCOPES};
use super::support::{EcKey, Want, assert_refused, call_echo, modern_body, modern_headers, proof, proof_claims};

/// The header names `debug_request_headers` reports.
async fn backend_header_names(c: &test_support::McpClient, id: i64, extra: &[(&str, &str)]) -> Vec<String> {
    let mut h = modern_headers("tools/call", Some("debug_request_headers"));
    h.extend_from_slice(extra);
    let r =
        c.post_raw(modern_body(id, "tools/call", json!({"name": "debug_request_headers", "arguments": {}})), &h).await;
    assert_eq!(r.status, 200, "{r:?}");
    let text = r.result()["content"][0]["text"].as_str().unwrap_or_else(|| panic!("no text: {r:?}")).to_string();
    assert!(text.contains("mcp-protocol-version") || text.contains("content-type"), "headers reached the tool: {text}");
    text.lines().map(|l| l.split(':').next().unwrap_or("").trim().to_ascii_lowercase()).collect()
}

#[tokio::test]
async fn credentials_never_reach_the_backend() {
    let fx = Fixture::start().await;
    let c = fx.client("/mcp");
    let url = fx.resource("/mcp");
    let holder = EcKey::generate();
    let bound = fx.token_with(&url, |c| c["cnf"] = json!({"jkt": holder.thumbprint()}));
    let bearer = format!("Bearer {}", fx.good_token());
    let dpop_scheme = format!("DPoP {bound}");
    let p = proof(&holder, &proof_claims("POST", &url, &bound));
    let forbidden = ["authorization", "dpop", "cookie", "x-api-key"];
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("Bearer and cookie", vec![("authorization", &bearer), ("cookie", "session=secret; other=1")]),
        ("DPoP", vec![("authorization", &dpop_scheme), ("dpop", &p), ("cookie", "a=b")]),
        ("API key", vec![("x-api-key", &fx.api_key), ("cookie", "a=b")]),
    ];
    for (i, (case, headers)) in cases.iter().enumerate() {
        let names = backend_header_names(&c, 1 + i as i64, headers).await;
        for f in forbidden {
            assert!(!names.iter().any(|n| n == f), "{case}: {f} reached the backend: {names:?}");
        }
    }
    // An SVID over mTLS: nothing about the certificate is forwarded either.
    let leaf = fx.example.leaf(&["spiffe://example.org/agent"]);
    let names = backend_header_names(&fx.tls_client(Some(&leaf)), 9, &[("cookie", "a=b")]).await;
    for f in forbidden {
        assert!(!names.iter().any(|n| n == f), "SVID: {f} reached the backend: {names:?}");
    }
    assert_eq!(fx.backend_calls(), 4);
    // The pass-through saw no credential header on any request (including
    // Warden's own initialize / list traffic).
    assert_eq!(fx.backend.credential_headers(), Vec::<String>::new());
}

#[tokio::test]
async fn a_legacy_session_belongs_to_the_principal_that_opened_it() {
    let fx = Fixture::start().await;
    let url = fx.resource("/mcp");
    let alice = format!("Bearer {}", fx.token_with(&url, |c| c["sub"] = json!("alice")));
    let bob = format!("Bearer {}", fx.token_with(&url, |c| c["sub"] = json!("bob")));
    let mut c = fx.client("/mcp");
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let r = c.post_raw(serde_json::to_vec(&init).unwrap(), &[("authorization", &alice)]).await;
    assert_eq!(r.status, 200, "{r:?}");
    c.session = Some(r.headers["mcp-session-id"].to_str().unwrap().to_string());
    let legacy = |id: i64, method: &str, params: Value| {
        serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).unwrap()
    };
    let note = serde_json::to_vec(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).unwrap();
    let v = ("mcp-protocol-version", "2025-11-25");
    let r = c.post_raw(note, &[v, ("authorization", &alice)]).await;
    assert_eq!(r.status, 202);
    let call = |id| legacy(id, "tools/call", json!({"name": "echo", "arguments": {"message": "mine"}}));

    // Bob (valid token, right scope) presenting Alice's session: unknown session.
    let r = c.post_raw(call(2), &[v, ("authorization", &bob)]).await;
    assert_eq!(r.status, 404, "another principal's session: {r:?}");
    // Neither may an API key principal or an anonymous caller use it.
    let r = c.post_raw(call(3), &[v, ("x-api-key", &fx.api_key)]).await;
    assert_eq!(r.status, 404, "API key principal with Alice's session: {r:?}");
    let r = c.post_raw(call(4), &[v]).await;
    assert_eq!(r.status, 401, "no credential with Alice's session: {r:?}");
    // Nor listen on its stream.
    let get = c
        .http
        .get(&c.url)
        .header("mcp-session-id", c.session.clone().unwrap())
        .header("accept", "text/event-stream")
        .header("authorization", &bob);
    assert_eq!(get.send().await.unwrap().status(), 404, "GET stream of another principal's session");
    // Closing it is Alice's business too.
    let del = c.http.delete(&c.url).header("mcp-session-id", c.session.clone().unwrap()).header("authorization", &bob);
    assert_eq!(del.send().await.unwrap().status(), 404);
    assert_eq!(fx.backend_calls(), 0);
    // Alice, with a fresh token for the same subject, keeps using it.
    let alice2 = format!("Bearer {}", fx.token_with(&url, |c| c["sub"] = json!("alice")));
    let r = c.post_raw(call(5), &[v, ("authorization", &alice2)]).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.result()["content"][0]["text"], "mine");
    assert_eq!(fx.backend_calls(), 1);
}

#[tokio::test]
async fn protected_resource_metadata_describes_each_virtual_server() {
    let fx = Fixture::start().await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(&url).send().await.unwrap();
            assert_eq!(r.status(), 200, "GET {url}");
            assert_eq!(r.headers()["access-control-allow-origin"], "*");
            r.json::<Value>().await.unwrap()
        }
    };
    let doc = get(fx.prm("/mcp")).await;
    assert_eq!(doc["resource"], fx.resource("/mcp"));
    assert_eq!(doc["authorization_servers"], json!(["https://idp.test"]));
    assert_eq!(doc["scopes_supported"], json!(["mcp:tools"]));
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    assert_eq!(doc["dpop_signing_alg_values_supported"], json!(["ES256", "ES384", "RS256", "PS256", "EdDSA"]));
    assert!(doc.get("dpop_bound_access_tokens_required").is_none(), "{doc}");
    // The challenge of a refused request points at this document.
    let r = call_echo(&fx.client("/mcp"), 1, "x", &[]).await;
    let ch = super::support::challenges(&r);
    assert_eq!(ch["Bearer"].params["resource_metadata"], fx.prm("/mcp"));
    // On the mTLS listener the resource is the https URL, and certificate-bound tokens are announced.
    let tls_http = reqwest::Client::builder().no_proxy().add_root_certificate(fx.server_root.clone()).build().unwrap();
    let tls_doc: Value = tls_http.get(fx.tls_prm()).send().await.unwrap().json().await.unwrap();
    assert_eq!(tls_doc["resource"], format!("{}/mcp", fx.tls_base()));
    assert_eq!(tls_doc["tls_client_certificate_bound_access_tokens"], true);
    // `/other`: no DPoP.
    let other = get(fx.prm("/other")).await;
    assert_eq!(other["resource"], fx.resource("/other"));
    assert_eq!(other["scopes_supported"], json!(["mcp:tools", "mcp:call", "mcp:echo"]));
    assert!(other.get("dpop_signing_alg_values_supported").is_none(), "{other}");
    // Unknown virtual server: 404; the root form is ambiguous with three: 404.
    for path in ["/.well-known/oauth-protected-resource/nope", "/.well-known/oauth-protected-resource"] {
        let r = http.get(format!("{}{path}", fx.base())).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // Metadata never needs credentials and never touches the backend.
    assert_eq!(fx.backend_calls(), 0);
}

#[tokio::test]
async fn exempt_methods_and_optional_authentication() {
    let fx = Fixture::start().await;
    // `/other` exempts `server/discover`: it works without credentials ...
    let other = fx.client("/other");
    let d = other.modern("server/discover", json!({})).await;
    assert_eq!(d.status, 200, "{d:?}");
    assert!(d.result()["supportedVersions"].is_array(), "{d:?}");
    // ... while every other method still needs them.
    let prm = fx.prm("/other");
    let r = other.post_raw(modern_body(2, "tools/list", json!({})), &modern_headers("tools/list", None)).await;
    assert_refused(
        "tools/list at /other without a token",
        &r,
        2,
        &Want::unauthorized(None, &prm, Some("mcp:tools")).no_dpop(),
    );
    // The challenge asks for every scope this call needs (required, by method, by tool).
    let r = call_echo(&other, 3, "x", &[]).await;
    assert_refused(
        "tools/call at /other without a token",
        &r,
        3,
        &Want::unauthorized(None, &prm, Some(OTHER_ECHO_SCOPES)).no_dpop(),
    );
    // A token with only some of them: 403 naming all of them.
    for (i, granted) in ["mcp:tools", "mcp:tools mcp:call", "mcp:call mcp:echo"].into_iter().enumerate() {
        let tok = format!("Bearer {}", fx.token_with(&fx.resource("/other"), |c| c["scope"] = json!(granted)));
        let case = format!("tools/call at /other with scope {granted:?}");
        let id = 60 + i as i64;
        let r = call_echo(&other, id, "x", &[("authorization", &tok)]).await;
        assert_refused(&case, &r, id, &Want::insufficient_scope(&prm, OTHER_ECHO_SCOPES, false));
    }
    // `tools/list` needs only the required scope.
    let tok = format!("Bearer {}", fx.token_with(&fx.resource("/other"), |c| c["scope"] = json!("mcp:tools")));
    let mut h = modern_headers("tools/list", None);
    h.push(("authorization", &tok));
    let r = other.post_raw(modern_body(70, "tools/list", json!({})), &h).await;
    assert_eq!(r.status, 200, "tools/list with mcp:tools at /other: {r:?}");
    // An exempt method with an invalid credential is still refused.
    let r = other
        .post_raw(
            modern_body(4, "server/discover", json!({})),
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "server/discover"),
                ("authorization", "Bearer junk"),
            ],
        )
        .await;
    assert_refused(
        "exempt method with an invalid token",
        &r,
        4,
        &Want::unauthorized(Some("invalid_token"), &prm, Some("mcp:tools")).no_dpop(),
    );
    assert_eq!(fx.backend_calls(), 0);

    // `/opt` (mode: optional): anonymous callers get through ...
    let opt = fx.client("/opt");
    let r = call_echo(&opt, 5, "anonymous", &[]).await;
    super::support::assert_echoed("anonymous at /opt", &r, "anonymous");
    assert_eq!(fx.backend_calls(), 1);
    // ... a valid token for /opt too ...
    let tok = format!("Bearer {}", fx.token_with(&fx.resource("/opt"), |_| {}));
    let r = call_echo(&opt, 6, "alice", &[("authorization", &tok)]).await;
    super::support::assert_echoed("token at /opt", &r, "alice");
    assert_eq!(fx.backend_calls(), 2);
    // ... but a credential that is present must be valid.
    let opt_prm = fx.prm("/opt");
    let want = Want::unauthorized(Some("invalid_token"), &opt_prm, None).no_dpop();
    let mcp_token = format!("Bearer {}", fx.good_token());
    for (i, (case, h)) in [
        ("garbage token at /opt", ("authorization", "Bearer junk")),
        ("token for /mcp at /opt", ("authorization", mcp_token.as_str())),
        ("unknown API key at /opt", ("x-api-key", "wk_nobody")),
    ]
    .into_iter()
    .enumerate()
    {
        let id = 10 + i as i64;
        let r = call_echo(&opt, id, case, &[h]).await;
        assert_refused(case, &r, id, &want);
    }
    assert_eq!(fx.backend_calls(), 2);
}

/// Regression: an exempt method needs neither a credential nor a scope, so a
/// valid token without the scopes must not get less than no token at all.
#[tokio::test]
async fn exempt_method_needs_no_scope_even_with_a_token() {
    let fx = Fixture::start().await;
    let other = fx.client("/other");
    let discover = |id: i64, auth: Option<String>| {
        let other = other.clone();
        async move {
            let mut h = vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", "server/discover")];
            if let Some(a) = auth.as_deref() {
                h.push(("authorization", a));
            }
            other.post_raw(modern_body(id, "server/discover", json!({})), &h).await
        }
    };
    let anonymous = discover(1, None).await;
    assert_eq!(anonymous.status, 200, "exempt method without credentials: {anonymous:?}");
    let narrow = format!("Bearer {}", fx.token_with(&fx.resource("/other"), |c| c["scope"] = json!("profile")));
    let r = discover(2, Some(narrow)).await;
    assert_eq!(r.status, 200, "exempt method refused for a valid token without the scopes: {r:?}");
}
