//! The `rateLimits` block as users write it (raw serde structs) and its
//! validated form ([`RateLimits`]).
//!
//! ```yaml
//! rateLimits:
//!   rules:
//!     - name: per-user
//!       key: principal
//!       rate: 100/1m
//!     - name: search-per-user
//!       key: [principal, tool]
//!       rate: 10/10s
//!       burst: 20
//!       match:
//!         methods: [tools/call]
//!         tools: ["search_*"]
//!   store:
//!     redis:
//!       url: redis://127.0.0.1:6379/0
//!       prefix: "warden:rl:"
//!       timeout: 50ms
//!       fallback: local
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use schemars::JsonSchema;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::config::HumanDuration;

/// Default key prefix in Redis.
pub const DEFAULT_REDIS_PREFIX: &str = "warden:rl:";
/// Default time allowed for one Redis round trip before the fallback applies.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(100);
/// Longest Redis timeout accepted: a rate limit must not stall the request path.
const MAX_REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// Rate limits for one virtual server.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRateLimits {
    /// Token-bucket rules. Every rule that matches a request is checked; the
    /// request is refused when any of them is exhausted.
    #[serde(default)]
    pub rules: Vec<RawRateLimitRule>,
    /// Where bucket state lives: `local` (this process, the default) or
    /// `redis` (shared by every Warden replica).
    #[serde(default)]
    pub store: Option<RawStore>,
}

/// One token-bucket rule.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRateLimitRule {
    /// Rule name, unique within the block; appears in logs and in the bucket key.
    pub name: String,
    /// What gets its own bucket: `principal`, `tool`, `backend`,
    /// `virtualServer`, or a list combining them (e.g. `[principal, tool]`).
    /// Buckets are always scoped to the virtual server. A rule whose key names
    /// `tool` or `backend` applies only to requests that have one.
    pub key: RawKey,
    /// Sustained rate: `N/s`, `N/m`, `N/h`, or `N/<duration>` such as `100/1m`
    /// or `5/10s`.
    pub rate: String,
    /// Requests allowed at once on a full bucket; defaults to `N` from `rate`.
    #[serde(default)]
    pub burst: Option<u32>,
    /// Limit only the requests matching this; all requests when omitted.
    #[serde(default, rename = "match")]
    pub matches: Option<RawRuleMatch>,
}

/// One key part or a list of them.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RawKey {
    /// A single part.
    One(KeyPart),
    /// Several parts; each combination of values gets its own bucket.
    Many(Vec<KeyPart>),
}

/// A dimension a bucket is keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum KeyPart {
    /// The authenticated caller.
    Principal,
    /// The virtual server (one bucket for all its callers).
    VirtualServer,
    /// The backend the request is routed to.
    Backend,
    /// The tool called (`tools/call` only).
    Tool,
}

/// Which requests a rule limits.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRuleMatch {
    /// JSON-RPC methods, exact (e.g. `tools/call`); any method when empty.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Tool-name globs (e.g. `search_*`); when given, only requests naming a
    /// matching tool are limited.
    #[serde(default)]
    pub tools: Vec<String>,
}

/// Where bucket state lives: `local`, or a map with the single key `redis`.
/// (Deserialized by hand so both YAML and JSON accept the map form.)
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RawStore {
    /// In this process: each replica limits on its own.
    Local,
    /// In Redis: one limit across all replicas.
    Redis(RawRedisStore),
}

impl<'de> Deserialize<'de> for RawStore {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StoreVisitor)
    }
}

struct StoreVisitor;

const STORES: &[&str] = &["local", "redis"];

impl<'de> serde::de::Visitor<'de> for StoreVisitor {
    type Value = RawStore;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`local` or a map with the single key `redis`")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawStore, E> {
        match v {
            "local" => Ok(RawStore::Local),
            "redis" => Err(E::custom("`redis` needs settings: `store: {redis: {url: ...}}`")),
            other => Err(E::unknown_variant(other, STORES)),
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawStore, A::Error> {
        use serde::de::Error;
        let mut store = None;
        while let Some(key) = map.next_key::<String>()? {
            if store.is_some() {
                return Err(A::Error::custom("store: give exactly one of `local`, `redis`"));
            }
            store = Some(match key.as_str() {
                "redis" => RawStore::Redis(map.next_value()?),
                "local" => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    RawStore::Local
                }
                other => return Err(A::Error::unknown_variant(other, STORES)),
            });
        }
        store.ok_or_else(|| A::Error::custom("store: give one of `local`, `redis`"))
    }
}

/// Redis connection for global limits.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRedisStore {
    /// `redis://[user:password@]host:port[/db]` or `redis+unix:///path/to/redis.sock`.
    pub url: String,
    /// Prefix of every key Warden writes; default `warden:rl:`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Time allowed for one check, connection included; default `100ms`. On
    /// timeout or error the fallback applies.
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    /// What to do when Redis is unreachable: `local` (limit with this
    /// process's buckets, the default) or `deny` (refuse the request).
    #[serde(default)]
    pub fallback: Option<Fallback>,
}

/// What applies when Redis cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Fallback {
    /// Limit with in-process buckets (each replica on its own).
    #[default]
    Local,
    /// Refuse every limited request until Redis answers again.
    Deny,
}

/// Validated rate limits.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Rules, in configuration order.
    pub rules: Vec<Rule>,
    /// Bucket store.
    pub store: Store,
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique name.
    pub name: String,
    /// Key parts, deduplicated, in [`KeyPart`] order.
    pub key: Vec<KeyPart>,
    /// Sustained rate.
    pub rate: Rate,
    /// Bucket size, at least 1.
    pub burst: u32,
    /// Methods limited; all when empty.
    pub methods: Vec<String>,
    /// Tools limited; all requests (with or without a tool) when `None`.
    pub tools: Option<GlobSet>,
}

impl Rule {
    /// Time for one token to come back: the rate's period divided by its count.
    pub fn emission_interval(&self) -> Duration {
        self.rate.emission_interval()
    }
}

/// `count` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per period, at least 1.
    pub count: u32,
    /// Period, non-zero.
    pub period: Duration,
}

impl Rate {
    /// Parse `N/s`, `N/m`, `N/h`, `N/<humantime duration>`.
    pub fn parse(s: &str) -> Result<Rate, String> {
        let Some((n, per)) = s.split_once('/') else {
            return Err(format!("invalid rate {s:?}: expected N/<unit>, e.g. 100/1m"));
        };
        let count: u32 =
            n.trim().parse().map_err(|_| format!("invalid rate {s:?}: {:?} is not a whole number", n.trim()))?;
        if count == 0 {
            return Err(format!("invalid rate {s:?}: the count must be at least 1"));
        }
        let per = per.trim();
        let period = match per {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => humantime::parse_duration(per).map_err(|e| format!("invalid rate {s:?}: {e}"))?,
        };
        if period.is_zero() {
            return Err(format!("invalid rate {s:?}: the period must be longer than zero"));
        }
        let rate = Rate { count, period };
        if rate.emission_interval() < Duration::from_micros(1) {
            return Err(format!("invalid rate {s:?}: faster than one request per microsecond"));
        }
        Ok(rate)
    }

    /// Time for one token to come back.
    pub fn emission_interval(&self) -> Duration {
        self.period / self.count
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, humantime::format_duration(self.period))
    }
}

/// Validated store.
#[derive(Debug, Clone)]
pub enum Store {
    /// In process.
    Local,
    /// In Redis.
    Redis(RedisStore),
}

/// Validated Redis store.
#[derive(Debug, Clone)]
pub struct RedisStore {
    /// Connection URL (may hold a password).
    pub url: SecretString,
    /// Key prefix.
    pub prefix: String,
    /// Per-check timeout.
    pub timeout: Duration,
    /// What applies when Redis cannot answer.
    pub fallback: Fallback,
}

/// Validate a raw block found at config path `at` (e.g. `virtualServers[0].rateLimits`).
/// Every problem is reported, each as `path: message`.
pub fn validate(raw: &RawRateLimits, at: &str) -> Result<RateLimits, Vec<String>> {
    let mut errors = Vec::new();
    let mut rules = Vec::new();
    let mut names = BTreeSet::new();
    for (i, r) in raw.rules.iter().enumerate() {
        let path = format!("{at}.rules[{i}]");
        if let Some(rule) = validate_rule(r, &path, &mut errors) {
            if !names.insert(rule.name.clone()) {
                errors.push(format!("{path}.name: duplicate rule name {:?}", rule.name));
            }
            rules.push(rule);
        }
    }
    let store = match &raw.store {
        None | Some(RawStore::Local) => Some(Store::Local),
        Some(RawStore::Redis(r)) => validate_redis(r, &format!("{at}.store.redis"), &mut errors).map(Store::Redis),
    };
    match store {
        Some(store) if errors.is_empty() => Ok(RateLimits { rules, store }),
        _ => Err(errors),
    }
}

fn validate_rule(r: &RawRateLimitRule, path: &str, errors: &mut Vec<String>) -> Option<Rule> {
    let before = errors.len();
    let name = r.name.trim();
    if name.is_empty() {
        errors.push(format!("{path}.name: must not be empty"));
    } else if name.chars().any(|c| c.is_control()) {
        errors.push(format!("{path}.name: must not contain control characters"));
    }
    let key: Vec<KeyPart> = match &r.key {
        RawKey::One(k) => vec![*k],
        RawKey::Many(ks) => ks.iter().copied().collect::<BTreeSet<_>>().into_iter().collect(),
    };
    if key.is_empty() {
        errors.push(format!("{path}.key: name at least one of principal, tool, backend, virtualServer"));
    }
    let rate = Rate::parse(&r.rate).map_err(|e| errors.push(format!("{path}.rate: {e}"))).ok();
    let burst = match (r.burst, rate) {
        (Some(0), _) => {
            errors.push(format!("{path}.burst: must be at least 1"));
            None
        }
        (Some(b), _) => Some(b),
        (None, Some(rate)) => Some(rate.count),
        (None, None) => None,
    };
    let m = r.matches.clone().unwrap_or_default();
    for (j, method) in m.methods.iter().enumerate() {
        if method.trim().is_empty() {
            errors.push(format!("{path}.match.methods[{j}]: must not be empty"));
        }
    }
    let tools = if m.tools.is_empty() {
        None
    } else {
        let mut b = GlobSetBuilder::new();
        for (j, t) in m.tools.iter().enumerate() {
            match Glob::new(t) {
                Ok(g) => {
                    b.add(g);
                }
                Err(e) => errors.push(format!("{path}.match.tools[{j}]: invalid glob {t:?}: {}", e.kind())),
            }
        }
        b.build().map_err(|e| errors.push(format!("{path}.match.tools: {e}"))).ok()
    };
    if errors.len() > before {
        return None;
    }
    Some(Rule {
        name: name.to_string(),
        key,
        rate: rate?,
        burst: burst?,
        methods: m.methods.iter().map(|s| s.trim().to_string()).collect(),
        tools,
    })
}

fn validate_redis(r: &RawRedisStore, path: &str, errors: &mut Vec<String>) -> Option<RedisStore> {
    let before = errors.len();
    match url::Url::parse(&r.url) {
        Ok(u) => match u.scheme() {
            "redis" | "redis+unix" | "unix" => {}
            "rediss" => errors.push(format!("{path}.url: TLS to Redis (rediss://) is not supported yet")),
            other => errors.push(format!("{path}.url: unsupported scheme {other:?}; use redis:// or redis+unix://")),
        },
        // The URL may carry a password: never echo it.
        Err(e) => errors.push(format!("{path}.url: not a valid URL ({e})")),
    }
    let prefix = r.prefix.clone().unwrap_or_else(|| DEFAULT_REDIS_PREFIX.to_string());
    if prefix.chars().any(|c| c.is_control() || c.is_whitespace()) {
        errors.push(format!("{path}.prefix: must not contain whitespace or control characters"));
    }
    let timeout = r.timeout.map_or(DEFAULT_REDIS_TIMEOUT, |t| t.0);
    if timeout.is_zero() {
        errors.push(format!("{path}.timeout: must be longer than zero"));
    } else if timeout > MAX_REDIS_TIMEOUT {
        errors.push(format!(
            "{path}.timeout: at most {} (a rate limit must not stall requests)",
            humantime::format_duration(MAX_REDIS_TIMEOUT)
        ));
    }
    if errors.len() > before {
        return None;
    }
    Some(RedisStore {
        url: SecretString::from(r.url.clone()),
        prefix,
        timeout,
        fallback: r.fallback.unwrap_or_default(),
    })
}
