//! The mTLS listener: X.509-SVIDs as workload principals, certificate-bound
//! tokens (`cnf.x5t#S256`), and client certificates Warden must refuse —
//! at the handshake when no configured trust domain vouches for them.

use serde_json::json;

use super::fixture::Fixture;
use super::support::{Want, assert_echoed, call_echo};

#[tokio::test]
async fn mtls_refusals_never_reach_the_backend() {
    let fx = Fixture::start().await;
    let tls_resource = format!("{}/mcp", fx.tls_base());
    let prm = fx.tls_prm();
    let scope = Some("mcp:tools");
    let invalid = Want::unauthorized(Some("invalid_token"), &prm, scope);
    let cert_a = fx.example.leaf(&["spiffe://example.org/agent-a"]);
    let cert_b = fx.example.leaf(&["spiffe://example.org/agent-b"]);
    let bound_to_a = fx.token_with(&tls_resource, |c| c["cnf"] = json!({"x5t#S256": cert_a.x5t()}));
    let bearer_a = format!("Bearer {bound_to_a}");

    // Without any certificate, and without a token: 401 like on the plain listener.
    let anon = fx.tls_client(None);
    fx.expect_refused(&anon, "TLS, no certificate, no token", 1, &[], &Want::unauthorized(None, &prm, scope)).await;
    // A certificate-bound token over a connection without a certificate.
    fx.expect_refused(&anon, "x5t-bound token, no certificate", 2, &[("authorization", &bearer_a)], &invalid).await;
    // ... and over a connection with another (valid) certificate B.
    let with_b = fx.tls_client(Some(&cert_b));
    fx.expect_refused(&with_b, "x5t-bound token over cert B", 3, &[("authorization", &bearer_a)], &invalid).await;
    // ... and on the plain listener.
    let plain_bound = fx.token_with(&fx.resource("/mcp"), |c| c["cnf"] = json!({"x5t#S256": cert_a.x5t()}));
    fx.expect_refused(
        &fx.client("/mcp"),
        "x5t-bound token over plain HTTP",
        4,
        &[("authorization", &format!("Bearer {plain_bound}"))],
        &Want::unauthorized(Some("invalid_token"), &fx.prm("/mcp"), scope),
    )
    .await;

    // An X.509 certificate with two SPIFFE URI SANs is not an SVID: 401.
    let two_ids = fx.example.leaf(&["spiffe://example.org/a", "spiffe://example.org/b"]);
    let c = fx.tls_client(Some(&two_ids));
    fx.expect_refused(&c, "SVID with two URI SANs", 5, &[], &invalid).await;
    // ... even with a valid token alongside.
    let good_tls = fx.token_with(&tls_resource, |_| {});
    fx.expect_refused(
        &c,
        "SVID with two URI SANs and a token",
        6,
        &[("authorization", &format!("Bearer {good_tls}"))],
        &invalid,
    )
    .await;

    // An SVID must allow digitalSignature (X.509-SVID §4.3): the chain is
    // fine, so the handshake succeeds, and the request is refused.
    let no_sig = fx.example.leaf_with(&["spiffe://example.org/agent"], vec![rcgen::KeyUsagePurpose::KeyAgreement]);
    let c = fx.tls_client(Some(&no_sig));
    fx.expect_refused(&c, "SVID without digitalSignature", 10, &[], &invalid).await;

    // A trust domain the listener trusts but the virtual server does not allow: 403.
    let foreign = fx.other.leaf(&["spiffe://other.org/agent"]);
    let c = fx.tls_client(Some(&foreign));
    fx.expect_refused(&c, "SVID of other.org (not allowed here)", 7, &[], &Want::forbidden()).await;
    fx.expect_refused(
        &c,
        "SVID of other.org with a valid token",
        8,
        &[("authorization", &format!("Bearer {good_tls}"))],
        &Want::forbidden(),
    )
    .await;

    // A certificate no configured trust domain or CA vouches for: the TLS
    // handshake is refused, so no HTTP request exists at all.
    for (case, leaf) in [
        ("SVID of third.org (untrusted)", fx.third.leaf(&["spiffe://third.org/agent"])),
        ("example.org SPIFFE ID signed by the other.org CA", fx.other.leaf(&["spiffe://example.org/agent"])),
        ("plain client certificate, no CA files", fx.example.leaf(&[])),
        ("URI SANs of two trust domains", fx.example.leaf(&["spiffe://example.org/a", "spiffe://other.org/b"])),
        ("non-SPIFFE URI SAN only", fx.example.leaf(&["https://example.org/agent"])),
        ("SPIFFE ID with a query (not a SPIFFE ID)", fx.example.leaf(&["spiffe://example.org/agent?x=1"])),
    ] {
        let c = fx.tls_client(Some(&leaf));
        let body = super::support::modern_body(9, "tools/call", json!({"name": "echo", "arguments": {"message": "x"}}));
        let mut req = c.http.post(&c.url).header("content-type", "application/json");
        for (k, v) in super::support::modern_headers("tools/call", Some("echo")) {
            req = req.header(k, v);
        }
        let res = req.body(body).send().await;
        assert!(res.is_err(), "{case}: the handshake must be refused, got {res:?}");
        fx.assert_backend_untouched(case);
    }

    // Positive controls: an example.org SVID alone is the workload principal
    // (no token, no scopes needed) ...
    let c = fx.tls_client(Some(&cert_a));
    let r = call_echo(&c, 20, "workload", &[]).await;
    assert_echoed("X.509-SVID of example.org, no token", &r, "workload");
    assert_eq!(fx.backend_calls(), 1);
    // The principal is the workload itself: a legacy session opened with
    // cert A is A's, unknown to cert B and to a token holder on A's connection.
    let mut a = fx.tls_client(Some(&cert_a));
    let init = a.initialize(json!({})).await;
    assert_eq!(init.status, 200, "{init:?}");
    let mut b = fx.tls_client(Some(&cert_b));
    b.session = a.session.clone();
    let r = b.request("tools/list", json!({})).await;
    assert_eq!(r.status, 404, "workload B with workload A's session: {r:?}");
    let good = format!("Bearer {good_tls}");
    let mut h = vec![("mcp-protocol-version", "2025-11-25"), ("authorization", good.as_str())];
    let body = serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 30, "method": "tools/list"})).unwrap();
    let r = a.post_raw(body.clone(), &h).await;
    assert_eq!(r.status, 404, "a token holder on A's connection with A's session: {r:?}");
    h.pop();
    let r = a.post_raw(body, &h).await;
    assert_eq!(r.status, 200, "workload A in its own session: {r:?}");
    assert_eq!(fx.backend_calls(), 1);
    // ... and the certificate-bound token works over the connection with cert A.
    let r = call_echo(&c, 21, "bound", &[("authorization", &bearer_a)]).await;
    assert_echoed("x5t-bound token over cert A", &r, "bound");
    assert_eq!(fx.backend_calls(), 2);
}
