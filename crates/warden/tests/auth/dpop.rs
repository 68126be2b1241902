//! DPoP (RFC 9449) at `/mcp`: bound tokens and proofs that must be refused,
//! then a correctly bound token and proof that work.

use jsonwebtoken::Algorithm;
use serde_json::json;

use super::fixture::Fixture;
use super::support::{
    EcKey, Want, assert_echoed, call_echo, jws, modern_body, modern_headers, now, proof, proof_claims,
};

#[tokio::test]
async fn dpop_refusals_never_reach_the_backend() {
    let fx = Fixture::start().await;
    let c = fx.client("/mcp");
    let url = fx.resource("/mcp");
    let prm = fx.prm("/mcp");
    let scope = Some("mcp:tools");
    let invalid = Want::unauthorized(Some("invalid_token"), &prm, scope);
    let bad_proof = Want::bad_proof(&prm, scope);
    let holder = EcKey::generate();
    let bound = fx.token_with(&url, |c| c["cnf"] = json!({"jkt": holder.thumbprint()}));
    let scheme = format!("DPoP {bound}");
    let t = now();

    // A DPoP-bound token presented as a Bearer token: with and without a proof.
    let bearer = format!("Bearer {bound}");
    fx.expect_refused(&c, "bound token as Bearer", 1, &[("authorization", &bearer)], &invalid).await;
    let p = proof(&holder, &proof_claims("POST", &url, &bound));
    fx.expect_refused(
        &c,
        "bound token as Bearer with a proof",
        2,
        &[("authorization", &bearer), ("dpop", &p)],
        &invalid,
    )
    .await;

    // DPoP scheme without a proof.
    fx.expect_refused(&c, "DPoP scheme without proof", 3, &[("authorization", &scheme)], &bad_proof).await;

    // A proof replayed: first use accepted (on tools/list, which the counter
    // does not count), the second use refused.
    let once = proof(&holder, &proof_claims("POST", &url, &bound));
    let mut h = modern_headers("tools/list", None);
    h.extend([("authorization", scheme.as_str()), ("dpop", once.as_str())]);
    let first = c.post_raw(modern_body(4, "tools/list", json!({})), &h).await;
    assert_eq!(first.status, 200, "first use of the proof: {first:?}");
    fx.expect_refused(&c, "replayed proof", 5, &[("authorization", &scheme), ("dpop", &once)], &bad_proof).await;

    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut pc = proof_claims("POST", &url, &bound);
        edit(&mut pc);
        proof(&holder, &pc)
    };
    let cases: Vec<(&str, String)> = vec![
        ("htu of another virtual server", with(&|p| p["htu"] = json!(fx.resource("/other")))),
        ("htu of another host", with(&|p| p["htu"] = json!("http://idp.test/mcp"))),
        ("htu with https", with(&|p| p["htu"] = json!(url.replace("http://", "https://")))),
        ("htm GET", with(&|p| p["htm"] = json!("GET"))),
        ("htm lowercase post", with(&|p| p["htm"] = json!("post"))),
        ("stale iat", with(&|p| p["iat"] = json!(t - 300))),
        ("iat in the future", with(&|p| p["iat"] = json!(t + 300))),
        (
            "no iat",
            with(&|p| {
                p.as_object_mut().unwrap().remove("iat");
            }),
        ),
        (
            "no jti",
            with(&|p| {
                p.as_object_mut().unwrap().remove("jti");
            }),
        ),
        ("wrong ath", with(&|p| p["ath"] = json!(super::support::sha256_b64(b"another token")))),
        (
            "no ath",
            with(&|p| {
                p.as_object_mut().unwrap().remove("ath");
            }),
        ),
        // Signed by a key other than the one in `cnf.jkt`.
        ("proof by another key", proof(&EcKey::generate(), &proof_claims("POST", &url, &bound))),
        // `typ` is not dpop+jwt.
        (
            "typ JWT",
            jws(
                &json!({"typ": "JWT", "alg": "ES256", "jwk": serde_json::to_value(&holder.jwk).unwrap()}),
                &proof_claims("POST", &url, &bound),
                &holder.enc,
                Algorithm::ES256,
            ),
        ),
        // The header's jwk is another key than the one that signed.
        (
            "jwk of another key",
            jws(
                &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": serde_json::to_value(&EcKey::generate().jwk).unwrap()}),
                &proof_claims("POST", &url, &bound),
                &holder.enc,
                Algorithm::ES256,
            ),
        ),
        // HMAC proof.
        (
            "HS256 proof",
            jws(
                &json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": serde_json::to_value(&holder.jwk).unwrap()}),
                &proof_claims("POST", &url, &bound),
                &jsonwebtoken::EncodingKey::from_secret(b"secret"),
                Algorithm::HS256,
            ),
        ),
        ("not a JWT", "not-a-proof".to_string()),
    ];
    for (i, (case, p)) in cases.iter().enumerate() {
        let id = 10 + i as i64;
        fx.expect_refused(&c, case, id, &[("authorization", &scheme), ("dpop", p)], &bad_proof).await;
    }

    // A proof whose jwk carries the private key is refused too.
    let mut leaky = serde_json::to_value(&holder.jwk).unwrap();
    leaky["d"] = json!("AAAA");
    let p = jws(
        &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": leaky}),
        &proof_claims("POST", &url, &bound),
        &holder.enc,
        Algorithm::ES256,
    );
    fx.expect_refused(&c, "jwk with private part", 40, &[("authorization", &scheme), ("dpop", &p)], &bad_proof).await;

    // An unbound (Bearer) token under the DPoP scheme, with a valid proof.
    let unbound = fx.good_token();
    let p = proof(&holder, &proof_claims("POST", &url, &unbound));
    let s = format!("DPoP {unbound}");
    fx.expect_refused(&c, "unbound token with DPoP scheme", 41, &[("authorization", &s), ("dpop", &p)], &invalid).await;

    // Two DPoP headers: malformed request.
    let (p1, p2) =
        (proof(&holder, &proof_claims("POST", &url, &bound)), proof(&holder, &proof_claims("POST", &url, &bound)));
    fx.expect_refused(
        &c,
        "two DPoP headers",
        42,
        &[("authorization", &scheme), ("dpop", &p1), ("dpop", &p2)],
        &Want::bad_request(&prm, scope),
    )
    .await;

    // Positive control: the bound token with a fresh, correct proof.
    let p = proof(&holder, &proof_claims("POST", &url, &bound));
    let r = call_echo(&c, 50, "bound", &[("authorization", &scheme), ("dpop", &p)]).await;
    assert_echoed("DPoP-bound token with a correct proof", &r, "bound");
    assert_eq!(fx.backend_calls(), 1);
    // An unbound Bearer token still works (DPoP is `accepted`, not required).
    let r = call_echo(&c, 51, "plain", &[("authorization", &format!("Bearer {unbound}"))]).await;
    assert_echoed("Bearer token with DPoP accepted", &r, "plain");
    assert_eq!(fx.backend_calls(), 2);
}

/// Regression: the DPoP `jti` memory is the process's, kept across reloads
/// (it once lived in each runtime's verifier, so a reload reopened the
/// replay window of every captured proof).
#[tokio::test]
async fn dpop_proof_cannot_be_replayed_after_a_config_reload() {
    let fx = Fixture::start().await;
    let c = fx.client("/mcp");
    let url = fx.resource("/mcp");
    let holder = EcKey::generate();
    let bound = fx.token_with(&url, |c| c["cnf"] = json!({"jkt": holder.thumbprint()}));
    let scheme = format!("DPoP {bound}");
    let once = proof(&holder, &proof_claims("POST", &url, &bound));
    let mut h = modern_headers("tools/list", None);
    h.extend([("authorization", scheme.as_str()), ("dpop", once.as_str())]);
    let first = c.post_raw(modern_body(1, "tools/list", json!({})), &h).await;
    assert_eq!(first.status, 200, "first use of the proof: {first:?}");
    // Replayed before a reload: refused.
    fx.expect_refused(
        &c,
        "replay",
        2,
        &[("authorization", &scheme), ("dpop", &once)],
        &Want::bad_proof(&fx.prm("/mcp"), Some("mcp:tools")),
    )
    .await;
    fx.reload().await;
    // The same proof, seconds later, after reloading the very same configuration.
    let r = call_echo(&c, 3, "replayed", &[("authorization", &scheme), ("dpop", &once)]).await;
    assert_eq!(fx.backend_calls(), 0, "a replayed DPoP proof reached the backend after a reload: {r:?}");
    super::support::assert_refused("replay after reload", &r, 3, &Want::bad_proof(&fx.prm("/mcp"), Some("mcp:tools")));
}

/// Regression: over HTTP/2 the addressed host is the `:authority`, not a
/// `Host` header; a proof whose `htu` names it is accepted on both versions.
#[tokio::test]
async fn dpop_htu_of_the_addressed_host_is_accepted_over_http2() {
    let fx = Fixture::start().await;
    let port = fx.tls_base().rsplit(':').next().unwrap().to_string();
    let holder = EcKey::generate();
    let bound = fx.token_with(&format!("{}/mcp", fx.tls_base()), |c| c["cnf"] = json!({"jkt": holder.thumbprint()}));
    let scheme = format!("DPoP {bound}");
    let url = format!("https://localhost:{port}/mcp");
    let mut results = Vec::new();
    for (i, http2) in [false, true].into_iter().enumerate() {
        let mut b = reqwest::Client::builder().no_proxy().add_root_certificate(fx.server_root.clone());
        b = if http2 { b.http2_prior_knowledge() } else { b.http1_only() };
        let mut c = test_support::McpClient::new(&url);
        c.http = b.build().unwrap();
        let p = proof(&holder, &proof_claims("POST", &url, &bound));
        let r = call_echo(&c, 1 + i as i64, "addressed", &[("authorization", &scheme), ("dpop", &p)]).await;
        results.push((
            if http2 { "HTTP/2" } else { "HTTP/1.1" },
            r.status,
            r.headers.get_all("www-authenticate").iter().map(|v| v.to_str().unwrap().to_string()).collect::<Vec<_>>(),
        ));
    }
    assert_eq!(results[0].1, 200, "HTTP/1.1: {results:?}");
    assert_eq!(results[1].1, 200, "the same proof for the addressed URL is refused over HTTP/2: {results:?}");
}
