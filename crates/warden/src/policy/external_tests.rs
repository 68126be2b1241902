use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::*;
use crate::auth::{Principal, PrincipalKind};
use crate::policy::entities::{RequestContext, ToolInfo};

/// What the test server answers: status, body, delay before answering.
type Reply = Arc<dyn Fn(&Value) -> (u16, String, Duration) + Send + Sync>;

/// What the test server saw.
#[derive(Default)]
struct Seen {
    count: AtomicUsize,
    bodies: parking_lot::Mutex<Vec<Value>>,
    headers: parking_lot::Mutex<Vec<http::HeaderMap>>,
}

impl Seen {
    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// A PDP on 127.0.0.1 answering with `reply`; bound before it is returned.
async fn pdp(reply: impl Fn(&Value) -> (u16, String, Duration) + Send + Sync + 'static) -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let reply: Reply = Arc::new(reply);
    let state = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let state = state.clone();
            let reply = reply.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<Incoming>| {
                    let state = state.clone();
                    let reply = reply.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                        state.count.fetch_add(1, Ordering::SeqCst);
                        state.headers.lock().push(parts.headers);
                        state.bodies.lock().push(value.clone());
                        let (status, body, delay) = reply(&value);
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                        let response = hyper::Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from(body)))
                            .unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    (addr, seen)
}

fn fixed(status: u16, body: &str) -> impl Fn(&Value) -> (u16, String, Duration) + Send + Sync + 'static {
    let body = body.to_owned();
    move |_| (status, body.clone(), Duration::ZERO)
}

fn settings(addr: SocketAddr, style: ExternalStyle) -> ExternalSettings {
    ExternalSettings {
        url: format!("http://{addr}/v1/data/warden/allow").parse().unwrap(),
        style,
        timeout: Duration::from_millis(2_000),
        on_error: OnError::Deny,
        cache_ttl: Duration::ZERO,
        max_cache_entries: 10_000,
        headers: Vec::new(),
    }
}

fn decider(settings: ExternalSettings) -> ExternalDecider {
    // No proxy: the test server is local, whatever the environment says.
    ExternalDecider::new(settings, reqwest::Client::builder().no_proxy().build().unwrap())
}

fn request(args: Value) -> PolicyRequest {
    let mut principal = Principal::anonymous();
    principal.kind = PrincipalKind::User;
    principal.subject = "alice".into();
    principal.groups = vec!["staff".into()];
    PolicyRequest {
        principal,
        action: "tools/call".into(),
        target: Target::Tool(ToolInfo {
            name: "hr__get_time_off".into(),
            backend: "hr".into(),
            annotations: json!({"readOnlyHint": true}),
            labels: BTreeMap::from([("dataClass".to_owned(), "pii".to_owned())]),
            input_schema: json!({"type": "object"}),
        }),
        args,
        context: RequestContext {
            epoch: 1_700_000_000,
            client_address: Some("10.0.0.7".parse().unwrap()),
            era: "modern".into(),
            headers: BTreeMap::from([("x-team".to_owned(), "blue".to_owned())]),
        },
    }
}

fn decision(allowed: bool, reason: Option<&str>, cached: bool) -> ExternalDecision {
    ExternalDecision { allowed, reason: reason.map(str::to_owned), cached, error: None }
}

#[test]
fn input_document_shape() {
    let input = ExternalDecider::input(&request(json!({"employeeId": "e-1"})));
    assert_eq!(input["principal"]["subject"], "alice");
    assert_eq!(input["principal"]["kind"], "user");
    assert_eq!(input["principal"]["groups"], json!(["staff"]));
    assert_eq!(input["action"], "tools/call");
    assert_eq!(
        input["resource"],
        json!({
            "type": "Tool",
            "id": "hr__get_time_off",
            "backend": "hr",
            "annotations": {"readOnlyHint": true},
            "labels": {"dataClass": "pii"},
        })
    );
    assert_eq!(
        input["context"],
        json!({
            "args": {"employeeId": "e-1"},
            "time": {"epoch": 1_700_000_000},
            "clientAddress": "10.0.0.7",
            "era": "modern",
            "headers": {"x-team": "blue"},
        })
    );
}

#[test]
fn input_for_other_targets() {
    let mut req = request(Value::Null);
    req.context.client_address = None;
    req.action = "resources/read".into();
    req.target = Target::Resource(crate::policy::ResourceInfo {
        uri: "file:///a".into(),
        name: "a".into(),
        backend: "files".into(),
        labels: BTreeMap::new(),
    });
    let input = ExternalDecider::input(&req);
    assert_eq!(input["action"], "resources/read");
    assert_eq!(
        input["resource"],
        json!({"type": "Resource", "id": "file:///a", "name": "a", "backend": "files", "labels": {}})
    );
    assert_eq!(input["context"]["args"], Value::Null);
    assert_eq!(input["context"]["clientAddress"], Value::Null);

    req.target =
        Target::Prompt(crate::policy::PromptInfo { name: "p".into(), backend: "b".into(), labels: BTreeMap::new() });
    assert_eq!(
        ExternalDecider::input(&req)["resource"],
        json!({"type": "Prompt", "id": "p", "backend": "b", "labels": {}})
    );
    req.target = Target::VirtualServer("main".into());
    assert_eq!(ExternalDecider::input(&req)["resource"], json!({"type": "VirtualServer", "id": "main", "labels": {}}));
}

#[tokio::test]
async fn opa_true_allows_and_sends_input_wrapped() {
    let (addr, seen) = pdp(fixed(200, r#"{"result": true}"#)).await;
    let d = decider(settings(addr, ExternalStyle::Opa));
    let req = request(json!({"employeeId": "e-1"}));
    assert_eq!(d.decide(&req).await, decision(true, None, false));
    assert_eq!(seen.count(), 1);
    assert_eq!(seen.bodies.lock()[0], json!({"input": ExternalDecider::input(&req)}));
    assert_eq!(seen.headers.lock()[0]["content-type"], "application/json");
}

#[tokio::test]
async fn opa_false_denies() {
    let (addr, _) = pdp(fixed(200, r#"{"result": false}"#)).await;
    let d = decider(settings(addr, ExternalStyle::Opa));
    assert_eq!(d.decide(&request(Value::Null)).await, decision(false, None, false));
}

#[tokio::test]
async fn opa_result_object_with_reason() {
    let (addr, _) = pdp(fixed(200, r#"{"result": {"allow": false, "reason": "not your employee id"}}"#)).await;
    let d = decider(settings(addr, ExternalStyle::Opa));
    assert_eq!(d.decide(&request(Value::Null)).await, decision(false, Some("not your employee id"), false));

    let (addr, _) = pdp(fixed(200, r#"{"result": {"allow": true}}"#)).await;
    let d = decider(settings(addr, ExternalStyle::Opa));
    assert_eq!(d.decide(&request(Value::Null)).await, decision(true, None, false));
}

#[tokio::test]
async fn opa_missing_result_is_deny_not_error() {
    let (addr, _) = pdp(fixed(200, r#"{"decision_id": "x"}"#)).await;
    let mut s = settings(addr, ExternalStyle::Opa);
    s.on_error = OnError::Allow;
    let got = decider(s).decide(&request(Value::Null)).await;
    assert!(!got.allowed);
    assert_eq!(got.error, None);
}

#[tokio::test]
async fn opa_500_denies_by_default() {
    let (addr, _) = pdp(fixed(500, "{}")).await;
    let got = decider(settings(addr, ExternalStyle::Opa)).decide(&request(Value::Null)).await;
    assert!(!got.allowed);
    assert_eq!(got.error.as_deref(), Some("unexpected status 500"));
}

#[tokio::test]
async fn opa_500_allows_with_on_error_allow() {
    let (addr, _) = pdp(fixed(500, "{}")).await;
    let mut s = settings(addr, ExternalStyle::Opa);
    s.on_error = OnError::Allow;
    let got = decider(s).decide(&request(Value::Null)).await;
    assert!(got.allowed);
    assert!(got.error.is_some());
}

#[tokio::test]
async fn opa_bad_answers_are_errors() {
    for body in ["not json", r#"{"result": "yes"}"#, r#"{"result": {"reason": "x"}}"#, "[true]"] {
        let (addr, _) = pdp(fixed(200, body)).await;
        let got = decider(settings(addr, ExternalStyle::Opa)).decide(&request(Value::Null)).await;
        assert!(!got.allowed, "{body}");
        assert!(got.error.is_some(), "{body}");
    }
}

#[tokio::test]
async fn oversized_answer_is_error() {
    let big = format!(r#"{{"result": true, "pad": "{}"}}"#, "x".repeat(MAX_BODY));
    let (addr, _) = pdp(fixed(200, &big)).await;
    let mut s = settings(addr, ExternalStyle::Opa);
    s.on_error = OnError::Deny;
    let got = decider(s).decide(&request(Value::Null)).await;
    assert!(!got.allowed);
    assert_eq!(got.error.as_deref(), Some("answer larger than 65536 bytes"));
}

#[tokio::test]
async fn timeout_denies_with_error() {
    let (addr, seen) = pdp(|_: &Value| (200, r#"{"result": true}"#.to_owned(), Duration::from_secs(2))).await;
    let mut s = settings(addr, ExternalStyle::Opa);
    s.timeout = Duration::from_millis(100);
    let start = Instant::now();
    let got = decider(s).decide(&request(Value::Null)).await;
    assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());
    assert!(!got.allowed);
    assert!(got.error.as_deref().is_some_and(|e| e.starts_with("no answer within")), "{got:?}");
    assert_eq!(seen.count(), 1);
}

#[tokio::test]
async fn connection_refused_follows_on_error() {
    // Bind then drop: the port is (almost certainly) closed.
    let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let got = decider(settings(addr, ExternalStyle::Http)).decide(&request(Value::Null)).await;
    assert!(!got.allowed);
    assert!(got.error.as_deref().is_some_and(|e| e.starts_with("request failed")), "{got:?}");
}

#[tokio::test]
async fn http_2xx_allows_and_sends_input_bare() {
    let (addr, seen) = pdp(fixed(200, "")).await;
    let d = decider(settings(addr, ExternalStyle::Http));
    let req = request(json!({"a": 1}));
    assert_eq!(d.decide(&req).await, decision(true, None, false));
    assert_eq!(seen.bodies.lock()[0], ExternalDecider::input(&req));

    let (addr, _) = pdp(fixed(204, "")).await;
    assert_eq!(decider(settings(addr, ExternalStyle::Http)).decide(&req).await, decision(true, None, false));
}

#[tokio::test]
async fn http_403_denies_with_reason() {
    let (addr, _) = pdp(fixed(403, r#"{"reason": "outside business hours"}"#)).await;
    let got = decider(settings(addr, ExternalStyle::Http)).decide(&request(Value::Null)).await;
    assert_eq!(got, decision(false, Some("outside business hours"), false));
}

#[tokio::test]
async fn http_401_without_json_denies_without_reason() {
    let (addr, _) = pdp(fixed(401, "nope")).await;
    let mut s = settings(addr, ExternalStyle::Http);
    s.on_error = OnError::Allow;
    let got = decider(s).decide(&request(Value::Null)).await;
    assert_eq!(got, decision(false, None, false));
}

#[tokio::test]
async fn http_500_is_error() {
    let (addr, _) = pdp(fixed(500, r#"{"reason": "boom"}"#)).await;
    let got = decider(settings(addr, ExternalStyle::Http)).decide(&request(Value::Null)).await;
    assert!(!got.allowed);
    assert_eq!(got.reason, None);
    assert_eq!(got.error.as_deref(), Some("unexpected status 500"));

    let (addr, _) = pdp(fixed(500, "")).await;
    let mut s = settings(addr, ExternalStyle::Http);
    s.on_error = OnError::Allow;
    let got = decider(s).decide(&request(Value::Null)).await;
    assert!(got.allowed);
    assert!(got.error.is_some());
}

#[tokio::test]
async fn cache_answers_identical_calls() {
    let (addr, seen) = pdp(fixed(200, r#"{"result": {"allow": false, "reason": "r"}}"#)).await;
    let mut s = settings(addr, ExternalStyle::Opa);
    s.cache_ttl = Duration::from_secs(60);
    let d = decider(s);
    let mut req = request(json!({"employeeId": "e-1"}));
    assert_eq!(d.decide(&req).await, decision(false, Some("r"), false));
    // A later second: `context.time` is not part of the key.
    req.context.epoch += 1;
    assert_eq!(d.decide(&req).await, decision(false, Some("r"), true));
    assert_eq!(seen.count(), 1);

    // Other arguments: a new question.
    let other = request(json!({"employeeId": "e-2"}));
    assert_eq!(d.decide(&other).await, decision(false, Some("r"), false));
    assert_eq!(seen.count(), 2);
    assert_eq!(d.decide(&other).await, decision(false, Some("r"), true));
    assert_eq!(seen.count(), 2);
}

#[tokio::test]
async fn cache_ttl_zero_never_caches() {
    let (addr, seen) = pdp(fixed(200, r#"{"result": true}"#)).await;
    let d = decider(settings(addr, ExternalStyle::Opa));
    let req = request(Value::Null);
    for _ in 0..3 {
        assert_eq!(d.decide(&req).await, decision(true, None, false));
    }
    assert_eq!(seen.count(), 3);
}

#[tokio::test]
async fn errors_are_not_cached() {
    let (addr, seen) = pdp(fixed(503, "")).await;
    let mut s = settings(addr, ExternalStyle::Http);
    s.cache_ttl = Duration::from_secs(60);
    let d = decider(s);
    let req = request(Value::Null);
    for _ in 0..2 {
        let got = d.decide(&req).await;
        assert!(!got.cached);
        assert!(got.error.is_some());
    }
    assert_eq!(seen.count(), 2);
}

#[tokio::test]
async fn cache_expires_and_stays_bounded() {
    let (addr, seen) = pdp(fixed(200, r#"{"result": true}"#)).await;
    let mut s = settings(addr, ExternalStyle::Opa);
    s.cache_ttl = Duration::from_secs(60);
    s.max_cache_entries = 2;
    let d = decider(s);
    for i in 0..5 {
        d.decide(&request(json!({"i": i}))).await;
        assert!(d.cache.lock().len() <= 2);
    }
    assert_eq!(seen.count(), 5);

    // Expiry, without waiting: age the entries.
    let req = request(json!({"i": 4}));
    assert!(d.decide(&req).await.cached);
    for e in d.cache.lock().values_mut() {
        e.expires = Instant::now();
    }
    assert!(!d.decide(&req).await.cached);
    assert_eq!(seen.count(), 6);
}

#[tokio::test]
async fn extra_headers_reach_the_pdp() {
    let (addr, seen) = pdp(fixed(200, "")).await;
    let mut s = settings(addr, ExternalStyle::Http);
    s.headers = vec![
        (http::HeaderName::from_static("authorization"), http::HeaderValue::from_static("Bearer s3cret")),
        (http::HeaderName::from_static("x-tenant"), http::HeaderValue::from_static("acme")),
    ];
    let d = decider(s);
    assert!(d.decide(&request(Value::Null)).await.allowed);
    let headers = seen.headers.lock();
    assert_eq!(headers[0]["authorization"], "Bearer s3cret");
    assert_eq!(headers[0]["x-tenant"], "acme");
    // Debug output names the headers but never shows their values.
    let shown = format!("{d:?}");
    assert!(shown.contains("authorization"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn redacted_url_drops_credentials_and_query() {
    let url: url::Url = "https://user:pw@pdp.example:8443/v1/data/x?token=t".parse().unwrap();
    assert_eq!(redacted_url(&url), "https://pdp.example:8443/v1/data/x");
}
