//! RFC 8693 token exchange at Warden's token endpoint, end to end through
//! an in-process Warden: a subject issuer whose JWKS a local HTTP server
//! publishes, clients of every authentication method (secret, RFC 7523
//! `private_key_jwt`, `jwt-spiffe` with a bundle file, mTLS on a TLS
//! listener), delegation (`act` nesting, `may_act`), impersonation,
//! down-scoping, the audience, the lifetime cap, Warden's own tokens as
//! subjects, the Cedar policy, and every error of RFC 8693 §2.2.2. Issued
//! tokens are checked against the JWKS Warden publishes.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "auth/support.rs"]
mod support;

#[path = "token_exchange/fixture.rs"]
mod fixture;

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use fixture::*;
use support::{EcKey, jws, now, random_id, split_jws, token};

#[tokio::test]
async fn delegation_narrows_scope_audience_and_lifetime() {
    let env = Env::start(false).await;
    let agent = Auth::Basic("secret-agent");

    // Delegation: the client is the actor; the requested scope is granted as asked.
    let r = env.exchange(agent, &env.alice(), &[("audience", HR), ("scope", "hr.read")]).await;
    let issued = r.ok("delegation");
    assert_eq!(r.body["issued_token_type"], AT);
    assert_eq!(r.body["token_type"], "Bearer");
    assert!(r.body.get("scope").is_none(), "scope as requested is not repeated: {:?}", r.body);
    let expires_in = r.body["expires_in"].as_u64().unwrap();
    assert!((290..=300).contains(&expires_in), "capped by tokenLifetime: {expires_in}");
    let (header, _, _) = split_jws(&issued);
    assert_eq!(header["typ"], "at+jwt");
    let c = env.verify(&issued, HR).await;
    assert_eq!((c["iss"].as_str(), c["sub"].as_str(), c["aud"].as_str()), (Some(ISSUER), Some("alice"), Some(HR)));
    assert_eq!(c["scope"], "hr.read");
    assert_eq!(c["client_id"], "secret-agent");
    assert_eq!(c["sub_iss"], IDP);
    assert_eq!(c["act"], json!({"sub": "secret-agent"}));
    assert!(c["jti"].is_string() && c["iat"].is_u64());
    assert!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap() <= 300);

    // No scope asked: the subject's scopes the client may have, returned in `scope`.
    let r = env.exchange(agent, &env.alice(), &[("resource", HR)]).await;
    let c = env.verify(&r.ok("no scope"), HR).await;
    assert_eq!(c["scope"], "hr.read hr.write mail.send", "'other' is not the client's to get");
    assert_eq!(r.body["scope"], "hr.read hr.write mail.send");

    // The subject's prior chain is nested under the new actor.
    let chained = env.subject("alice", "hr.read", |c| c["act"] = json!({"sub": "orchestrator", "iss": IDP}));
    let c = env.verify(&env.exchange(agent, &chained, &[("audience", HR)]).await.ok("chain"), HR).await;
    assert_eq!(c["act"], json!({"sub": "secret-agent", "act": {"sub": "orchestrator", "iss": IDP}}));

    // An actor token names the actor.
    let bot = env.subject("hr-bot", "", |_| {});
    let with_actor = [("audience", HR), ("actor_token", bot.as_str()), ("actor_token_type", AT)];
    let c = env.verify(&env.exchange(agent, &chained, &with_actor).await.ok("actor"), HR).await;
    assert_eq!(c["act"], json!({"sub": "hr-bot", "iss": IDP, "act": {"sub": "orchestrator", "iss": IDP}}));

    // Never beyond the subject's own expiry.
    let short = env.subject("alice", "hr.read", |c| c["exp"] = json!(now() + 40));
    let r = env.exchange(agent, &short, &[("audience", HR)]).await;
    let c = env.verify(&r.ok("short subject"), HR).await;
    assert!(c["exp"].as_u64().unwrap() <= now() + 40, "{c}");
    assert!(r.body["expires_in"].as_u64().unwrap() <= 40);

    // may_act honoured: naming the client, naming it with the right issuer.
    for may in [json!({"sub": "secret-agent"}), json!({"sub": "secret-agent", "iss": ISSUER})] {
        let t = env.subject("alice", "hr.read", |c| c["may_act"] = may.clone());
        env.exchange(agent, &t, &[("audience", HR)]).await.ok(&format!("may_act {may}"));
    }
    // ... and refused otherwise (RFC 8693 §2.2.2: unacceptable subject token).
    for may in [json!({"sub": "someone-else"}), json!({"sub": "secret-agent", "iss": IDP}), json!("secret-agent")] {
        let t = env.subject("alice", "hr.read", |c| c["may_act"] = may.clone());
        env.exchange(agent, &t, &[("audience", HR)]).await.refused(&format!("may_act {may}"), 400, "invalid_request");
    }
    let t = env.subject("alice", "hr.read", |c| c["may_act"] = json!({"sub": "hr-bot", "iss": IDP}));
    env.exchange(agent, &t, &with_actor).await.ok("may_act names the actor token's subject");

    // Warden's own token as the subject (the next hop exchanges again): the
    // chain grows, the original issuer is kept, the scope cannot grow.
    let first = env.exchange(agent, &env.alice(), &[("audience", HR), ("scope", "hr.read")]).await.ok("first hop");
    let pk = env.assertion(|_| {});
    let r = env.exchange(Auth::Assertion(BEARER_ASSERTION, &pk), &first, &[("audience", MAIL)]).await;
    let c = env.verify(&r.ok("own token as subject"), MAIL).await;
    assert_eq!(
        (c["sub"].as_str(), c["sub_iss"].as_str(), c["scope"].as_str()),
        (Some("alice"), Some(IDP), Some("hr.read"))
    );
    assert_eq!(c["act"], json!({"sub": "pk-agent", "act": {"sub": "secret-agent"}}));
    let pk = env.assertion(|_| {});
    let r = env
        .exchange(Auth::Assertion(BEARER_ASSERTION, &pk), &first, &[("audience", MAIL), ("scope", "hr.write")])
        .await;
    r.refused("own token cannot grow its scope", 400, "invalid_scope");

    // Impersonation for a client allowed to: no `act`. With an actor token: delegation.
    let c = env
        .verify(&env.exchange(Auth::Basic("impersonator"), &env.alice(), &[("audience", HR)]).await.ok("imp"), HR)
        .await;
    assert!(c.get("act").is_none(), "impersonation: {c}");
    assert_eq!(c["client_id"], "impersonator");
    let r = env.exchange(Auth::Basic("impersonator"), &env.alice(), &with_actor).await;
    assert_eq!(env.verify(&r.ok("imp + actor"), HR).await["act"]["sub"], "hr-bot");

    // Other token types: a JWT (N_A) and a transaction token.
    let r = env.exchange(agent, &env.alice(), &[("audience", HR), ("requested_token_type", JWT)]).await;
    r.ok("jwt");
    assert_eq!((r.body["issued_token_type"].as_str(), r.body["token_type"].as_str()), (Some(JWT), Some("N_A")));
    let r = env
        .exchange(agent, &env.alice(), &[("audience", HR), ("scope", "hr.read"), ("requested_token_type", TXN)])
        .await;
    let txn = r.ok("txn");
    assert_eq!((r.body["issued_token_type"].as_str(), r.body["token_type"].as_str()), (Some(TXN), Some("N_A")));
    assert_eq!(split_jws(&txn).0["typ"], "txntoken+jwt");
    let c = env.verify(&txn, HR).await;
    assert_eq!(
        (c["sub"].as_str(), c["req_wl"].as_str(), c["scope"].as_str()),
        (Some("alice"), Some("secret-agent"), Some("hr.read"))
    );
    assert!(c["txn"].is_string() && c["exp"].as_u64().unwrap() <= now() + 60);
}

#[tokio::test]
async fn every_rfc8693_error_is_answered_with_its_code() {
    let env = Env::start(false).await;
    let agent = Auth::Basic("secret-agent");
    let alice = env.alice();
    let cases: Vec<(&str, Form<'_>, &str)> = vec![
        (
            "no subject_token",
            vec![("grant_type", GRANT), ("subject_token_type", AT), ("audience", HR)],
            "invalid_request",
        ),
        (
            "no subject_token_type",
            vec![("grant_type", GRANT), ("subject_token", &alice), ("audience", HR)],
            "invalid_request",
        ),
        (
            "saml2 subject",
            vec![
                ("grant_type", GRANT),
                ("subject_token", &alice),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:saml2"),
                ("audience", HR),
            ],
            "invalid_request",
        ),
        (
            "repeated subject_token",
            vec![
                ("grant_type", GRANT),
                ("subject_token", &alice),
                ("subject_token", &alice),
                ("subject_token_type", AT),
                ("audience", HR),
            ],
            "invalid_request",
        ),
    ];
    for (case, form, code) in cases {
        env.post(agent, &form).await.refused(case, 400, code);
    }

    let other_key = EcKey::generate();
    let t = now();
    let forged =
        token(&other_key, "i1", &json!({"iss": IDP, "sub": "alice", "aud": ISSUER, "exp": t + 60, "scope": "hr.read"}));
    let expired = env.subject("alice", "hr.read", |c| {
        c["iat"] = json!(t - 4000);
        c["exp"] = json!(t - 3000)
    });
    let wrong_aud = env.subject("alice", "hr.read", |c| c["aud"] = json!("https://elsewhere"));
    let unknown_iss = env.subject("alice", "hr.read", |c| c["iss"] = json!("https://unknown.test"));
    let bound = env.subject("alice", "hr.read", |c| c["cnf"] = json!({"jkt": "abc"}));
    for (case, subject) in [
        ("forged", &forged),
        ("expired", &expired),
        ("wrong audience", &wrong_aud),
        ("unknown issuer", &unknown_iss),
        ("cnf-bound", &bound),
        ("garbage", &"not-a-jwt".to_string()),
    ] {
        env.exchange(agent, subject, &[("audience", HR)]).await.refused(case, 400, "invalid_request");
    }
    let actor_cases: [(&str, &[(&str, &str)]); 4] = [
        ("forged actor", &[("actor_token", &forged), ("actor_token_type", AT)]),
        ("actor_token without type", &[("actor_token", &alice)]),
        ("actor_token_type without token", &[("actor_token_type", AT)]),
        (
            "malformed ID-token actor",
            &[("actor_token", "x.y.z"), ("actor_token_type", "urn:ietf:params:oauth:token-type:id_token")],
        ),
    ];
    for (case, extra) in actor_cases {
        let mut form = vec![("audience", HR)];
        form.extend_from_slice(extra);
        env.exchange(agent, &alice, &form).await.refused(case, 400, "invalid_request");
    }
    let params: [(&str, &[Pair<'_>], &str); 9] = [
        ("repeated scope", &[("audience", HR), ("scope", "hr.read"), ("scope", "hr.write")], "invalid_request"),
        ("no target", &[], "invalid_request"),
        (
            "unsupported requested_token_type",
            &[("audience", HR), ("requested_token_type", "urn:ietf:params:oauth:token-type:saml1")],
            "invalid_request",
        ),
        ("audience not allowed", &[("audience", "https://payroll.example")], "invalid_target"),
        ("two audiences", &[("audience", HR), ("audience", MAIL)], "invalid_target"),
        ("audience and another resource", &[("audience", HR), ("resource", MAIL)], "invalid_target"),
        ("relative resource", &[("resource", "hr/api")], "invalid_target"),
        ("scope the subject does not hold", &[("audience", HR), ("scope", "hr.read admin")], "invalid_scope"),
        ("scope the client may not get", &[("audience", HR), ("scope", "other")], "invalid_scope"),
    ];
    for (case, extra, code) in params {
        env.exchange(agent, &alice, extra).await.refused(case, 400, code);
    }
    env.exchange(Auth::Basic("lonely"), &alice, &[("audience", HR)]).await.refused(
        "lonely",
        400,
        "unauthorized_client",
    );

    // Client authentication failures: 401 invalid_client with a Basic challenge.
    let wrong = env
        .http
        .post(env.endpoint())
        .basic_auth("secret-agent", Some("wrong"))
        .form(&[("grant_type", GRANT), ("subject_token", alice.as_str()), ("subject_token_type", AT), ("audience", HR)])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert_eq!(wrong.json::<Value>().await.unwrap()["error"], "invalid_client");
    env.exchange(Auth::Basic("nobody"), &alice, &[("audience", HR)]).await.refused(
        "unknown client",
        401,
        "invalid_client",
    );
    env.exchange(Auth::None, &alice, &[("audience", HR)]).await.refused("no client auth", 401, "invalid_client");
    env.exchange(Auth::ClientId("secret-agent"), &alice, &[("audience", HR)]).await.refused(
        "id only",
        401,
        "invalid_client",
    );
    let r = env.exchange(agent, &alice, &[("audience", HR), ("client_secret", SECRET)]).await;
    r.refused("two methods", 400, "invalid_request");
    let r = env.exchange(agent, &alice, &[("audience", HR), ("client_id", "impersonator")]).await;
    r.refused("client_id of another client", 401, "invalid_client");

    // Grants Warden does not know; a GET; a body that is not a form.
    env.post(agent, &[("grant_type", "password")]).await.refused("password grant", 400, "unsupported_grant_type");
    let get = env.http.get(env.endpoint()).send().await.unwrap();
    assert_eq!(get.status(), 405);
    let json_body = env.http.post(env.endpoint()).json(&json!({"grant_type": GRANT})).send().await.unwrap();
    assert_eq!(json_body.status(), 400);
}

#[tokio::test]
async fn each_client_authentication_method() {
    let env = Env::start(false).await;
    let alice = env.alice();
    let hr = [("audience", HR)];
    env.exchange(Auth::Post("secret-agent"), &alice, &hr).await.ok("client_secret_post");
    env.exchange(Auth::Basic("secret-agent"), &alice, &hr).await.ok("client_secret_basic");

    // private_key_jwt: aud the issuer or the token endpoint; each jti once.
    let a = env.assertion(|_| {});
    let c = env.verify(&env.exchange(Auth::Assertion(BEARER_ASSERTION, &a), &alice, &hr).await.ok("pkjwt"), HR).await;
    assert_eq!(c["client_id"], "pk-agent");
    env.exchange(Auth::Assertion(BEARER_ASSERTION, &a), &alice, &hr).await.refused(
        "replayed assertion",
        401,
        "invalid_client",
    );
    let to_endpoint = env.assertion(|c| c["aud"] = json!(format!("{ISSUER}/oauth/token")));
    env.exchange(Auth::Assertion(BEARER_ASSERTION, &to_endpoint), &alice, &hr).await.ok("aud = token endpoint");
    let t = now();
    let bad: Vec<(&str, String)> = vec![
        ("other audience", env.assertion(|c| c["aud"] = json!("https://elsewhere"))),
        ("expired", env.assertion(|c| c["exp"] = json!(t - 120))),
        (
            "no exp",
            env.assertion(|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
        (
            "no jti",
            env.assertion(|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
        ),
        ("sub differs", env.assertion(|c| c["sub"] = json!("secret-agent"))),
        ("lives a day", env.assertion(|c| c["exp"] = json!(t + 86_400))),
        (
            "unknown client",
            env.assertion(|c| {
                c["iss"] = json!("ghost");
                c["sub"] = json!("ghost")
            }),
        ),
        ("signed by another key", {
            let k = EcKey::generate();
            let c = json!({"iss": "pk-agent", "sub": "pk-agent", "aud": ISSUER, "exp": t + 60, "jti": random_id()});
            jws(&json!({"alg": "ES256", "kid": "c1"}), &c, &k.enc, Algorithm::ES256)
        }),
        ("HS256", {
            let c = json!({"iss": "pk-agent", "sub": "pk-agent", "aud": ISSUER, "exp": t + 60, "jti": random_id()});
            jws(
                &json!({"alg": "HS256", "kid": "c1"}),
                &c,
                &jsonwebtoken::EncodingKey::from_secret(b"k"),
                Algorithm::HS256,
            )
        }),
    ];
    for (case, a) in &bad {
        env.exchange(Auth::Assertion(BEARER_ASSERTION, a), &alice, &hr).await.refused(case, 401, "invalid_client");
    }
    let a = env.assertion(|_| {});
    env.exchange(Auth::Assertion("urn:example:other", &a), &alice, &hr).await.refused(
        "assertion type",
        401,
        "invalid_client",
    );

    // jwt-spiffe: a JWT-SVID for the issuer, of the client's SPIFFE ID.
    let svid = env.svid(WORKLOAD, ISSUER);
    let c = env
        .verify(&env.exchange(Auth::Assertion(SPIFFE_ASSERTION, &svid), &alice, &hr).await.ok("jwt-spiffe"), HR)
        .await;
    assert_eq!((c["client_id"].as_str(), c["act"]["sub"].as_str()), (Some("workload"), Some("workload")));
    for (case, a) in [
        ("SVID for another audience", env.svid(WORKLOAD, "https://elsewhere")),
        ("SVID of another workload", env.svid("spiffe://example.org/stranger", ISSUER)),
        ("SVID of an unknown trust domain", env.svid("spiffe://other.org/agent", ISSUER)),
    ] {
        env.exchange(Auth::Assertion(SPIFFE_ASSERTION, &a), &alice, &hr).await.refused(case, 401, "invalid_client");
    }

    // mTLS (tls_client_auth): certificate thumbprint, or X.509-SVID of the spiffeId.
    let form = [("grant_type", GRANT), ("subject_token", alice.as_str()), ("subject_token_type", AT), ("audience", HR)];
    let (http, url) = env.tls(Some(&env.plain_leaf));
    env.post_with(&http, &url, Auth::ClientId("mtls-agent"), &form).await.ok("mTLS thumbprint");
    env.post_with(&http, &url, Auth::ClientId("workload"), &form).await.refused(
        "thumbprint of another client",
        401,
        "invalid_client",
    );
    let (http, url) = env.tls(Some(&env.svid_leaf));
    let r = env.post_with(&http, &url, Auth::ClientId("workload"), &form).await;
    assert_eq!(env.verify(&r.ok("mTLS SVID"), HR).await["client_id"], "workload");
    env.post_with(&http, &url, Auth::ClientId("mtls-agent"), &form).await.refused(
        "SVID, thumbprint client",
        401,
        "invalid_client",
    );
    let (http, url) = env.tls(Some(&env.stranger_leaf));
    env.post_with(&http, &url, Auth::ClientId("workload"), &form).await.refused("another SVID", 401, "invalid_client");
    let (http, url) = env.tls(None);
    env.post_with(&http, &url, Auth::ClientId("mtls-agent"), &form).await.refused(
        "no certificate",
        401,
        "invalid_client",
    );
}

#[tokio::test]
async fn the_policy_decides_audience_scopes_and_impersonation() {
    let env = Env::start(true).await;
    let agent = Auth::Basic("secret-agent");
    let alice = env.alice();

    let r = env.exchange(agent, &alice, &[("audience", HR), ("scope", "hr.read hr.write")]).await;
    assert_eq!(env.verify(&r.ok("permitted set"), HR).await["scope"], "hr.read hr.write");
    // No scope asked: the widest set the policy permits (scope by scope).
    let r = env.exchange(agent, &alice, &[("audience", HR)]).await;
    assert_eq!(env.verify(&r.ok("narrowed"), HR).await["scope"], "hr.read hr.write");
    assert_eq!(r.body["scope"], "hr.read hr.write");
    // Partly permitted request: narrowed, and `scope` says so.
    let r = env.exchange(agent, &alice, &[("audience", HR), ("scope", "hr.read mail.send")]).await;
    r.ok("partly permitted");
    assert_eq!(r.body["scope"], "hr.read");
    env.exchange(agent, &alice, &[("audience", HR), ("scope", "mail.send")]).await.refused(
        "no permitted scope",
        400,
        "invalid_scope",
    );
    // Audiences: mail only through hr-bot as the actor.
    env.exchange(agent, &alice, &[("audience", MAIL)]).await.refused("mail without hr-bot", 400, "invalid_target");
    let bot = env.subject("hr-bot", "", |_| {});
    let r = env.exchange(agent, &alice, &[("audience", MAIL), ("actor_token", &bot), ("actor_token_type", AT)]).await;
    let c = env.verify(&r.ok("mail via hr-bot"), MAIL).await;
    assert_eq!(c["act"]["sub"], "hr-bot");
    env.exchange(agent, &alice, &[("audience", "https://payroll.example")]).await.refused(
        "unlisted audience",
        400,
        "invalid_target",
    );
    let carol = env.subject("carol", "hr.read", |_| {});
    env.exchange(agent, &carol, &[("audience", HR)]).await.refused("forbidden subject", 400, "invalid_target");
    // The policy replaces the client lists: `lonely` lists nothing, the policy permits.
    env.exchange(Auth::Basic("lonely"), &alice, &[("audience", HR), ("scope", "hr.read")])
        .await
        .ok("lonely under policy");

    // Impersonation: permitted for bob, forbidden for alice (delegation instead).
    let bob = env.subject("bob", "hr.read", |_| {});
    let c = env.verify(&env.exchange(Auth::Basic("impersonator"), &bob, &[("audience", HR)]).await.ok("bob"), HR).await;
    assert!(c.get("act").is_none(), "bob impersonated: {c}");
    let c =
        env.verify(&env.exchange(Auth::Basic("impersonator"), &alice, &[("audience", HR)]).await.ok("alice"), HR).await;
    assert_eq!(c["act"], json!({"sub": "impersonator"}), "alice is never impersonated");
}

#[test]
fn client_configuration_is_validated_at_load() {
    let load = |client: &str| {
        let yaml = format!(
            "listeners: [{{name: main, address: \"127.0.0.1:0\"}}]\nvirtualServers:\n  - {{name: main, path: /mcp, backends: [{{name: clock, builtin: clock}}]}}\ntokenService:\n  clients: [{client}]\n"
        );
        warden::config::load_str(&yaml, "test", &|_: &str| -> Option<String> { None })
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(load("{id: a, secretHash: \"sha256:abc\"}").contains("tokenService.clients[0].secretHash"));
    let two = format!("{{id: a, secretHash: \"sha256:{}\", spiffeId: \"spiffe://example.org/a\"}}", sha256_hex("x"));
    assert!(load(&two).contains("exactly one way to authenticate"));
    assert!(load("{id: a}").contains("tokenService.clients[0]"));
    assert!(load("{id: a, spiffeId: \"https://not-spiffe\"}").contains("tokenService.clients[0].spiffeId"));
    assert!(load("{id: a, jwksUrl: \"http://example.com/jwks\"}").contains("tokenService.clients[0].jwksUrl"));
    assert!(load("{id: a, jwksFile: \"/nonexistent/jwks.json\"}").contains("tokenService.clients[0].jwksFile"));
    assert!(load("{id: a, certificateThumbprint: \"short\"}").contains("certificateThumbprint"));
    let ok = format!("{{id: a, secretHash: \"sha256:{}\"}}", sha256_hex("x"));
    assert_eq!(load(&ok), "", "a valid client loads");
}

/// Guessing client secrets is braked per address before any secret is
/// checked: after the burst, 429 with `Retry-After` and an OAuth error.
#[tokio::test]
async fn secret_guessing_is_braked_per_address() {
    let env = Env::start(false).await;
    let mut braked = None;
    // The burst is 100 and 10 more come back per second: 400 quick guesses
    // hit the brake unless they take longer than 30 s.
    for _ in 0..400 {
        let r = env.post(Auth::ClientId("secret-agent"), &[("grant_type", GRANT), ("client_secret", "guess")]).await;
        if r.status == 429 {
            braked = Some(r);
            break;
        }
        assert_eq!(r.status, 401, "{r:?}");
    }
    let r = braked.expect("the brake never engaged");
    assert_eq!(r.body["error"], "temporarily_unavailable");
    assert_eq!(r.headers.get("cache-control").unwrap(), "no-store");
    assert!(r.headers.get("retry-after").unwrap().to_str().unwrap().parse::<u64>().unwrap() >= 1);
}
