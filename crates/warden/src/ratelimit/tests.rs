#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use test_support::redis::RedisServer;

use super::config::{Rate, RawRateLimits, validate};
use super::*;

const SEC: u64 = 1_000_000_000;

fn limits(yaml: &str) -> RateLimits {
    let raw: RawRateLimits = serde_norway::from_str(yaml).unwrap();
    validate(&raw, "rateLimits").unwrap()
}

fn limiter(yaml: &str) -> RateLimiter {
    RateLimiter::new(limits(yaml)).unwrap()
}

fn ctx<'a>(principal: &'a str, tool: Option<&'a str>) -> LimitContext<'a> {
    LimitContext { principal_key: principal, virtual_server: "vs", backend: Some("be"), method: "tools/call", tool }
}

fn limited(d: &Decision) -> (Duration, &str) {
    match d {
        Decision::Limited { retry_after, rule } => (*retry_after, rule),
        Decision::Allow => panic!("expected Limited, got Allow"),
    }
}

/// `|a - b|` within `tol`.
fn close(a: Duration, b: Duration, tol: Duration) -> bool {
    a.abs_diff(b) <= tol
}

// ---- config ----

#[test]
fn rate_parses_units_and_durations() {
    assert_eq!(Rate::parse("100/1m").unwrap(), Rate { count: 100, period: Duration::from_secs(60) });
    assert_eq!(Rate::parse("100/m").unwrap(), Rate { count: 100, period: Duration::from_secs(60) });
    assert_eq!(Rate::parse("5/10s").unwrap(), Rate { count: 5, period: Duration::from_secs(10) });
    assert_eq!(Rate::parse("3/s").unwrap().emission_interval(), Duration::from_nanos(333_333_333));
    assert_eq!(Rate::parse(" 2 / h ").unwrap(), Rate { count: 2, period: Duration::from_secs(3600) });
    for bad in ["10", "0/s", "x/s", "-1/s", "10/", "10/0s", "10/fortnight"] {
        assert!(Rate::parse(bad).is_err(), "{bad} should not parse");
    }
}

#[test]
fn example_block_parses_with_redis_store() {
    let l = limits(
        r#"
rules:
  - name: per-user
    key: principal
    rate: 100/1m
  - name: search-per-user
    key: [principal, tool, principal]
    rate: 10/10s
    burst: 20
    match:
      methods: [tools/call]
      tools: ["search_*"]
store:
  redis:
    url: redis://127.0.0.1:6379/0
    prefix: "warden:rl:"
    timeout: 50ms
    fallback: deny
"#,
    );
    assert_eq!(l.rules.len(), 2);
    assert_eq!(l.rules[0].burst, 100, "burst defaults to the rate's count");
    assert_eq!(l.rules[1].key, vec![KeyPart::Principal, KeyPart::Tool], "deduplicated");
    assert_eq!(l.rules[1].burst, 20);
    let Store::Redis(r) = &l.store else { panic!("redis store") };
    assert_eq!(r.timeout, Duration::from_millis(50));
    assert_eq!(r.fallback, Fallback::Deny);
    assert!(matches!(limits("rules: []\nstore: local\n").store, Store::Local));
    assert!(matches!(limits("rules: []\n").store, Store::Local));
}

#[test]
fn unknown_keys_are_refused() {
    let e = serde_norway::from_str::<RawRateLimits>(
        "rules:\n  - name: a\n    key: principal\n    rate: 1/s\n    brust: 2\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("brust"), "{e}");
    assert!(serde_norway::from_str::<RawRateLimits>("rules: []\nstore: memcached\n").is_err());
}

#[test]
fn store_forms_parse_from_yaml_values_and_json() {
    // The gateway's loader goes through a YAML value and serde_path_to_error.
    let tree: serde_norway::Value =
        serde_norway::from_str("store:\n  redis:\n    url: redis://h:6379\n    fallback: deny\n").unwrap();
    let raw: RawRateLimits = serde_path_to_error::deserialize(tree).unwrap();
    assert!(matches!(raw.store, Some(config::RawStore::Redis(ref r)) if r.fallback == Some(Fallback::Deny)));
    let raw: RawRateLimits = serde_json::from_str(r#"{"store": "local"}"#).unwrap();
    assert!(matches!(raw.store, Some(config::RawStore::Local)));

    let tree: serde_norway::Value =
        serde_norway::from_str("store:\n  redis:\n    url: redis://h:6379\n    timout: 1s\n").unwrap();
    let e = serde_path_to_error::deserialize::<_, RawRateLimits>(tree).unwrap_err();
    assert_eq!(e.path().to_string(), "store.redis.timout");
    assert!(e.to_string().contains("timout"), "{e}");
    for bad in ["store: redis\n", "store: {memcached: {}}\n", "store: {}\n", "store: {local: null, redis: {url: x}}\n"]
    {
        assert!(serde_norway::from_str::<RawRateLimits>(bad).is_err(), "{bad}");
    }
}

#[test]
fn json_schema_describes_the_block() {
    let schema = serde_json::to_string(&schemars::schema_for!(RawRateLimits)).unwrap();
    for word in ["rules", "burst", "virtualServer", "fallback", "redis", "match"] {
        assert!(schema.contains(word), "{word} missing from {schema}");
    }
}

#[test]
fn validation_reports_every_problem_with_its_path() {
    let raw: RawRateLimits = serde_norway::from_str(
        r#"
rules:
  - name: a
    key: principal
    rate: lots
  - name: a
    key: []
    rate: 1/s
    burst: 0
    match:
      methods: [""]
      tools: ["[bad"]
  - name: " "
    key: tool
    rate: 0/m
store:
  redis:
    url: "http://example.com"
    timeout: 0s
    prefix: "has space"
"#,
    )
    .unwrap();
    let errors = validate(&raw, "virtualServers[0].rateLimits").unwrap_err();
    let at = "virtualServers[0].rateLimits";
    let expect = [
        format!("{at}.rules[0].rate: invalid rate"),
        format!("{at}.rules[1].key:"),
        format!("{at}.rules[1].burst: must be at least 1"),
        format!("{at}.rules[1].match.methods[0]: must not be empty"),
        format!("{at}.rules[1].match.tools[0]: invalid glob"),
        format!("{at}.rules[2].name: must not be empty"),
        format!("{at}.rules[2].rate: invalid rate \"0/m\""),
        format!("{at}.store.redis.url: unsupported scheme \"http\""),
        format!("{at}.store.redis.timeout: must be longer than zero"),
        format!("{at}.store.redis.prefix:"),
    ];
    for e in &expect {
        assert!(errors.iter().any(|got| got.starts_with(e.as_str())), "missing {e:?} in {errors:#?}");
    }
    assert_eq!(errors.len(), expect.len(), "{errors:#?}");

    let dup: RawRateLimits = serde_norway::from_str(
        "rules:\n  - {name: a, key: principal, rate: 1/s}\n  - {name: a, key: tool, rate: 1/s}\n",
    )
    .unwrap();
    assert_eq!(validate(&dup, "x").unwrap_err(), vec!["x.rules[1].name: duplicate rule name \"a\"".to_string()]);

    let secret: RawRateLimits =
        serde_norway::from_str("store:\n  redis:\n    url: \"redis://:hunter2@[bad\"\n").unwrap();
    let errors = validate(&secret, "x").unwrap_err();
    assert!(errors.iter().all(|e| !e.contains("hunter2")), "URL password leaked: {errors:?}");
}

// ---- local buckets (time driven explicitly) ----

#[test]
fn burst_then_limited_with_exact_retry_after_then_refill() {
    // 10/1m: one token every 6 s, 10 at once.
    let l = limiter("rules: [{name: user, key: principal, rate: 10/1m}]");
    let c = ctx("alice", None);
    for i in 0..10 {
        assert_eq!(l.check_local_at(&c, 0), Decision::Allow, "request {i} within the burst");
    }
    let d = l.check_local_at(&c, 0);
    let (retry, rule) = limited(&d);
    assert_eq!(rule, "user");
    // Tolerance: well under one emission interval (6 s).
    let tol = Duration::from_millis(6);
    assert!(close(retry, Duration::from_secs(6), tol), "{retry:?}");
    assert_eq!(d.retry_after_secs(), Some(6));

    // 2 s later: 4 s left.
    let (retry, _) = limited(&l.check_local_at(&c, 2 * SEC)).to_owned();
    assert!(close(retry, Duration::from_secs(4), tol), "{retry:?}");
    // Just before the token is back: still limited; at 6 s: one more, then limited again.
    assert!(!l.check_local_at(&c, 6 * SEC - 1_000_000).is_allowed());
    assert!(l.check_local_at(&c, 6 * SEC).is_allowed());
    assert!(!l.check_local_at(&c, 6 * SEC).is_allowed());
    // A full period later the whole burst is back.
    let later = 6 * SEC + 60 * SEC;
    for _ in 0..10 {
        assert!(l.check_local_at(&c, later).is_allowed());
    }
    assert!(!l.check_local_at(&c, later).is_allowed());
}

#[test]
fn explicit_burst_and_fractional_retry_after() {
    let l = limiter("rules: [{name: r, key: principal, rate: 2/s, burst: 1}]");
    let c = ctx("alice", None);
    assert!(l.check_local_at(&c, 0).is_allowed());
    let d = l.check_local_at(&c, SEC / 10);
    let (retry, _) = limited(&d);
    assert!(close(retry, Duration::from_millis(400), Duration::from_millis(1)), "{retry:?}");
    assert_eq!(d.retry_after_secs(), Some(1), "Retry-After rounds up");
    assert!(l.check_local_at(&c, SEC / 2).is_allowed());
}

#[test]
fn keys_separate_principals_and_tools() {
    let l = limiter("rules: [{name: pt, key: [principal, tool], rate: 1/1m}]");
    assert!(l.check_local_at(&ctx("alice", Some("a")), 0).is_allowed());
    assert!(!l.check_local_at(&ctx("alice", Some("a")), 0).is_allowed());
    assert!(l.check_local_at(&ctx("alice", Some("b")), 0).is_allowed(), "other tool");
    assert!(l.check_local_at(&ctx("bob", Some("a")), 0).is_allowed(), "other principal");
    // No tool: a rule keyed on the tool does not apply.
    assert!(l.check_local_at(&ctx("alice", None), 0).is_allowed());
    assert!(l.check_local_at(&ctx("alice", None), 0).is_allowed());

    // Keyed on the virtual server: one bucket for every caller of it.
    let l = limiter("rules: [{name: vs, key: virtualServer, rate: 2/1m}]");
    assert!(l.check_local_at(&ctx("alice", None), 0).is_allowed());
    assert!(l.check_local_at(&ctx("bob", None), 0).is_allowed());
    assert!(!l.check_local_at(&ctx("carol", None), 0).is_allowed());
    let other_vs = LimitContext { virtual_server: "other", ..ctx("alice", None) };
    assert!(l.check_local_at(&other_vs, 0).is_allowed(), "buckets are scoped to the virtual server");

    // Keyed on the backend.
    let l = limiter("rules: [{name: be, key: backend, rate: 1/1m}]");
    assert!(l.check_local_at(&ctx("alice", None), 0).is_allowed());
    assert!(!l.check_local_at(&ctx("bob", None), 0).is_allowed());
    let other_be = LimitContext { backend: Some("be2"), ..ctx("bob", None) };
    assert!(l.check_local_at(&other_be, 0).is_allowed());
}

#[test]
fn key_values_cannot_collide() {
    let l = limiter("rules: [{name: pt, key: [principal, tool], rate: 1/1m}]");
    assert!(l.check_local_at(&ctx("a:b", Some("c")), 0).is_allowed());
    assert!(l.check_local_at(&ctx("a", Some("b:c")), 0).is_allowed());
}

#[test]
fn match_limits_only_listed_methods_and_tools() {
    let l =
        limiter("rules: [{name: s, key: principal, rate: 1/1m, match: {methods: [tools/call], tools: ['search_*']}}]");
    let list = LimitContext { method: "tools/list", ..ctx("alice", None) };
    for _ in 0..3 {
        assert!(l.check_local_at(&list, 0).is_allowed(), "other method");
        assert!(l.check_local_at(&ctx("alice", Some("fetch")), 0).is_allowed(), "other tool");
    }
    assert!(l.check_local_at(&ctx("alice", Some("search_web")), 0).is_allowed());
    assert!(!l.check_local_at(&ctx("alice", Some("search_docs")), 0).is_allowed(), "shared per principal");
}

#[test]
fn most_restrictive_rule_wins_and_refusals_take_nothing() {
    let l = limiter(
        r#"
rules:
  - {name: fast, key: principal, rate: 1/s}
  - {name: slow, key: principal, rate: 1/1m}
"#,
    );
    let c = ctx("alice", None);
    assert!(l.check_local_at(&c, 0).is_allowed());
    let d = l.check_local_at(&c, 0);
    let (retry, rule) = limited(&d);
    assert_eq!(rule, "slow");
    assert!(close(retry, Duration::from_secs(60), Duration::from_millis(1)), "{retry:?}");

    // All or nothing: a request refused by one rule takes no token from another.
    let l = limiter(
        r#"
rules:
  - {name: all, key: principal, rate: 2/1m}
  - {name: x-only, key: [principal, tool], rate: 1/1m, match: {tools: [x]}}
"#,
    );
    assert!(l.check_local_at(&ctx("alice", Some("x")), 0).is_allowed());
    assert_eq!(limited(&l.check_local_at(&ctx("alice", Some("x")), 0)).1, "x-only");
    assert!(l.check_local_at(&ctx("alice", Some("y")), 0).is_allowed(), "`all` still had a token");
    assert_eq!(limited(&l.check_local_at(&ctx("alice", Some("y")), 0)).1, "all");
}

#[test]
fn no_rules_allow_everything() {
    let l = limiter("rules: []");
    for _ in 0..100 {
        assert!(l.check_local_at(&ctx("alice", Some("t")), 0).is_allowed());
    }
}

#[test]
fn local_store_is_bounded() {
    let l = RateLimiter::with_local_capacity(limits("rules: [{name: u, key: principal, rate: 1/1h}]"), 32).unwrap();
    for i in 0..1000 {
        assert!(l.check_local_at(&ctx(&format!("p{i}"), None), i).is_allowed());
    }
    // 16 shards × 2 each.
    assert!(l.local_len() <= 32, "{}", l.local_len());
}

#[test]
fn concurrent_checks_never_exceed_the_burst() {
    let l = std::sync::Arc::new(limiter("rules: [{name: u, key: principal, rate: 50/1h}]"));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let l = l.clone();
            std::thread::spawn(move || {
                (0..100).filter(|_| l.check_local_at(&ctx("alice", None), 0).is_allowed()).count()
            })
        })
        .collect();
    let allowed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(allowed, 50);
}

#[tokio::test]
async fn async_check_uses_the_local_store() {
    let l = limiter("rules: [{name: u, key: principal, rate: 2/1h}]");
    assert!(!l.is_global());
    assert!(l.check(&ctx("alice", None)).await.is_allowed());
    assert!(l.check(&ctx("alice", None)).await.is_allowed());
    let d = l.check(&ctx("alice", None)).await;
    let (retry, _) = limited(&d);
    assert!(retry > Duration::from_secs(1790) && retry <= Duration::from_secs(1800), "{retry:?}");
}

// ---- Redis (a real server) ----

fn redis_limits(url: &str, rate: &str, fallback: &str) -> RateLimits {
    limits(&format!(
        "rules: [{{name: global, key: principal, rate: {rate}}}]\nstore:\n  redis: {{url: \"{url}\", prefix: \"t:\", timeout: 1s, fallback: {fallback}}}\n"
    ))
}

#[tokio::test]
async fn two_replicas_share_one_global_limit() {
    let redis = RedisServer::start();
    let a = RateLimiter::new(redis_limits(&redis.url(), "10/1m", "deny")).unwrap();
    let b = RateLimiter::new(redis_limits(&redis.url(), "10/1m", "deny")).unwrap();
    assert!(a.is_global());
    let mut allowed = 0;
    let mut last = Decision::Allow;
    for i in 0..30 {
        let l = if i % 2 == 0 { &a } else { &b };
        last = l.check(&ctx("alice", None)).await;
        allowed += usize::from(last.is_allowed());
    }
    assert_eq!(allowed, 10, "one limit across both replicas");
    let (retry, rule) = limited(&last);
    assert_eq!(rule, "global");
    // Within a second of test time of the 6 s emission interval.
    assert!(retry <= Duration::from_secs(6) && retry > Duration::from_secs(5), "{retry:?}");
    // Another principal has its own bucket.
    assert!(b.check(&ctx("bob", None)).await.is_allowed());
    assert_eq!(a.fallbacks() + b.fallbacks(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_replicas_share_one_global_limit() {
    let redis = RedisServer::start();
    let a = std::sync::Arc::new(RateLimiter::new(redis_limits(&redis.url(), "10/1m", "deny")).unwrap());
    let b = std::sync::Arc::new(RateLimiter::new(redis_limits(&redis.url(), "10/1m", "deny")).unwrap());
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let l = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { l.check(&ctx("alice", None)).await.is_allowed() })
        })
        .collect();
    let mut allowed = 0;
    for t in tasks {
        allowed += usize::from(t.await.unwrap());
    }
    assert_eq!(allowed, 10);
    assert_eq!(a.fallbacks() + b.fallbacks(), 0);
}

#[tokio::test]
async fn script_reloads_after_noscript() {
    let redis = RedisServer::start();
    let l = RateLimiter::new(redis_limits(&redis.url(), "3/1m", "deny")).unwrap();
    assert!(l.check(&ctx("alice", None)).await.is_allowed());
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = ::redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut con).await.unwrap();
    assert!(l.check(&ctx("alice", None)).await.is_allowed());
    assert!(l.check(&ctx("alice", None)).await.is_allowed());
    assert!(!l.check(&ctx("alice", None)).await.is_allowed());
    assert_eq!(l.fallbacks(), 0);
    // Keys carry an expiry.
    let keys: Vec<String> = ::redis::cmd("KEYS").arg("t:*").query_async(&mut con).await.unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let ttl: i64 = ::redis::cmd("PTTL").arg(&keys[0]).query_async(&mut con).await.unwrap();
    assert!(ttl > 0 && ttl <= 60_001, "{ttl}");
}

#[tokio::test]
async fn redis_killed_falls_back_to_local_buckets() {
    let mut redis = RedisServer::start();
    let l = RateLimiter::new(redis_limits(&redis.url(), "3/1m", "local")).unwrap();
    // Two tokens taken in Redis.
    assert!(l.check(&ctx("alice", None)).await.is_allowed());
    assert!(l.check(&ctx("alice", None)).await.is_allowed());
    redis.kill();
    // Local buckets start full: three more, then limited, all counted as fallbacks.
    for i in 0..3 {
        assert!(l.check(&ctx("alice", None)).await.is_allowed(), "local request {i}");
    }
    let d = l.check(&ctx("alice", None)).await;
    let (retry, rule) = limited(&d);
    assert_eq!(rule, "global");
    assert!(retry > Duration::from_secs(19) && retry <= Duration::from_secs(20), "{retry:?}");
    assert_eq!(l.fallbacks(), 4);
}

#[tokio::test]
async fn redis_killed_with_deny_fallback_refuses() {
    let mut redis = RedisServer::start();
    let l = RateLimiter::new(redis_limits(&redis.url(), "100/1m", "deny")).unwrap();
    assert!(l.check(&ctx("alice", None)).await.is_allowed());
    assert_eq!(l.fallbacks(), 0);
    redis.kill();
    for _ in 0..3 {
        let d = l.check(&ctx("alice", None)).await;
        assert_eq!(d, Decision::Limited { retry_after: DENY_RETRY_AFTER, rule: "global".into() });
    }
    assert_eq!(l.fallbacks(), 3);
    // Requests no rule applies to never reach Redis.
    let l2 = RateLimiter::new(limits(&format!(
        "rules: [{{name: t, key: tool, rate: 1/s}}]\nstore: {{redis: {{url: \"{}\", fallback: deny}}}}\n",
        redis.url()
    )))
    .unwrap();
    assert!(l2.check(&ctx("alice", None)).await.is_allowed());
    assert_eq!(l2.fallbacks(), 0);
}

#[tokio::test]
async fn redis_down_from_the_start_uses_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("redis+unix://{}", dir.path().join("nothing.sock").display());
    let l = RateLimiter::new(redis_limits(&url, "1/1m", "local")).unwrap();
    assert!(l.check(&ctx("alice", None)).await.is_allowed());
    assert!(!l.check(&ctx("alice", None)).await.is_allowed());
    assert_eq!(l.fallbacks(), 2);
}
