#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::error::ExchangeError;
use super::replay::{Replay, record};
use super::request::{ExchangeRequest, InputType, OutputType, types};
use crate::token::http::Form;

fn form(pairs: &[(&str, &str)]) -> Form {
    Form(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

const AT: (&str, &str) = ("subject_token_type", types::ACCESS_TOKEN);

#[test]
fn parses_a_full_request() {
    let r = ExchangeRequest::parse(&form(&[
        ("subject_token", "s"),
        AT,
        ("actor_token", "a"),
        ("actor_token_type", types::JWT),
        ("audience", "https://hr"),
        ("resource", "https://hr"),
        ("scope", "b a  a"),
        ("requested_token_type", types::TXN_TOKEN),
    ]))
    .unwrap();
    assert_eq!(r.subject_type, InputType::AccessToken);
    assert_eq!(r.actor.as_ref().map(|(t, ty)| (t.as_str(), *ty)), Some(("a", InputType::Jwt)));
    assert_eq!(r.audience().unwrap(), "https://hr", "one target named twice is one target");
    assert_eq!(r.scope.unwrap().into_iter().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(r.output, OutputType::TxnToken);
}

#[test]
fn refuses_malformed_requests_with_the_rfc_codes() {
    let code =
        |pairs: &[(&str, &str)]| match ExchangeRequest::parse(&form(pairs)).and_then(|r| r.audience().map(|_| ())) {
            Ok(()) => "ok",
            Err(e) => e.code(),
        };
    assert_eq!(code(&[AT, ("audience", "x")]), "invalid_request", "no subject_token");
    assert_eq!(code(&[("subject_token", "s"), ("audience", "x")]), "invalid_request", "no type");
    assert_eq!(code(&[("subject_token", "s"), ("subject_token_type", "urn:x"), ("audience", "x")]), "invalid_request");
    assert_eq!(code(&[("subject_token", "s"), AT, ("actor_token", "a"), ("audience", "x")]), "invalid_request");
    assert_eq!(
        code(&[("subject_token", "s"), AT, ("actor_token_type", types::JWT), ("audience", "x")]),
        "invalid_request"
    );
    assert_eq!(code(&[("subject_token", "s"), ("subject_token", "t"), AT, ("audience", "x")]), "invalid_request");
    assert_eq!(
        code(&[("subject_token", "s"), AT, ("scope", "a"), ("scope", "b"), ("audience", "x")]),
        "invalid_request"
    );
    assert_eq!(code(&[("subject_token", "s"), AT]), "invalid_request", "no target");
    assert_eq!(code(&[("subject_token", "s"), AT, ("audience", "x"), ("audience", "y")]), "invalid_target");
    assert_eq!(code(&[("subject_token", "s"), AT, ("resource", "relative/path")]), "invalid_target");
    assert_eq!(code(&[("subject_token", "s"), AT, ("resource", "https://a/#frag")]), "invalid_target");
    assert_eq!(code(&[("subject_token", "s"), AT, ("audience", "x"), ("scope", "a\"b")]), "invalid_scope");
    let unsupported = [("subject_token", "s"), AT, ("audience", "x"), ("requested_token_type", "urn:x:saml")];
    assert_eq!(code(&unsupported), "invalid_request");
    assert_eq!(code(&[("subject_token", "s"), AT, ("audience", "x")]), "ok");
}

#[test]
fn a_jti_is_accepted_once_until_it_expires() {
    let jti = format!("{:x}", rand::random::<u128>());
    assert_eq!(record("c", &jti, 200, 100), Replay::Fresh);
    assert_eq!(record("c", &jti, 200, 150), Replay::Replayed);
    assert_eq!(record("other", &jti, 200, 150), Replay::Fresh, "per client");
    assert_eq!(record("c", &jti, 400, 201), Replay::Fresh, "forgotten after expiry");
}

#[test]
fn responses_carry_fixed_descriptions_only() {
    let e = ExchangeError::Client("wrong secret for client x".into());
    let r = e.response();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let e = ExchangeError::Target { public: "fixed", detail: "secret detail".into() };
    assert_eq!(e.response().status(), 400);
    assert_eq!(e.code(), "invalid_target");
}
