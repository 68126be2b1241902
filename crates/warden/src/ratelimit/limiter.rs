//! [`RateLimiter`]: the rate-limit stage's one entry point. Picks the rules
//! that apply, asks the store, and applies the fallback when Redis cannot
//! answer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::bucket::{Bucket, Decision, LimitContext, buckets_for, nanos};
use super::config::{Fallback, RateLimits, Rule, Store};
use super::local::{DEFAULT_LOCAL_CAPACITY, LocalBuckets, Refusal};
use super::redis::{RedisBuckets, StoreError};

/// How often, at most, a Redis fallback is logged.
pub const FALLBACK_WARN_EVERY: Duration = Duration::from_secs(10);

/// `Retry-After` given when Redis is unreachable and the fallback is `deny`.
pub const DENY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Why a rate limiter could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// The Redis store could not be set up (a bad URL; connecting is lazy).
    #[error("rate-limit store")]
    Store(#[source] StoreError),
}

/// Token-bucket rate limits for one configuration block.
#[derive(Debug)]
pub struct RateLimiter {
    rules: Vec<Rule>,
    local: LocalBuckets,
    global: Option<(RedisBuckets, Fallback)>,
    fallbacks: AtomicU64,
    origin: Instant,
    /// Nanoseconds after `origin` of the last fallback warning, plus one (0: never).
    last_warn: AtomicU64,
}

impl RateLimiter {
    /// A limiter for validated limits. With a Redis store nothing connects
    /// yet: the first check does.
    pub fn new(limits: RateLimits) -> Result<RateLimiter, RateLimitError> {
        Self::with_local_capacity(limits, DEFAULT_LOCAL_CAPACITY)
    }

    /// [`Self::new`], keeping at most about `capacity` local buckets.
    pub fn with_local_capacity(limits: RateLimits, capacity: usize) -> Result<RateLimiter, RateLimitError> {
        let global = match limits.store {
            Store::Local => None,
            Store::Redis(r) => {
                Some((RedisBuckets::new(&r.url, r.prefix, r.timeout).map_err(RateLimitError::Store)?, r.fallback))
            }
        };
        Ok(RateLimiter {
            rules: limits.rules,
            local: LocalBuckets::new(capacity),
            global,
            fallbacks: AtomicU64::new(0),
            origin: Instant::now(),
            last_warn: AtomicU64::new(0),
        })
    }

    /// Whether limits are shared across replicas (a Redis store).
    pub fn is_global(&self) -> bool {
        self.global.is_some()
    }

    /// How many checks Redis could not answer (so the fallback applied);
    /// export it as a counter.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Check a request and, when allowed, take one token from every bucket
    /// it touches. When several rules refuse, the one that makes the caller
    /// wait longest is reported.
    pub async fn check(&self, ctx: &LimitContext<'_>) -> Decision {
        let buckets = buckets_for(&self.rules, ctx);
        if buckets.is_empty() {
            return Decision::Allow;
        }
        let Some((redis, fallback)) = &self.global else {
            return self.decide(&buckets, self.local.check(&buckets));
        };
        match redis.check(&buckets).await {
            Ok(r) => self.decide(&buckets, r),
            Err(error) => {
                self.report_fallback(&error, *fallback);
                match fallback {
                    Fallback::Local => self.decide(&buckets, self.local.check(&buckets)),
                    Fallback::Deny => {
                        Decision::Limited { retry_after: DENY_RETRY_AFTER, rule: self.rule_name(&buckets, 0) }
                    }
                }
            }
        }
    }

    /// The local path at a given time (nanoseconds after the local store
    /// was made), for deterministic tests.
    #[cfg(test)]
    pub(crate) fn check_local_at(&self, ctx: &LimitContext<'_>, now: u64) -> Decision {
        let buckets = buckets_for(&self.rules, ctx);
        self.decide(&buckets, self.local.check_at(&buckets, now))
    }

    /// Number of local buckets held.
    #[cfg(test)]
    pub(crate) fn local_len(&self) -> usize {
        self.local.len()
    }

    fn decide(&self, buckets: &[Bucket], r: Result<(), Refusal>) -> Decision {
        match r {
            Ok(()) => Decision::Allow,
            Err(refusal) => {
                Decision::Limited { retry_after: refusal.wait, rule: self.rule_name(buckets, refusal.bucket) }
            }
        }
    }

    fn rule_name(&self, buckets: &[Bucket], n: usize) -> String {
        buckets.get(n).and_then(|b| self.rules.get(b.rule)).map(|r| r.name.clone()).unwrap_or_default()
    }

    fn report_fallback(&self, error: &StoreError, fallback: Fallback) {
        let total = self.fallbacks.fetch_add(1, Ordering::Relaxed) + 1;
        let now = nanos(self.origin.elapsed()).saturating_add(1);
        let last = self.last_warn.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= nanos(FALLBACK_WARN_EVERY);
        if due && self.last_warn.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            tracing::warn!(
                %error,
                fallback = ?fallback,
                fallbacks_total = total,
                "rate-limit store unreachable; applying the fallback"
            );
        }
    }
}
