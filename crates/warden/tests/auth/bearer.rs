//! Bearer access tokens that must be refused at `/mcp`, then the positive
//! control that proves the same path reaches the backend.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use super::fixture::{Fixture, HMAC_KEY_B64, OTHER_ECHO_SCOPES};
use super::support::{EcKey, Want, assert_echoed, call_echo, claims, jws, now, split_jws, token};

#[tokio::test]
async fn bearer_token_refusals_never_reach_the_backend() {
    let fx = Fixture::start().await;
    let c = fx.client("/mcp");
    let aud = fx.resource("/mcp");
    let prm = fx.prm("/mcp");
    let scope = Some("mcp:tools");
    let invalid = Want::unauthorized(Some("invalid_token"), &prm, scope);
    let t = now();
    let bearer = |tok: &str| format!("Bearer {tok}");

    // No credential at all: both challenges, no error.
    fx.expect_refused(&c, "no token", 1, &[], &Want::unauthorized(None, &prm, scope)).await;
    // A scheme Warden does not accept counts as no credential.
    fx.expect_refused(
        &c,
        "Basic scheme",
        2,
        &[("authorization", "Basic YWxpY2U6c2VjcmV0")],
        &Want::unauthorized(None, &prm, scope),
    )
    .await;

    fx.expect_refused(&c, "garbage", 3, &[("authorization", "Bearer garbage")], &invalid).await;
    fx.expect_refused(&c, "garbage JWS", 4, &[("authorization", "Bearer aGVsbG8.d29ybGQ.c2ln")], &invalid).await;

    let expired = fx.token_with(&aud, |c| {
        c["iat"] = json!(t - 7200);
        c["nbf"] = json!(t - 7200);
        c["exp"] = json!(t - 3600);
    });
    fx.expect_refused(&c, "expired", 5, &[("authorization", &bearer(&expired))], &invalid).await;

    let not_yet = fx.token_with(&aud, |c| {
        c["nbf"] = json!(t + 3600);
        c["exp"] = json!(t + 7200);
    });
    fx.expect_refused(&c, "nbf in the future", 6, &[("authorization", &bearer(&not_yet))], &invalid).await;

    let future_iat = fx.token_with(&aud, |c| c["iat"] = json!(t + 3600));
    fx.expect_refused(&c, "iat in the future", 7, &[("authorization", &bearer(&future_iat))], &invalid).await;

    let no_exp = fx.token_with(&aud, |c| {
        c.as_object_mut().unwrap().remove("exp");
    });
    fx.expect_refused(&c, "no exp", 8, &[("authorization", &bearer(&no_exp))], &invalid).await;

    let wrong_iss = fx.token_with(&aud, |c| c["iss"] = json!("https://evil.test"));
    fx.expect_refused(&c, "wrong issuer", 9, &[("authorization", &bearer(&wrong_iss))], &invalid).await;

    let wrong_aud = fx.token_with("https://api.example.com/mcp", |_| {});
    fx.expect_refused(&c, "wrong audience", 10, &[("authorization", &bearer(&wrong_aud))], &invalid).await;

    let no_aud = fx.token_with(&aud, |c| {
        c.as_object_mut().unwrap().remove("aud");
    });
    fx.expect_refused(&c, "no audience", 11, &[("authorization", &bearer(&no_aud))], &invalid).await;

    // A token for the other virtual server of the same Warden.
    let for_other = fx.token_with(&fx.resource("/other"), |c| c["scope"] = json!(OTHER_ECHO_SCOPES));
    fx.expect_refused(&c, "token for /other", 12, &[("authorization", &bearer(&for_other))], &invalid).await;
    // `alg: none`, hand-built: header, claims, empty signature.
    let good_claims = claims(&aud, "alice", "mcp:tools");
    let none = format!(
        "{}.{}.",
        B64.encode(serde_json::to_vec(&json!({"alg": "none", "typ": "JWT"})).unwrap()),
        B64.encode(serde_json::to_vec(&good_claims).unwrap())
    );
    fx.expect_refused(&c, "alg none", 14, &[("authorization", &bearer(&none))], &invalid).await;
    let none_kid = format!(
        "{}.{}.",
        B64.encode(serde_json::to_vec(&json!({"alg": "none", "kid": "k1"})).unwrap()),
        B64.encode(serde_json::to_vec(&good_claims).unwrap())
    );
    fx.expect_refused(&c, "alg none with kid", 15, &[("authorization", &bearer(&none_kid))], &invalid).await;

    // HMAC "signed" with the public key as the secret (key confusion).
    for (case, id, secret) in [
        ("HS256 over the public PEM", 16, fx.key.public_pem.clone().into_bytes()),
        ("HS256 over the public JWK", 17, serde_json::to_vec(&fx.key.public_jwk("k1")).unwrap()),
        ("HS256 over the JWKS entry x", 18, fx.key.public_jwk("k1")["x"].as_str().unwrap().as_bytes().to_vec()),
    ] {
        let hs = jws(
            &json!({"alg": "HS256", "typ": "JWT", "kid": "k1"}),
            &good_claims,
            &EncodingKey::from_secret(&secret),
            Algorithm::HS256,
        );
        fx.expect_refused(&c, case, id, &[("authorization", &bearer(&hs))], &invalid).await;
    }

    // HS256 with the symmetric key the JWKS itself publishes (`hmac`).
    let hmac_secret = B64.decode(HMAC_KEY_B64).unwrap();
    let hs = jws(
        &json!({"alg": "HS256", "typ": "JWT", "kid": "hmac"}),
        &good_claims,
        &EncodingKey::from_secret(&hmac_secret),
        Algorithm::HS256,
    );
    fx.expect_refused(&c, "HS256 with the JWKS's oct key", 30, &[("authorization", &bearer(&hs))], &invalid).await;
    let es_hmac_kid = token(&fx.key, "hmac", &good_claims);
    fx.expect_refused(&c, "ES256 naming the oct key's kid", 31, &[("authorization", &bearer(&es_hmac_kid))], &invalid)
        .await;

    // Keys the token brings itself are never trusted: embedded `jwk`, `jku`, `x5u`.
    let attacker = EcKey::generate();
    let embedded = jws(
        &json!({"alg": "ES256", "typ": "JWT", "jwk": serde_json::to_value(&attacker.jwk).unwrap()}),
        &good_claims,
        &attacker.enc,
        Algorithm::ES256,
    );
    fx.expect_refused(&c, "embedded jwk header", 32, &[("authorization", &bearer(&embedded))], &invalid).await;
    let jku = jws(
        &json!({"alg": "ES256", "typ": "JWT", "kid": "att", "jku": "http://127.0.0.1:9/jwks", "x5u": "http://127.0.0.1:9/x"}),
        &good_claims,
        &attacker.enc,
        Algorithm::ES256,
    );
    fx.expect_refused(&c, "jku/x5u header", 33, &[("authorization", &bearer(&jku))], &invalid).await;

    // Signed by the real key, but naming a kid the issuer does not publish.
    let unknown_kid = token(&fx.key, "k-unknown", &good_claims);
    fx.expect_refused(&c, "unknown kid", 19, &[("authorization", &bearer(&unknown_kid))], &invalid).await;
    // Signed by another key that claims to be `k1`.
    let impostor = token(&EcKey::generate(), "k1", &good_claims);
    fx.expect_refused(&c, "another key as k1", 20, &[("authorization", &bearer(&impostor))], &invalid).await;

    // Tampered payload: a claim changed, the signature kept.
    let genuine = fx.token_with(&aud, |c| c["scope"] = json!("mcp:read"));
    let (header, mut payload, sig) = split_jws(&genuine);
    payload["scope"] = json!("mcp:tools");
    payload["sub"] = json!("admin");
    let tampered = format!(
        "{}.{}.{sig}",
        B64.encode(serde_json::to_vec(&header).unwrap()),
        B64.encode(serde_json::to_vec(&payload).unwrap())
    );
    fx.expect_refused(&c, "tampered payload", 21, &[("authorization", &bearer(&tampered))], &invalid).await;
    // Signature stripped.
    let mut parts = genuine.split('.');
    let (h, p) = (parts.next().unwrap(), parts.next().unwrap());
    let stripped = format!("{h}.{p}.");
    fx.expect_refused(&c, "signature stripped", 22, &[("authorization", &bearer(&stripped))], &invalid).await;

    // Valid token, but without the scope every call needs: 403 naming it.
    let narrow = fx.token_with(&aud, |c| c["scope"] = json!("mcp:read profile"));
    let want = Want::insufficient_scope(&prm, "mcp:tools", true);
    fx.expect_refused(&c, "insufficient scope", 23, &[("authorization", &bearer(&narrow))], &want).await;
    let no_scope = fx.token_with(&aud, |c| {
        c.as_object_mut().unwrap().remove("scope");
    });
    fx.expect_refused(&c, "no scope claim", 24, &[("authorization", &bearer(&no_scope))], &want).await;

    // Positive control: the same request with a valid token reaches the backend.
    let good = fx.good_token();
    let r = call_echo(&c, 25, "hello", &[("authorization", &bearer(&good))]).await;
    assert_echoed("valid Bearer token", &r, "hello");
    assert_eq!(r.last()["id"], 25);
    assert_eq!(fx.backend_calls(), 1, "the positive control reached the backend once");
    // The token for /other is a good token where it belongs.
    let other = fx.client("/other");
    let r = call_echo(&other, 26, "other", &[("authorization", &bearer(&for_other))]).await;
    assert_echoed("the /other token at /other", &r, "other");
    assert_eq!(fx.backend_calls(), 2);
}
